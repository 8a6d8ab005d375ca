"""Contact owners: who carries a lead's next steps, whoever holds the thread today.

A contact reaching a stage that names a team (Stage.owner_team: by default Qualified, when a Sales team exists)
is handed to that team's next agent, round robin, with an event in the thread and a notification to the owner.
An owner deactivated hands their contacts back the same way (a periodic job, within a minute); a manager may
set or clear an owner by hand.
"""

from __future__ import annotations

from datetime import datetime

from django.contrib.auth.models import User
from django.db import transaction
from django.db.models import Max
from django.utils import timezone

from config.errors import ValidationError
from contacts.models import Contact
from conversations.models import AgentProfile, Team
from conversations.notifications import notification_owner_send
from conversations.selectors import agent_can_see
from conversations.services import conversation_get_or_create, event_append
from events.services import event_publish
from lifecycle.models import ContactOwner
from lifecycle.targets import targets_on_owner


def _name(user: User | None) -> str:
    return str(user.get_full_name() or user.get_username()) if user is not None else "nobody"


def contact_owner_set(
    *, contact: Contact, owner: User | None, by: User | None, reason: str, team: Team | None = None
) -> ContactOwner:
    """`owner` owns `contact` from now (None: nobody does); the thread says who, why and since when."""
    if owner is not None and (not owner.is_active or not AgentProfile.objects.filter(user=owner).exists()):
        raise ValidationError(f"{_name(owner)} is not an active agent and cannot own customers.")
    now = timezone.now()
    with transaction.atomic():
        row = ContactOwner.objects.select_for_update().filter(contact=contact).first()
        previous = row.owner if row is not None else None
        if row is not None and row.owner_id == (owner.pk if owner else None):
            return row
        row = row or ContactOwner(contact=contact)
        row.owner, row.team, row.since, row.reason = owner, team or row.team, now, reason[:300]
        row.save()
        conversation = conversation_get_or_create(contact=contact)
        text = (
            f"{contact.display_name} is now owned by {_name(owner)}"
            + (f" ({team.name})" if team is not None and owner is not None else "")
            + (f", after {_name(previous)}" if previous is not None else "")
            + f": {reason}"
        )
        entry = event_append(
            conversation=conversation,
            event_type="contact.owner_changed",
            body=text,
            by=by,
            data={"owner": owner.pk if owner else None, "previous": previous.pk if previous else None},
        )
        event_publish(
            type="contact.owner_changed",
            conversation_id=conversation.pk,
            contact_id=contact.pk,
            payload={
                "owner": owner.pk if owner else None,
                "previous_owner": previous.pk if previous else None,
                "team": row.team_id,
                "by": by.pk if by else None,
                "reason": reason[:300],
            },
            thread_locked=True,
        )
        targets_on_owner(conversation=conversation, owner=owner, at=now)
        if owner is not None and (by is None or by.pk != owner.pk) and agent_can_see(owner, conversation):
            notification_owner_send(entry=entry, owner=owner, by=by)
    return row


def contact_owner_hand(*, contact: Contact, team: Team, by: User | None, reason: str) -> ContactOwner:
    """The team's next agent owns `contact`, round robin: whoever was handed a customer longest ago (or never),
    passing over deactivated agents and those who are away."""
    with transaction.atomic():
        # The lock on the candidates' profiles makes two hand-offs at once take turns, as thread assignment does.
        candidates = list(
            AgentProfile.objects.select_for_update(of=("self",))
            .select_related("user")
            .filter(teams=team, user__is_active=True)
            .order_by("pk")
        )
        # An agent who chose "away" is passed over while anyone else of the team is not (a lead should not wait
        # for someone on leave); if the whole team is away, the turn goes on as usual.
        present = [c for c in candidates if c.availability != AgentProfile.AWAY]
        candidates = present or candidates
        if not candidates:
            return contact_owner_set(
                contact=contact,
                owner=None,
                by=by,
                reason=f"{reason}; {team.name} has no active agent",
                team=team,
            )
        last_handed: dict[int, datetime] = dict(
            ContactOwner.objects.filter(owner_id__in=[c.user_id for c in candidates], team=team)
            .values("owner_id")
            .annotate(last=Max("since"))
            .values_list("owner_id", "last")
        )
        never = datetime.min.replace(tzinfo=timezone.get_current_timezone())
        chosen = min(candidates, key=lambda c: (last_handed.get(c.user_id, never), c.pk))
        return contact_owner_set(
            contact=contact,
            owner=chosen.user,
            by=by,
            reason=f"{reason} (round robin in {team.name})",
            team=team,
        )


def contact_owner_on_stage(*, contact: Contact, stage_name: str, team: Team | None) -> None:
    """A contact reached a stage: handed to its team unless an active owner already has them."""
    if team is None:
        return
    current = ContactOwner.objects.filter(contact=contact).select_related("owner").first()
    if current is not None and current.owner is not None and current.owner.is_active:
        return
    contact_owner_hand(contact=contact, team=team, by=None, reason=f"reached {stage_name}")


def owners_hand_back_departed(*, limit: int = 200) -> int:
    """Contacts whose owner was deactivated go to the next agent of the same team, each with an event."""
    orphaned = list(
        ContactOwner.objects.filter(owner__is_active=False).select_related("owner", "team", "contact")[:limit]
    )
    for row in orphaned:
        reason = f"{_name(row.owner)} was deactivated"
        if row.team is not None:
            contact_owner_hand(contact=row.contact, team=row.team, by=None, reason=reason)
        else:
            contact_owner_set(contact=row.contact, owner=None, by=None, reason=reason)
    return len(orphaned)

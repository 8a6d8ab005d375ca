"""Who owns a thread: agents' availability, automatic round-robin assignment, handover and deactivation.

Round-robin locks the candidate agents' profile rows (in id order) before counting their open threads, so
two threads assigned at the same moment cannot both take an agent's last free place.
"""

from __future__ import annotations

from datetime import timedelta

from django.conf import settings
from django.contrib.auth.models import User
from django.db import transaction
from django.db.models import Count, Q
from django.utils import timezone

from config.errors import PermissionDenied, ValidationError
from conversations.models import AgentProfile, Conversation, Episode, Inbox, Team
from conversations.selectors import agent_is_admin
from conversations.services import (
    _name,
    assignment_publish,
    conversation_assign,
    event_append,
    inbox_links_sync,
)


def agent_availability_set(*, profile: AgentProfile, availability: str) -> AgentProfile:
    """Online, away or offline, set by the agent or following their sockets (consumers.AgentConsumer)."""
    if availability not in dict(AgentProfile.AVAILABILITY_CHOICES):
        raise ValidationError("Availability is online, away or offline.")
    changed = AgentProfile.objects.filter(pk=profile.pk).exclude(availability=availability)
    if changed.update(availability=availability, availability_changed_at=timezone.now()):
        profile.refresh_from_db(fields=["availability", "availability_changed_at"])
        if availability == AgentProfile.ONLINE:
            queue_assign_waiting(teams=list(profile.teams.filter(auto_assign=True)))
    return profile


def agent_presence_connected(*, user_id: int) -> None:
    """An agent's first socket opened: offline becomes online (an agent who chose "away" stays away)."""
    profile = AgentProfile.objects.filter(user_id=user_id, availability=AgentProfile.OFFLINE).first()
    if profile is not None:
        agent_availability_set(profile=profile, availability=AgentProfile.ONLINE)


def agent_presence_gone(*, user_id: int) -> None:
    """An agent's last socket closed: they are offline (their threads go back to the queue after a while)."""
    profile = AgentProfile.objects.filter(user_id=user_id).exclude(availability=AgentProfile.OFFLINE).first()
    if profile is not None:
        agent_availability_set(profile=profile, availability=AgentProfile.OFFLINE)


def conversation_team_for(conversation: Conversation) -> Team | None:
    if conversation.team_id is not None:
        return conversation.team
    inbox = conversation.last_inbound_inbox
    return inbox.team if inbox is not None else None


def conversation_assign_team(
    *, conversation: Conversation, team: Team | None, by: User | None
) -> Conversation:
    """Hand the thread to a team's queue; the team must hold one of its inboxes, or its agents could not see it."""
    if (
        team is not None
        and not Inbox.objects.filter(team=team, conversation_links__conversation=conversation).exists()
    ):
        raise ValidationError(
            f"{team.name} holds none of this conversation's inboxes, so its agents could not see it."
        )
    with transaction.atomic():
        locked = Conversation.objects.select_for_update().get(pk=conversation.pk)
        if locked.team_id == (team.pk if team else None):
            return locked
        previous = locked.team_id
        locked.team = team
        locked.save(update_fields=["team"])
        who = _name(by) if by is not None else "The hub"
        event_append(
            conversation=locked,
            event_type="conversation.team_changed",
            body=f"{who} moved the conversation to {team.name}"
            if team
            else f"{who} took the conversation off its team",
            by=by,
            data={"from": previous, "to": team.pk if team else None},
        )
        assignment_publish(locked, previous_assignee=locked.assignee_id, by=by)
    conversation.refresh_from_db()
    return conversation


def conversation_autoassign(*, conversation: Conversation) -> User | None:
    """Give an open, unassigned thread to the next available agent of its team, round-robin, under their limit.

    Skips agents who are away or offline and agents at their limit of open threads; None when nobody can
    take it now (the thread waits in the team's queue). Runs inside the caller's transaction, if any.
    """
    with transaction.atomic():
        locked = (
            Conversation.objects.select_for_update(of=("self",))
            .select_related("team", "last_inbound_inbox__team")
            .get(pk=conversation.pk)
        )
        team = conversation_team_for(locked)
        if (
            team is None
            or not team.auto_assign
            or locked.assignee_id is not None
            or locked.status != Conversation.OPEN
            or locked.blocked_at is not None
        ):
            return None
        if locked.team_id is None:
            locked.team = team
            locked.save(update_fields=["team"])
        # The lock on every candidate's profile row serializes concurrent assignments to the same agents.
        candidates = list(
            AgentProfile.objects.select_for_update(of=("self",))
            .select_related("user")
            .filter(teams=team, availability=AgentProfile.ONLINE, user__is_active=True)
            .order_by("pk")
        )
        if not candidates:
            return None
        open_counts = dict(
            Conversation.objects.filter(
                assignee_id__in=[c.user_id for c in candidates], status=Conversation.OPEN
            )
            .values_list("assignee_id")
            .annotate(n=Count("id"))
            .values_list("assignee_id", "n")
        )
        free = [c for c in candidates if open_counts.get(c.user_id, 0) < c.max_open]
        if not free:
            return None
        never = timezone.now() - timedelta(days=365 * 100)
        chosen = min(free, key=lambda c: (c.last_assigned_at or never, c.pk))
        chosen.last_assigned_at = timezone.now()
        chosen.save(update_fields=["last_assigned_at"])
        conversation_assign(conversation=locked, assignee=chosen.user, by=None, reason="round-robin")
    conversation.refresh_from_db()
    return chosen.user


def conversation_route_inbound(*, conversation: Conversation) -> None:
    """After a customer's message: the thread goes to the next agent of its team, if the team assigns by itself.

    One read by primary key decides; only a thread that may be assigned takes the locks.
    """
    wants_an_agent = Conversation.objects.filter(
        Q(team__auto_assign=True) | Q(team__isnull=True, last_inbound_inbox__team__auto_assign=True),
        pk=conversation.pk,
        assignee__isnull=True,
        status=Conversation.OPEN,
        blocked_at__isnull=True,
    ).exists()
    if wants_an_agent:
        conversation_autoassign(conversation=conversation)


def queue_assign_waiting(*, teams: list[Team], limit: int = 50) -> int:
    """Offer the unassigned open threads of these teams' queues to their available agents, oldest first."""
    assigned = 0
    for team in teams:
        waiting = (
            Conversation.objects.filter(
                status=Conversation.OPEN, assignee__isnull=True, blocked_at__isnull=True, inboxes__team=team
            )
            .distinct()
            .order_by("last_activity_at")
        )[:limit]
        for conversation in waiting:
            if conversation_autoassign(conversation=conversation) is None:
                break  # nobody has room: the rest wait too
            assigned += 1
    return assigned


def assignment_handover_absent(*, after_s: float | None = None) -> int:
    """Threads of agents away or offline for longer than `after_s` go back to their team's queue (beat runs it)."""
    wait = settings.ASSIGNMENT_HANDOVER_AFTER_S if after_s is None else after_s
    cutoff = timezone.now() - timedelta(seconds=wait)
    absent = (
        AgentProfile.objects.exclude(availability=AgentProfile.ONLINE)
        .filter(availability_changed_at__lte=cutoff, user__assigned_conversations__status=Conversation.OPEN)
        .distinct()
    )
    handed = 0
    for profile in absent.select_related("user"):
        minutes = max(1, round(wait / 60))
        handed += _hand_back(
            user=profile.user,
            by=None,
            reason=f"{_name(profile.user)} has been {profile.availability} for more than {minutes} min",
        )
    return handed


def agent_deactivate(*, agent: User, by: User) -> User:
    """An admin deactivates an agent: they can no longer log in, and their threads go back to their teams' queue."""
    if not agent_is_admin(by):
        raise PermissionDenied("Only admins deactivate agents.")
    if agent.pk == by.pk:
        raise ValidationError("You cannot deactivate yourself; ask another admin.")
    with transaction.atomic():
        User.objects.filter(pk=agent.pk).update(is_active=False)
        AgentProfile.objects.filter(user=agent).update(
            availability=AgentProfile.OFFLINE, availability_changed_at=timezone.now()
        )
        agent.refresh_from_db()
        _hand_back(user=agent, by=by, reason=f"{_name(by)} deactivated {_name(agent)}")
    return agent


def agent_reactivate(*, agent: User, by: User) -> User:
    if not agent_is_admin(by):
        raise PermissionDenied("Only admins reactivate agents.")
    User.objects.filter(pk=agent.pk).update(is_active=True)
    agent.refresh_from_db()
    return agent


def _hand_back(*, user: User, by: User | None, reason: str) -> int:
    """Unassign the agent's open threads (each with an event), then offer them to their teams' agents."""
    ids = list(
        Conversation.objects.filter(assignee=user, status=Conversation.OPEN).values_list("pk", flat=True)
    )
    for pk in ids:
        with transaction.atomic():
            conversation = Conversation.objects.select_for_update().get(pk=pk)
            if conversation.assignee_id != user.pk:
                continue
            conversation.assignee = None
            conversation.save(update_fields=["assignee"])
            inbox_links_sync(conversation)
            Episode.objects.filter(conversation=conversation, resolved_at__isnull=True).update(assignee=None)
            team = conversation_team_for(conversation)
            queue = f"the {team.name} queue" if team else "the queue"
            event_append(
                conversation=conversation,
                event_type="conversation.assigned",
                body=f"The conversation went back to {queue} ({reason})",
                by=by,
                data={"from": user.pk, "to": None, "reason": reason},
            )
            assignment_publish(conversation, previous_assignee=user.pk, by=by)
        conversation_autoassign(conversation=conversation)
    return len(ids)

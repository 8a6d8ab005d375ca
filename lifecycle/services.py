"""Writes of the lifecycle: stage moves (by hand, by API, by rule), external touchpoints, stage edits, leaks.

Every move is a `StageChange` row (the reports read them) and an event in the lifetime thread saying who
moved the contact and why. Rules only ever move a contact forward along the main line; people may move
them anywhere.
"""

from __future__ import annotations

import json
import logging
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Any

from django.conf import settings
from django.contrib.auth.models import User
from django.core.mail import send_mail
from django.db import IntegrityError, transaction
from django.utils import timezone

from config.errors import Conflict, ValidationError
from contacts.models import Contact
from conversations import realtime
from conversations.models import Conversation, Entry, Inbox
from conversations.services import conversation_get_or_create, event_append
from events.services import event_publish
from lifecycle import defaults
from lifecycle.defaults import DEFAULT_STAGES
from lifecycle.models import ContactStage, Leak, LeakSettings, Stage, StageChange, Touchpoint
from lifecycle.selectors import LeakItem, leak_settings, leaks_current

logger = logging.getLogger("hub.lifecycle")

PAYLOAD_MAX_BYTES = 4096
FUTURE_SLACK = timedelta(minutes=5)
RULE_FIRST_INBOUND, RULE_PURCHASE, RULE_REPEAT_PURCHASE = "first_inbound", "purchase", "repeat_purchase"
RULE_MERGE = "merge"


def _who(user: User | None) -> str:
    return str(user.get_full_name() or user.get_username()) if user is not None else "The hub"


# --- stages ----------------------------------------------------------------------------------------
def stages_seed() -> None:
    """The default stages, for a hub whose table is empty (the data migration does it on a new database)."""
    if Stage.objects.exists():
        return
    Stage.objects.bulk_create(
        [
            Stage(key=key, name=name, position=n * 10, on_main_line=main)
            for n, (key, name, main) in enumerate(DEFAULT_STAGES)
        ],
        ignore_conflicts=True,
    )


def stage_create(*, key: str, name: str, position: int, on_main_line: bool) -> Stage:
    from django.utils.text import slugify

    slug = slugify(key or name).replace("-", "_")[:32]
    if not slug or not name.strip():
        raise ValidationError("A stage needs a name (and a key made of letters, digits and underscores).")
    if Stage.objects.filter(key=slug).exists():
        raise ValidationError(f"There is already a stage with the key {slug!r}.")
    return Stage.objects.create(
        key=slug, name=name.strip()[:64], position=position, on_main_line=on_main_line
    )


def stage_update(
    *, stage: Stage, name: str, position: int, on_main_line: bool, owner_team: Any = None
) -> Stage:
    """`owner_team`: contacts reaching the stage without an owner are handed to one of its agents (None: nobody)."""
    if not name.strip():
        raise ValidationError("A stage needs a name.")
    stage.name, stage.position, stage.on_main_line = name.strip()[:64], position, on_main_line
    stage.owner_team = owner_team
    stage.save(update_fields=["name", "position", "on_main_line", "owner_team"])
    return stage


def stage_delete(*, stage: Stage, by: User | None, move_to: Stage | None = None) -> int:
    """Delete a stage. Contacts still in it are refused with their count, unless `move_to` names the stage
    they move to (each move recorded and told in their thread). Returns how many contacts moved."""
    with transaction.atomic():
        holders = list(ContactStage.objects.select_for_update().filter(stage=stage).select_related("contact"))
        if holders and move_to is None:
            raise ValidationError(
                f"{len(holders)} contact{'s are' if len(holders) != 1 else ' is'} in {stage.name}: "
                "choose a stage to move them to, then delete it."
            )
        if move_to is not None and move_to.pk == stage.pk:
            raise ValidationError("Choose another stage to move the contacts to.")
        for holder in holders:
            assert move_to is not None
            stage_move(
                contact=holder.contact, stage=move_to, by=by, reason=f"the stage {stage.name} was deleted"
            )
        stage.delete()
    return len(holders)


def contact_stage_ensure(
    *, contact: Contact, at: datetime | None = None, channel: str = "", inbox: Inbox | None = None
) -> ContactStage:
    """The contact's stage row, created (stage-less, with the facts of the first contact) when first needed."""
    row, _ = ContactStage.objects.get_or_create(
        contact=contact,
        defaults={
            "first_contact_at": at or timezone.now(),
            "first_channel": channel,
            "first_inbox": inbox,
        },
    )
    return row


def stage_move(
    *,
    contact: Contact,
    stage: Stage,
    by: User | None,
    reason: str = "",
    rule: str = "",
    at: datetime | None = None,
) -> StageChange | None:
    """Move the contact to `stage`; None when nothing moved (already there, or a rule that would go back).

    A merged-away contact's move is the survivor's. The contact row is locked first, as contact_merge
    locks it, so a move and a merge of the same person take their turns instead of deadlocking.
    """
    from contacts.services import contact_surviving_locked

    at = at or timezone.now()
    with transaction.atomic():
        contact = contact_surviving_locked(contact)
        contact_stage_ensure(contact=contact, at=at, channel="" if rule else "manual")
        row = (
            ContactStage.objects.select_for_update(of=("self",))
            .select_related("stage", "furthest_stage")
            .get(contact=contact)
        )
        current = row.stage
        if current is not None and current.pk == stage.pk:
            return None
        if rule and not _forward(current, stage):
            return None
        if row.entered_at is not None and at < row.entered_at:
            at = row.entered_at  # a late-arriving fact never reorders the history
        StageChange.objects.filter(contact=contact, left_at__isnull=True).update(left_at=at)
        change = StageChange.objects.create(
            contact=contact, from_stage=current, to_stage=stage, at=at, by=by, rule=rule, reason=reason[:300]
        )
        row.stage, row.entered_at = stage, at
        if stage.on_main_line:
            row.furthest_stage = _further(row.furthest_stage, stage)
        row.save(update_fields=["stage", "entered_at", "furthest_stage"])
        text = f"{_who(by)} moved {contact.display_name} " + (
            f"from {current.name} to {stage.name}" if current else f"to {stage.name}"
        )
        conversation = conversation_get_or_create(contact=contact)
        event_append(
            conversation=conversation,
            event_type="contact.stage_changed",
            body=text + (f" ({reason})" if reason else ""),
            by=by,
            data={
                "from": current.key if current else None,
                "to": stage.key,
                "reason": reason,
                "rule": rule,
                "stage_change": change.pk,
            },
            created_at=at,
        )
        event_publish(
            type="stage.changed",
            conversation_id=conversation.pk,
            contact_id=contact.pk,
            payload={
                "stage": stage.key,
                "previous_stage": current.key if current else None,
                "by": by.pk if by is not None else None,
                "reason": reason or rule,
            },
            at=at,
            thread_locked=True,  # event_append has just locked the thread
            rows={"contact": contact},
        )
        if stage.owner_team_id is not None:
            from lifecycle.owners import contact_owner_on_stage

            contact_owner_on_stage(contact=contact, stage_name=stage.name, team=stage.owner_team)
    return change


def stage_merge(*, source: Contact, into: Contact, by: User | None, at: datetime) -> dict[str, Any]:
    """Two contacts became one (contact_merge, inside its transaction, contacts locked): one lifecycle,
    counted once.

    The merged-away contact's stage history joins the survivor's and its stage row goes, so the funnel
    never counts one person twice. The survivor keeps the earlier first contact and the furthest stage
    either reached; on the main line (or stage-less) it moves forward, never back, when the other was
    further along; a survivor marked lost or churned stays so. Returns what stage_unmerge needs, kept in
    the merge event.
    """
    row = (
        ContactStage.objects.select_for_update(of=("self",))
        .select_related("stage")
        .filter(contact=source)
        .first()
    )
    if row is None:
        return {}
    survivor = (
        ContactStage.objects.select_for_update(of=("self",))
        .select_related("stage", "furthest_stage")
        .filter(contact=into)
        .first()
    )
    undo: dict[str, Any] = {
        "row": _row_facts(row),
        "survivor_before": _row_facts(survivor) if survivor is not None else None,
        "open_change": StageChange.objects.filter(contact=source, left_at__isnull=True)
        .values_list("pk", flat=True)
        .first(),
        "changes": list(StageChange.objects.filter(contact=source).values_list("pk", flat=True)),
    }
    StageChange.objects.filter(pk__in=undo["changes"]).update(contact=into)
    if survivor is None:
        # The survivor never had a stage: it takes the other's as it stands (the stay goes on).
        row.contact = into
        row.save(update_fields=["contact"])
        return undo
    StageChange.objects.filter(pk=undo["open_change"]).update(left_at=at)
    if row.first_contact_at < survivor.first_contact_at:
        survivor.first_contact_at = row.first_contact_at
        survivor.first_channel, survivor.first_inbox_id = row.first_channel, row.first_inbox_id
    survivor.furthest_stage = _further(survivor.furthest_stage, row.furthest_stage)
    survivor.save(update_fields=["first_contact_at", "first_channel", "first_inbox", "furthest_stage"])
    stage = row.stage
    row.delete()
    on_the_line = survivor.stage is None or survivor.stage.on_main_line
    if stage is not None and stage.on_main_line and on_the_line and _forward(survivor.stage, stage):
        change = stage_move(
            contact=into,
            stage=stage,
            by=by,
            rule=RULE_MERGE,
            reason=f"merged with {source.display_name}, who was further along",
            at=at,
        )
        undo["merge_move"] = change.pk if change is not None else None
    return undo


def stage_unmerge(*, source: Contact, into: Contact, undo: dict[str, Any]) -> None:
    """Undo stage_merge (contact_unmerge, inside its transaction): each contact gets its own lifecycle back.

    The restored contact: its own history and its stage row as it was. The survivor: its own first contact,
    and, when the merge's forward move is still where it stands, the stage it had before. Each one's
    furthest stage is read again from its own history. A stage or inbox deleted since is left empty.
    """
    if not undo:
        return
    StageChange.objects.filter(pk__in=undo.get("changes", []), contact=into).update(contact=source)
    if undo.get("open_change"):
        StageChange.objects.filter(pk=undo["open_change"], contact=source).update(left_at=None)
    survivor = ContactStage.objects.select_for_update(of=("self",)).filter(contact=into).first()
    before = undo.get("survivor_before")
    if survivor is not None and before is None and not StageChange.objects.filter(contact=into).exists():
        # It had no stage of its own and made no move since: the row it took goes back.
        survivor.delete()
        survivor = None
    ContactStage.objects.update_or_create(contact=source, defaults=_row_values(undo["row"]))
    _furthest_from_history(source)
    if survivor is None:
        return
    if before is not None:
        values = _row_values(before)
        survivor.first_contact_at = values["first_contact_at"]
        survivor.first_channel, survivor.first_inbox_id = values["first_channel"], values["first_inbox_id"]
        move = StageChange.objects.filter(pk=undo.get("merge_move") or 0, contact=into, left_at__isnull=True)
        if move.exists():
            move.delete()
            last = (
                StageChange.objects.filter(contact=into).order_by("-at", "-id").values_list("pk", flat=True)
            )
            StageChange.objects.filter(pk__in=list(last[:1])).update(left_at=None)
            survivor.stage_id, survivor.entered_at = values["stage_id"], values["entered_at"]
        survivor.save(
            update_fields=["first_contact_at", "first_channel", "first_inbox", "stage", "entered_at"]
        )
    _furthest_from_history(into)


def _row_facts(row: ContactStage) -> dict[str, Any]:
    return {
        "stage": row.stage_id,
        "entered_at": row.entered_at.isoformat() if row.entered_at else None,
        "first_contact_at": row.first_contact_at.isoformat(),
        "first_channel": row.first_channel,
        "first_inbox": row.first_inbox_id,
    }


def _row_values(facts: dict[str, Any]) -> dict[str, Any]:
    """A stage row's fields from _row_facts, with a stage or inbox deleted since left empty."""
    stage = facts.get("stage")
    inbox = facts.get("first_inbox")
    return {
        "stage_id": stage if stage and Stage.objects.filter(pk=stage).exists() else None,
        "entered_at": datetime.fromisoformat(facts["entered_at"]) if facts.get("entered_at") else None,
        "first_contact_at": datetime.fromisoformat(facts["first_contact_at"]),
        "first_channel": facts.get("first_channel", ""),
        "first_inbox_id": inbox if inbox and Inbox.objects.filter(pk=inbox).exists() else None,
    }


def _furthest_from_history(contact: Contact) -> None:
    """The contact's furthest main-line stage, read from its own moves."""
    furthest = (
        Stage.objects.filter(
            on_main_line=True, pk__in=StageChange.objects.filter(contact=contact).values("to_stage")
        )
        .order_by("-position")
        .first()
    )
    ContactStage.objects.filter(contact=contact).update(furthest_stage=furthest)


def _further(one: Stage | None, other: Stage | None) -> Stage | None:
    """The further along the main line of two furthest stages (either may be missing)."""
    if one is None or (other is not None and other.position > one.position):
        return other
    return one


def _forward(current: Stage | None, target: Stage) -> bool:
    if current is None or not current.on_main_line:
        return True
    return target.on_main_line and target.position > current.position


def stage_on_customer_spoke(*, conversation: Conversation, entry: Entry) -> None:
    """A customer's message or call: their first contact is recorded, and a message makes a subscriber (or a
    contact with no stage yet) a lead. Called inside `entry_append`'s transaction, under the thread's lock."""
    row = (
        ContactStage.objects.filter(contact_id=conversation.contact_id)
        .values_list("stage__key", flat=True)
        .first()
    )
    if row is not None and row not in (None, defaults.SUBSCRIBER):
        return  # the common case, one indexed read: already past the first message
    contact = conversation.contact
    contact_stage_ensure(contact=contact, at=entry.created_at, channel=entry.channel, inbox=entry.inbox)
    lead = Stage.objects.filter(key=defaults.LEAD).first()
    conversing = entry.kind == Entry.MESSAGE and entry.data.get("keyword") not in ("stop", "start")
    if (
        lead is not None and conversing
    ):  # a call or an opt-out keyword is first contact; a message makes a lead
        stage_move(
            contact=contact,
            stage=lead,
            by=None,
            reason="first message from the customer",
            rule=RULE_FIRST_INBOUND,
            at=entry.created_at,
        )


# --- touchpoints -----------------------------------------------------------------------------------
@dataclass(frozen=True)
class TouchpointResult:
    touchpoint: Touchpoint
    created: bool  # False: the same client key was posted before; this is the first one


def touchpoint_record(
    *,
    contact: Contact,
    type: str,
    client_key: str,
    occurred_at: datetime | None = None,
    payload: dict[str, Any] | None = None,
    by: User | None = None,
) -> TouchpointResult:
    """Record what happened elsewhere as an event in the thread, once per client key; a purchase moves the
    contact to customer, a second one to loyal."""
    now = timezone.now()
    occurred_at = occurred_at or now
    payload = payload or {}
    if occurred_at > now + FUTURE_SLACK:
        raise ValidationError(
            "The event's time is in the future; send when it happened (ISO 8601, with zone)."
        )
    if len(json.dumps(payload, ensure_ascii=False).encode()) > PAYLOAD_MAX_BYTES:
        raise ValidationError(
            f"The payload is larger than {PAYLOAD_MAX_BYTES} bytes; keep it to a few identifying fields."
        )
    existing = Touchpoint.objects.filter(client_key=client_key).first()
    if existing is not None:
        return _same_touchpoint(existing, contact)
    try:
        with transaction.atomic():
            touchpoint = Touchpoint.objects.create(
                contact=contact,
                type=type,
                occurred_at=occurred_at,
                payload=payload,
                client_key=client_key,
                created_by=by,
            )
            contact_stage_ensure(contact=contact, at=occurred_at, channel="api")
            summary = ", ".join(f"{key}: {value}" for key, value in list(payload.items())[:4])
            label = type.replace("_", " ").replace("-", " ").capitalize()
            conversation = conversation_get_or_create(contact=contact)
            touchpoint.entry = event_append(
                conversation=conversation,
                event_type="touchpoint.recorded",
                body=f"{label} (posted by {_who(by)})" + (f": {summary}"[:500] if summary else ""),
                by=by,
                data={
                    "type": type,
                    "payload": payload,
                    "client_key": client_key,
                    "touchpoint": touchpoint.pk,
                },
                created_at=occurred_at,
            )
            touchpoint.save(update_fields=["entry"])
            event_publish(
                type="touchpoint.recorded",
                conversation_id=conversation.pk,
                contact_id=contact.pk,
                payload={
                    "touchpoint": touchpoint.pk,
                    "touchpoint_type": type,
                    "occurred_at": occurred_at.isoformat(),
                },
                at=occurred_at,
                thread_locked=True,
                rows={"contact": contact, "touchpoint": touchpoint},
            )
            if type == "purchase":
                _purchase_rule(contact, touchpoint)
    except IntegrityError:
        # The same key posted twice at once: the other request's row won.
        return _same_touchpoint(Touchpoint.objects.get(client_key=client_key), contact)
    return TouchpointResult(touchpoint, created=True)


def _same_touchpoint(existing: Touchpoint, contact: Contact) -> TouchpointResult:
    if existing.contact_id != contact.pk:
        raise Conflict(
            "This client_key was already used for another contact's event; use a new key for a new event."
        )
    return TouchpointResult(existing, created=False)


def _purchase_rule(contact: Contact, touchpoint: Touchpoint) -> None:
    purchases = Touchpoint.objects.filter(contact=contact, type="purchase").count()
    key, rule, reason = (
        (defaults.CUSTOMER, RULE_PURCHASE, "a purchase")
        if purchases == 1
        else (defaults.LOYAL, RULE_REPEAT_PURCHASE, f"purchase number {purchases}")
    )
    stage = Stage.objects.filter(key=key).first()
    if stage is not None:
        stage_move(contact=contact, stage=stage, by=None, reason=reason, rule=rule, at=touchpoint.occurred_at)


# --- leaks -----------------------------------------------------------------------------------------
def leak_settings_update(
    *, callback_minutes: int, stale_lead_days: int, customer_followup_days: int, digest_hour_utc: int
) -> LeakSettings:
    if min(callback_minutes, stale_lead_days, customer_followup_days) < 1:
        raise ValidationError("Each threshold is at least 1.")
    if not 0 <= digest_hour_utc <= 23:
        raise ValidationError("The digest hour is between 0 and 23 (UTC).")
    row = leak_settings()
    row.callback_minutes, row.stale_lead_days = callback_minutes, stale_lead_days
    row.customer_followup_days, row.digest_hour_utc = customer_followup_days, digest_hour_utc
    row.save()
    return row


def inbox_target_set(*, inbox: Inbox, minutes: int) -> Inbox:
    if minutes < 1:
        raise ValidationError("A response target is at least 1 minute.")
    inbox.target_response_minutes = minutes
    inbox.save(update_fields=["target_response_minutes"])
    return inbox


@dataclass(frozen=True)
class LeakRun:
    found: int
    new: int
    resolved: int


def leaks_detect(*, now: datetime | None = None) -> LeakRun:
    """Remember the leaks found now; alert each new one, after commit, to its agent (or its team)."""
    now = now or timezone.now()
    current = leaks_current(now=now)
    found = {(leak.conversation_id, leak.kind): leak for leak in current}
    new = resolved = 0
    with transaction.atomic():
        still_open: set[tuple[int, str]] = set()
        plugged: list[Leak] = []
        for row in Leak.objects.select_for_update().filter(resolved_at__isnull=True):
            leak = found.get((row.conversation_id, row.kind))
            if leak is not None and leak.since == row.since:
                still_open.add((row.conversation_id, row.kind))
                continue
            row.resolved_at = now  # answered, or a new wait began: this one is over
            row.save(update_fields=["resolved_at"])
            plugged.append(row)
            resolved += 1
        detected = [leak for key, leak in found.items() if key not in still_open]
        contacts = dict(
            Conversation.objects.filter(
                pk__in={row.conversation_id for row in plugged} | {leak.conversation_id for leak in detected}
            ).values_list("pk", "contact_id")
        )
        plugged_where = {
            pk: (assignee_id, inbox_id)
            for pk, assignee_id, inbox_id in Conversation.objects.filter(
                pk__in={row.conversation_id for row in plugged}
            ).values_list("pk", "assignee_id", "last_inbound_inbox_id")
        }
        for row in plugged:
            event_publish(
                type="leak.plugged",
                conversation_id=row.conversation_id,
                contact_id=contacts.get(row.conversation_id),
                payload={"leak": row.kind},
                at=now,
            )
            # The alert leaves the trays it may be in: its agent's, its team's, the managers'.
            assignee_id, inbox_id = plugged_where.get(row.conversation_id, (None, None))
            groups = [realtime.GROUP_EVERYTHING]
            if assignee_id is not None:
                groups.append(realtime.group_agent(assignee_id))
            if inbox_id is not None:
                groups.append(realtime.group_inbox(inbox_id))
            realtime.alert_send(
                groups=groups,
                frame={
                    "seq": 0,
                    "type": "leak.plugged",
                    "conversation": row.conversation_id,
                    "alert": {"kind": row.kind},
                },
            )
        for leak in detected:
            Leak.objects.create(
                conversation_id=leak.conversation_id, kind=leak.kind, since=leak.since, detected_at=now
            )
            event_publish(
                type="leak.detected",
                conversation_id=leak.conversation_id,
                contact_id=contacts.get(leak.conversation_id),
                payload={"leak": leak.kind, "since": leak.since.isoformat()},
                at=now,
            )
            new += 1
            realtime.alert_send(groups=_alert_groups(leak), frame=leak.frame())
    return LeakRun(found=len(current), new=new, resolved=resolved)


def _alert_groups(leak: LeakItem) -> list[str]:
    if leak.assignee_id is not None:
        return [realtime.group_agent(leak.assignee_id)]
    if leak.inbox_id is not None:
        return [realtime.group_inbox(leak.inbox_id)]
    return [realtime.GROUP_EVERYTHING]


def leaks_digest_send(*, now: datetime | None = None, force: bool = False) -> bool:
    """The daily digest to managers and admins, once a day after the configured hour. Returns whether sent."""
    now = now or timezone.now()
    row = leak_settings()
    today = now.date()
    if not force and now.hour < row.digest_hour_utc:
        return False
    claimed = (
        LeakSettings.objects.filter(pk=row.pk).exclude(digest_sent_on=today).update(digest_sent_on=today)
    )
    if not claimed and not force:
        return False
    recipients = sorted(
        set(
            User.objects.filter(is_active=True, agent__role__in=("manager", "admin"))
            .exclude(email="")
            .values_list("email", flat=True)
        )
    )
    if not recipients:
        return False
    leaks = leaks_current(now=now)
    counts: dict[str, int] = {}
    for leak in leaks:
        counts[leak.kind_label] = counts.get(leak.kind_label, 0) + 1
    base = settings.PUBLIC_BASE_URL
    lines = [f"{len(leaks)} contact{'s' if len(leaks) != 1 else ''} falling through the funnel today."]
    lines += [f"  {label}: {n}" for label, n in sorted(counts.items())]
    lines.append("")
    for leak in leaks[:100]:
        lines.append(
            f"- {leak.contact_name}: {leak.reason} ({leak.age_text}) {base}/inbox/{leak.conversation_id}/"
        )
    if len(leaks) > 100:
        lines.append(f"... and {len(leaks) - 100} more: {base}/reports/leaks/")
    lines.append("")
    lines.append(f"The live list: {base}/reports/leaks/")
    subject = f"Funnel leaks: {len(leaks)} contact{'s' if len(leaks) != 1 else ''} to follow up"
    body = "\n".join(lines)
    if settings.EMAIL_SANDBOX:
        from channels_adapters.sandbox import sandbox_record

        sandbox_record(
            channel="email",
            prefix="digest-",
            record={"to": ", ".join(recipients), "subject": subject, "body": body},
        )
    else:
        send_mail(subject, body, settings.DEFAULT_FROM_EMAIL, recipients)
    return True

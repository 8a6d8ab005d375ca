"""Sequences at work: a customer enrolled, each step taken when due, and the customer leaving.

At most once per step: the periodic job (`sequence_steps_run_due`) claims one due enrolment at a time with SKIP
LOCKED, inside the transaction that takes its step, records it (`StepRun`, unique per enrolment and step) and
moves the enrolment on. A worker that dies mid-step rolls all of it back, so the step is still due and nothing
went out (a message is only queued in that transaction; the outbound pipeline delivers it after commit, once).

Lock order: the job holds the enrolment and then takes the thread without waiting (SKIP LOCKED: a thread busy
recording the customer's message is left for the next round); the subscribers hold the thread (their
publisher's) and then the enrolments. So a reply and a step never deadlock, and a reply that lands first ends
the enrolment before its step can go out.
"""

from __future__ import annotations

import logging
from datetime import datetime
from typing import Any

from django.contrib.auth.models import User
from django.db import IntegrityError, transaction
from django.db.models import Count, Q
from django.utils import timezone

from channels_adapters.outbound import recipient_for, reply_default_channel, reply_default_inbox
from channels_adapters.whatsapp_templates import hub_message_send
from config.enqueue import enqueue_on_commit
from config.errors import HubError, ValidationError
from contacts.models import Contact
from contacts.services import contact_surviving
from conversations.canned import canned_render
from conversations.models import Conversation, Entry, Inbox
from conversations.notifications import notifications_for_mentions
from conversations.selectors import agent_can_see
from conversations.services import conversation_get_or_create, entry_append, event_append
from events.services import event_publish
from lifecycle.models import ContactOwner
from sequences.models import Enrollment, Sequence, StepRun
from sequences.steps import step_describe, steps_validate
from sequences.timing import contact_zone, quiet_hours_shift, wait_until

logger = logging.getLogger("hub.sequences")


# --- managing sequences --------------------------------------------------------------------------------
def sequence_save(
    *,
    by: User | None,
    name: str,
    steps: Any,
    description: str = "",
    enabled: bool = True,
    exit_on_stage_change: bool = True,
    inbox: Inbox | None = None,
    sequence: Sequence | None = None,
) -> Sequence:
    """Create (or, given `sequence`, change) a sequence, checked whole first. Changing a running sequence never
    re-sends a step: each enrolment goes on from the step number it reached, and a step it took is never taken
    again."""
    name = " ".join(str(name or "").split())
    if not name or len(name) > 200:
        raise ValidationError("A sequence needs a name of 1 to 200 characters.")
    clean = steps_validate(steps)
    clash = Sequence.objects.filter(name__iexact=name).exclude(pk=sequence.pk if sequence else 0).exists()
    if clash:
        raise ValidationError(f"A sequence named “{name}” exists already.")
    if inbox is not None and inbox.kind != Inbox.PHONE and inbox.kind != Inbox.EMAIL:
        raise ValidationError("A sequence sends from a phone number's or an email address's inbox.")
    sequence = sequence or Sequence(created_by=by)
    sequence.name, sequence.description, sequence.steps = name, str(description or "").strip(), clean
    sequence.enabled, sequence.exit_on_stage_change, sequence.inbox = enabled, exit_on_stage_change, inbox
    sequence.save()
    return sequence


def sequences_ready_made(*, by: User | None) -> list[Sequence]:
    """Add the ready-made sequences (sequences/defaults.py) that no sequence's name has taken yet."""
    from sequences.defaults import READY_MADE
    from sequences.steps import steps_parse

    taken = {name.casefold() for name in Sequence.objects.values_list("name", flat=True)}
    return [
        sequence_save(
            by=by,
            name=ready["name"],
            description=ready["description"],
            steps=steps_parse(ready["steps"]),
        )
        for ready in READY_MADE
        if ready["name"].casefold() not in taken
    ]


def sequence_report(*, sequence: Sequence) -> dict[str, Any]:
    """How many are in it now, finished, and left (by reason)."""
    counts = Enrollment.objects.filter(sequence=sequence).aggregate(
        enrolled=Count("pk"),
        active=Count("pk", filter=Q(state=Enrollment.ACTIVE)),
        completed=Count("pk", filter=Q(state=Enrollment.COMPLETED)),
        failed=Count("pk", filter=Q(state=Enrollment.FAILED)),
    )
    left = dict(
        Enrollment.objects.filter(sequence=sequence, state=Enrollment.EXITED)
        .values_list("exit_reason")
        .annotate(n=Count("pk"))
        .values_list("exit_reason", "n")
    )
    return {**counts, "left": left}


# --- enrolling ---------------------------------------------------------------------------------------
SOURCES = {"api": "The API", "agent": "An agent"}


def _who(by: User | None, source: str, source_label: str) -> str:
    if by is not None:
        return by.get_full_name() or by.get_username()
    return source_label or SOURCES.get(source, "The hub")


def sequence_enroll(
    *, sequence: Sequence, contact: Contact, by: User | None, source: str, source_label: str = ""
) -> Enrollment:
    """Enrol the customer (the survivor, if merged away): their first step is due now (within quiet hours).
    Once per sequence at a time: a customer already in it is refused with the reason."""
    if not sequence.enabled:
        raise ValidationError(f"The sequence “{sequence.name}” is switched off.")
    contact = contact_surviving(contact)
    with transaction.atomic():
        conversation = conversation_get_or_create(contact=contact)
        try:
            with transaction.atomic():
                enrollment = Enrollment.objects.create(
                    sequence=sequence,
                    contact=contact,
                    source=source,
                    enrolled_by=by,
                    next_run_at=timezone.now(),
                )
        except IntegrityError:
            raise ValidationError(
                f"{contact.display_name} is already in the sequence “{sequence.name}”."
            ) from None
        event_append(
            conversation=conversation,
            event_type="sequence.enrolled",
            body=f"{_who(by, source, source_label)} enrolled {contact.display_name} in the sequence “{sequence.name}” "
            f"({len(sequence.steps)} step{'s' if len(sequence.steps) != 1 else ''})",
            by=by,
            data={"sequence": sequence.pk, "enrollment": enrollment.pk, "source": source},
        )
        event_publish(
            type="sequence.enrolled",
            conversation_id=conversation.pk,
            contact_id=contact.pk,
            payload={
                "sequence_id": sequence.pk,
                "sequence_name": sequence.name,
                "enrollment": enrollment.pk,
                "source": source,
                "by": by.pk if by is not None else None,
            },
            thread_locked=True,
        )
        from sequences import tasks

        enqueue_on_commit(tasks.run_due_sequence_steps)  # the first step need not wait for the next round
    return enrollment


def enrollment_remove(*, enrollment: Enrollment, by: User) -> Enrollment:
    """An agent takes the customer out of the sequence."""
    with transaction.atomic():
        locked = (
            Enrollment.objects.select_for_update().select_related("sequence", "contact").get(pk=enrollment.pk)
        )
        if locked.state != Enrollment.ACTIVE:
            raise ValidationError("This customer is no longer in the sequence.")
        conversation = conversation_get_or_create(contact=contact_surviving(locked.contact))
        enrollment_exit(enrollment=locked, reason="removed", conversation=conversation, by=by)
    return locked


def enrollment_exit(
    *,
    enrollment: Enrollment,
    reason: str,
    conversation: Conversation,
    by: User | None = None,
    detail: str = "",
    at: datetime | None = None,
) -> None:
    """End an enrolment (the caller holds its row), with the reason in the thread and on the stream."""
    enrollment.state = {"completed": Enrollment.COMPLETED, "step_failed": Enrollment.FAILED}.get(
        reason, Enrollment.EXITED
    )
    enrollment.exit_reason, enrollment.exit_detail = reason, detail
    enrollment.finished_at, enrollment.next_run_at = at or timezone.now(), None
    enrollment.save(update_fields=["state", "exit_reason", "exit_detail", "finished_at", "next_run_at"])
    sequence = enrollment.sequence
    total = len(sequence.steps)
    if reason == "completed":
        body = f"Finished the sequence “{sequence.name}”"
    else:
        where = f"after step {enrollment.step} of {total}" if enrollment.step else "before its first step"
        body = f"Left the sequence “{sequence.name}” {where}: {enrollment.exit_reason_text}"
        if detail:
            body += f" ({detail})"
    event_append(
        conversation=conversation,
        event_type="sequence.exited",
        body=body,
        by=by,
        data={"sequence": sequence.pk, "enrollment": enrollment.pk, "reason": reason},
    )
    event_publish(
        type="sequence.exited",
        conversation_id=conversation.pk,
        contact_id=conversation.contact_id,
        payload={
            "sequence_id": sequence.pk,
            "enrollment": enrollment.pk,
            "reason": reason,
            "step": enrollment.step,
            "by": by.pk if by is not None else None,
        },
        thread_locked=True,
    )


def enrollments_exit_for(
    *, contact_id: int, conversation: Conversation, reason: str, only_stage_sensitive: bool = False
) -> int:
    """Inside the publisher's transaction (it holds the thread): every active enrolment of the customer ends."""
    active = Enrollment.objects.select_for_update(of=("self",)).select_related("sequence")
    active = active.filter(contact_id=contact_id, state=Enrollment.ACTIVE).order_by("pk")
    if only_stage_sensitive:
        active = active.filter(sequence__exit_on_stage_change=True)
    ended = 0
    for enrollment in active:
        enrollment_exit(enrollment=enrollment, reason=reason, conversation=conversation)
        ended += 1
    return ended


def enrollments_merge(*, source: Contact, into: Contact, conversation: Conversation) -> None:
    """Two customers are one: the merged one's enrolments move to the survivor, except where the survivor is in
    the same sequence already (that one goes on; the merged one's ends, `merged`)."""
    survivor_in = set(
        Enrollment.objects.filter(contact=into, state=Enrollment.ACTIVE).values_list("sequence_id", flat=True)
    )
    moving = Enrollment.objects.select_for_update(of=("self",)).select_related("sequence")
    for enrollment in moving.filter(contact=source, state=Enrollment.ACTIVE).order_by("pk"):
        if enrollment.sequence_id in survivor_in:
            enrollment_exit(enrollment=enrollment, reason="merged", conversation=conversation)
    Enrollment.objects.filter(contact=source).update(contact=into)


# --- taking steps ------------------------------------------------------------------------------------
def sequence_steps_run_due(*, now: datetime | None = None, limit: int = 200) -> int:
    """Take every due step (the periodic job, and a nudge after an enrolment); returns how many were taken.

    One enrolment per transaction, claimed with SKIP LOCKED: two workers never take the same one, and one whose
    step fails (or whose thread is busy) holds back nobody else."""
    busy: set[int] = set()
    taken = 0
    while taken + len(busy) < limit:
        at = now or timezone.now()
        enrollment: Enrollment | None = None
        try:
            with transaction.atomic():
                enrollment = (
                    Enrollment.objects.select_for_update(skip_locked=True, of=("self",))
                    .select_related("sequence", "contact")
                    .filter(state=Enrollment.ACTIVE, next_run_at__lte=at)
                    .exclude(pk__in=busy)
                    .order_by("next_run_at", "id")
                    .first()
                )
                if enrollment is None:
                    break
                if step_take(enrollment=enrollment, now=at):
                    taken += 1
                else:
                    busy.add(enrollment.pk)
        except Exception:
            # A bug, not a channel's refusal (those end the enrolment with the reason): the step stays due and
            # is tried again next round; the others go on.
            logger.exception("Sequence step of enrolment %s failed", enrollment.pk if enrollment else None)
            if enrollment is None:
                break
            busy.add(enrollment.pk)
    return taken


def step_take(*, enrollment: Enrollment, now: datetime) -> bool:
    """Take the enrolment's due step (the caller holds its row); False when its thread is busy right now."""
    contact = contact_surviving(enrollment.contact)
    conversation = conversation_get_or_create(contact=contact)
    if Conversation.objects.select_for_update(skip_locked=True).filter(pk=conversation.pk).first() is None:
        return False  # the customer's message is being recorded: it may end this enrolment; next round
    sequence = enrollment.sequence
    steps = sequence.steps
    if not sequence.enabled:
        enrollment_exit(enrollment=enrollment, reason="disabled", conversation=conversation, at=now)
        return True
    if enrollment.step >= len(steps):  # the sequence was shortened under it
        enrollment_exit(enrollment=enrollment, reason="completed", conversation=conversation, at=now)
        return True
    index, step = enrollment.step, steps[enrollment.step]
    if StepRun.objects.filter(enrollment=enrollment, step=index).exists():
        return _advance(enrollment, conversation, now, waiting=False)  # taken already: never twice
    inbox = reply_default_inbox(conversation) or sequence.inbox
    kind = step["type"]
    entry: Entry | None = None
    channel = ""
    if kind == "message":
        morning = quiet_hours_shift(now, contact_zone(contact, inbox))
        if morning > now:
            enrollment.next_run_at = morning  # night where the customer is: their morning
            enrollment.save(update_fields=["next_run_at"])
            return True
        channel = step.get("channel") or reply_default_channel(conversation)
        identity = recipient_for(conversation) if channel in (Entry.SMS, Entry.WHATSAPP) else None
        if identity is not None and identity.opted_out_at is not None:
            enrollment_exit(enrollment=enrollment, reason="opted_out", conversation=conversation, at=now)
            return True
        body = canned_render(text=str(step["text"]), contact=contact, agent=None)
        try:
            with transaction.atomic():
                entry = hub_message_send(
                    conversation=conversation,
                    body=body,
                    author=None,  # the hub: never an agent's first response, the customer still waits
                    purpose="sequence",
                    channel=channel,
                    inbox=inbox,
                )
        except HubError as error:
            StepRun.objects.create(
                enrollment=enrollment,
                step=index,
                step_type=kind,
                outcome=StepRun.FAILED,
                detail=error.message,
            )
            enrollment_exit(
                enrollment=enrollment,
                reason="step_failed",
                conversation=conversation,
                detail=f"step {index + 1}: {error.message}",
                at=now,
            )
            return True
        done = f"sent a message on {entry.channel}" + (" with a template" if "template" in entry.data else "")
        channel = entry.channel
    elif kind == "wait":
        due = wait_until(
            start=now, days=int(step["days"]), business_days=bool(step.get("business_days")), inbox=inbox
        )
        due = quiet_hours_shift(due, contact_zone(contact, inbox))
        zone = contact_zone(contact, inbox)
        done = f"{step_describe(step)}, until {due.astimezone(zone):%a %d %b %H:%M} ({zone.key})"
        enrollment.next_run_at = due
    else:
        done = _task_create(step=step, contact=contact, conversation=conversation, sequence=sequence)
    StepRun.objects.create(
        enrollment=enrollment,
        step=index,
        step_type=kind,
        outcome=StepRun.SENT if entry is not None else StepRun.DONE,
        entry_id=entry.pk if entry is not None else None,
        detail=done,
    )
    event_append(
        conversation=conversation,
        event_type="sequence.step_sent",
        body=f"Sequence “{sequence.name}”, step {index + 1} of {len(steps)}: {done}",
        data={
            "sequence": sequence.pk,
            "enrollment": enrollment.pk,
            "step": index,
            "entry": entry and entry.pk,
        },
    )
    event_publish(
        type="sequence.step_sent",
        conversation_id=conversation.pk,
        contact_id=contact.pk,
        payload={
            "sequence_id": sequence.pk,
            "enrollment": enrollment.pk,
            "step": index,
            "step_type": kind,
            "entry": entry.pk if entry is not None else None,
            "channel": channel,
        },
        thread_locked=True,
    )
    return _advance(enrollment, conversation, now, waiting=kind == "wait")


def _advance(enrollment: Enrollment, conversation: Conversation, now: datetime, *, waiting: bool) -> bool:
    enrollment.step += 1
    if enrollment.step >= len(enrollment.sequence.steps) and not waiting:
        enrollment.save(update_fields=["step"])
        enrollment_exit(enrollment=enrollment, reason="completed", conversation=conversation, at=now)
        return True
    if not waiting:
        enrollment.next_run_at = now  # the next step at once (this same round)
    enrollment.save(update_fields=["step", "next_run_at"])
    return True


def _task_create(
    *, step: dict[str, Any], contact: Contact, conversation: Conversation, sequence: Sequence
) -> str:
    """A note for the customer's owner (else the thread's assignee), who is notified; else one for the team."""
    owner = (
        ContactOwner.objects.filter(contact=contact, owner__is_active=True).select_related("owner").first()
    )
    candidates = [owner.owner] if owner is not None else []
    if conversation.assignee is not None and conversation.assignee.is_active:
        candidates.append(conversation.assignee)
    whom = next((agent for agent in candidates if agent_can_see(agent, conversation)), None)
    text = f"Task from the sequence “{sequence.name}”: {step['text']}"
    note = entry_append(
        conversation=conversation,
        kind=Entry.NOTE,
        direction=Entry.INTERNAL,
        body=f"@{whom.get_username()} {text}" if whom is not None else text,
        data={"source": f"sequence “{sequence.name}”", "task": True},
    )
    if whom is None:
        return "a task for the team (the customer has no owner)"
    notifications_for_mentions(entry=note, mentioned=[whom], by=None)
    return f"a task for {whom.get_full_name() or whom.get_username()}"

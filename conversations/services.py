"""Writes to the lifetime thread. Every change an agent makes is also an event entry saying who made it."""

from __future__ import annotations

from datetime import datetime, timedelta
from typing import Any, NamedTuple

from django.contrib.auth.models import User
from django.db import transaction
from django.utils import timezone

from config.errors import NotFound, ValidationError
from contacts.models import Contact
from conversations import realtime
from conversations.models import AgentProfile, Conversation, ConversationInbox, Entry, Episode, Inbox
from conversations.selectors import agent_can_see
from events.services import event_publish

PREVIEW_LENGTH = 200
NOTE_MAX = 20_000
SNOOZE_MAX = timedelta(days=366)


def conversation_get_or_create(*, contact: Contact) -> Conversation:
    """The contact's lifetime thread, created the first time it is needed (exactly one, whatever the race)."""
    conversation, _ = Conversation.objects.get_or_create(
        contact=contact, defaults={"last_activity_at": timezone.now()}
    )
    return conversation


def entry_append(
    *,
    conversation: Conversation,
    kind: str,
    direction: str,
    channel: str = "",
    inbox: Inbox | None = None,
    body: str = "",
    subject: str = "",
    author: User | None = None,
    event_type: str = "",
    data: dict[str, Any] | None = None,
    provider: str = "",
    provider_id: str = "",
    delivery_status: str = "",
    from_address: str = "",
    to_address: str = "",
    created_at: datetime | None = None,
    awaits_reply: bool = True,
    opens_episode: bool = True,
) -> Entry:
    """Append one entry to a lifetime thread and keep the thread's summary (activity, waiting, episode) right.

    The thread row is locked for the duration, so concurrent appends to one thread serialize.
    """
    now = created_at or timezone.now()
    customer_speaks = kind in (Entry.MESSAGE, Entry.CALL) and direction == Entry.INBOUND
    # No savepoint of its own: an error here fails the caller's transaction as a whole, which is what
    # every caller wants, and it saves two round trips per entry on the inbound path.
    with transaction.atomic(savepoint=False):
        locked = Conversation.objects.select_for_update().get(pk=conversation.pk)
        if locked.blocked_at is not None and customer_speaks:
            # A blocked sender is recorded, never waited on: nobody is meant to answer.
            awaits_reply = opens_episode = False
        episode = _open_episode(locked)
        opened = episode is None and customer_speaks and opens_episode
        if opened:
            episode = Episode.objects.create(
                conversation=locked,
                team=locked.team,
                assignee=locked.assignee,
                opened_at=now,
                first_inbound_at=now,
            )
        entry = Entry.objects.create(
            conversation=locked,
            origin_conversation=locked,
            episode=episode,
            kind=kind,
            channel=channel,
            direction=direction,
            inbox=inbox,
            body=body,
            subject=subject[:500],
            author=author,
            event_type=event_type,
            data=data or {},
            provider=provider,
            provider_id=provider_id,
            delivery_status=delivery_status,
            from_address=from_address,
            to_address=to_address,
            created_at=now,
        )
        linked = inbox is not None and inbox.pk != locked.last_inbound_inbox_id
        if linked:
            # The thread's last inbound inbox is linked already; any other is linked once, race-free.
            ConversationInbox.objects.bulk_create(
                [ConversationInbox(conversation=locked, inbox=inbox)], ignore_conflicts=True
            )
        summary = _thread_summary_update(
            locked, entry, episode, awaits_reply=awaits_reply, linked=linked, new_episode=opened
        )
        realtime.event_record(type="entry.created", conversation=locked, entry=entry, version_bumped=True)
        # What follows from the entry (a lead made, a response timed, a follow-up cancelled) is done by the
        # subscribers of the events it publishes: see docs/events.md.
        _entry_published(locked, entry, episode, opened=opened, summary=summary)
    return entry


class _Summary(NamedTuple):
    """What an entry did to its episode, for the events it publishes."""

    first_inbound: bool = False  # the episode's first customer message or call
    first_response: bool = False  # the episode's first answer to the customer
    waited_since: datetime | None = None  # when the customer this entry answers started waiting


def _entry_published(
    locked: Conversation, entry: Entry, episode: Episode | None, *, opened: bool, summary: _Summary
) -> None:
    """The domain events an appended entry is: a customer's message or call, an agent's reply, a note, the
    start of an episode."""
    rows = {"conversation": locked, "entry": entry, "episode": episode, "summary": summary}
    if opened and episode is not None:
        event_publish(
            type="conversation.opened",
            conversation_id=locked.pk,
            contact_id=locked.contact_id,
            payload={"episode": episode.pk, "entry": entry.pk, "team": locked.team_id},
            at=entry.created_at,
            thread_locked=True,
            rows=rows,
        )
    if entry.kind == Entry.MESSAGE and entry.direction == Entry.INBOUND:
        rating = entry.data.get("rating")
        event_publish(
            type="message.received",
            conversation_id=locked.pk,
            contact_id=locked.contact_id,
            payload={
                "entry": entry.pk,
                "channel": entry.channel,
                "inbox": entry.inbox_id,
                "body": entry.body,
                "from_address": entry.from_address,
                "created_at": entry.created_at.isoformat(),
                "automatic": bool(entry.data.get("auto")),
                "rating": rating if isinstance(rating, int) else None,
            },
            at=entry.created_at,
            thread_locked=True,
            rows=rows,
        )
    elif entry.kind == Entry.CALL and entry.direction == Entry.INBOUND:
        event_publish(
            type="call.received",
            conversation_id=locked.pk,
            contact_id=locked.contact_id,
            payload={
                "entry": entry.pk,
                "inbox": entry.inbox_id,
                "from_address": entry.from_address,
                "created_at": entry.created_at.isoformat(),
            },
            at=entry.created_at,
            thread_locked=True,
            rows=rows,
        )
    elif entry.kind in (Entry.MESSAGE, Entry.CALL) and entry.direction == Entry.OUTBOUND:
        waited = summary.waited_since
        event_publish(
            type="conversation.replied",
            conversation_id=locked.pk,
            contact_id=locked.contact_id,
            payload={
                "entry": entry.pk,
                "kind": entry.kind,
                "channel": entry.channel,
                "author": entry.author_id,
                "episode": episode.pk if episode is not None else None,
                "first_response": summary.first_response,
                "waited_s": round((entry.created_at - waited).total_seconds(), 3) if waited else None,
            },
            at=entry.created_at,
            thread_locked=True,
            rows=rows,
        )
    elif entry.kind == Entry.NOTE:
        event_publish(
            type="note.added",
            conversation_id=locked.pk,
            contact_id=locked.contact_id,
            payload={"entry": entry.pk, "author": entry.author_id, "body": entry.body},
            at=entry.created_at,
            thread_locked=True,
            rows=rows,
        )


def entry_touch(*, entry: Entry, fields: list[str], type: str = "entry.updated") -> None:
    """Save changed fields of an entry, bump its version and broadcast it (inside the caller's transaction)."""
    entry.version += 1
    entry.save(update_fields=[*fields, "version", "updated_at"])
    realtime.event_record(type=type, conversation=entry.conversation, entry=entry)
    if entry.kind == Entry.MESSAGE and entry.direction == Entry.OUTBOUND:
        _delivery_published(entry, fields)


_DELIVERY_CHANGES = frozenset({Entry.DELIVERED, Entry.READ, Entry.UNDELIVERED, Entry.FAILED, Entry.UNKNOWN})


def _delivery_published(entry: Entry, fields: list[str]) -> None:
    """message.sent when the provider took it (sent_at is set once); message.delivery_changed after that.
    The thread's row is locked already: event_record has just bumped its version."""
    conversation_id, contact_id = entry.conversation_id, entry.conversation.contact_id
    if "sent_at" in fields:
        event_publish(
            type="message.sent",
            payload={
                "entry": entry.pk,
                "channel": entry.channel,
                "inbox": entry.inbox_id,
                "body": entry.body,
                "created_at": entry.created_at.isoformat(),
                "to_address": entry.to_address,
                "author": entry.author_id,
                "provider_id": entry.provider_id,
            },
            thread_locked=True,
            conversation_id=conversation_id,
            contact_id=contact_id,
        )
    if "delivery_status" in fields and entry.delivery_status in _DELIVERY_CHANGES:
        event_publish(
            type="message.delivery_changed",
            payload={
                "entry": entry.pk,
                "channel": entry.channel,
                "status": entry.delivery_status,
                "error": entry.status_reason or None,
            },
            thread_locked=True,
            conversation_id=conversation_id,
            contact_id=contact_id,
        )


def event_append(
    *,
    conversation: Conversation,
    event_type: str,
    body: str,
    by: User | None = None,
    data: dict[str, Any] | None = None,
    created_at: datetime | None = None,
) -> Entry:
    """An event in the thread (a status change, an opt-out, a resend), with who caused it."""
    return entry_append(
        conversation=conversation,
        kind=Entry.EVENT,
        direction=Entry.INTERNAL,
        author=by,
        event_type=event_type,
        body=body,
        data=data,
        created_at=created_at,
    )


def note_add(*, conversation: Conversation, author: User, body: str) -> Entry:
    """A private note; each `@username` in it notifies that agent, who must be able to see the thread."""
    from conversations.notifications import mentions_resolve, notifications_for_mentions

    text = body.strip()
    if not text:
        raise ValidationError("A note needs some text.")
    if len(text) > NOTE_MAX:
        raise ValidationError(f"A note can be at most {NOTE_MAX} characters.")
    mentioned = mentions_resolve(conversation=conversation, text=text)
    with transaction.atomic():
        entry = entry_append(
            conversation=conversation,
            kind=Entry.NOTE,
            direction=Entry.INTERNAL,
            body=text,
            author=author,
            data={"mentions": [user.pk for user in mentioned]} if mentioned else None,
        )
        notifications_for_mentions(entry=entry, mentioned=mentioned, by=author)
    return entry


STATUS_VERBS = {
    Conversation.OPEN: "reopened the conversation",
    Conversation.PENDING: "marked the conversation as pending (waiting for the customer)",
    Conversation.SNOOZED: "snoozed the conversation",
    Conversation.RESOLVED: "resolved the conversation",
}


def conversation_set_status(
    *,
    conversation: Conversation,
    status: str,
    by: User | None,
    reason: str = "",
    snoozed_until: datetime | None = None,
) -> Conversation:
    """Open, pend, snooze or resolve a thread. Resolving closes the episode; reopening starts a new one.

    A snoozed thread wakes (reopens) by itself at `snoozed_until` (conversations.tasks.wake_snoozed) or
    as soon as the customer writes.
    """
    if status not in dict(Conversation.STATUS_CHOICES):
        raise ValidationError(f"Unknown status {status!r}; use open, pending, snoozed or resolved.")
    now = timezone.now()
    if status == Conversation.SNOOZED:
        if snoozed_until is None:
            raise ValidationError("Say until when to snooze the conversation.")
        if snoozed_until <= now:
            raise ValidationError(
                "That time has already passed; snooze until a time in the future "
                f"(it is now {timezone.localtime(now):%Y-%m-%d %H:%M %Z})."
            )
        if snoozed_until - now > SNOOZE_MAX:
            raise ValidationError("Snooze at most a year ahead; resolve the conversation instead.")
    elif snoozed_until is not None:
        raise ValidationError("Only a snoozed conversation has a wake-up time.")
    with transaction.atomic():
        locked = Conversation.objects.select_for_update().get(pk=conversation.pk)
        _status_apply(locked, status=status, by=by, reason=reason, snoozed_until=snoozed_until, now=now)
    conversation.refresh_from_db()
    return conversation


def _status_apply(
    locked: Conversation,
    *,
    status: str,
    by: User | None,
    reason: str,
    snoozed_until: datetime | None,
    now: datetime,
) -> None:
    """The status change itself, under the thread's row lock, with its event."""
    previous = locked.status
    if previous == status and locked.snoozed_until == snoozed_until:
        return
    episode = _open_episode(locked)
    if status == Conversation.RESOLVED:
        if episode is not None:
            episode.resolved_at = now
            episode.save(update_fields=["resolved_at"])
        locked.waiting_since = None
    elif episode is None:
        Episode.objects.create(conversation=locked, team=locked.team, assignee=locked.assignee, opened_at=now)
    locked.status = status
    locked.snoozed_until = snoozed_until
    locked.save(update_fields=["status", "waiting_since", "snoozed_until"])
    inbox_links_sync(locked)
    who = _name(by) if by is not None else "The hub"
    text = f"{who} {STATUS_VERBS[status]}"
    if snoozed_until is not None:
        text += f" until {timezone.localtime(snoozed_until):%Y-%m-%d %H:%M %Z}"
    text += f" ({reason})" if reason else ""
    event_append(
        conversation=locked,
        event_type="conversation.status_changed",
        body=text,
        by=by,
        data={
            "from": previous,
            "to": status,
            "reason": reason,
            "snoozed_until": snoozed_until.isoformat() if snoozed_until else None,
        },
        created_at=now,
    )
    event_publish(
        type="conversation.status_changed",
        conversation_id=locked.pk,
        contact_id=locked.contact_id,
        payload={
            "status": status,
            "previous_status": previous,
            "by": by.pk if by is not None else None,
            "snoozed_until": snoozed_until.isoformat() if snoozed_until else None,
        },
        at=now,
        thread_locked=True,
        rows={"conversation": locked, "by": by},
    )
    if status == Conversation.RESOLVED:
        event_publish(
            type="conversation.resolved",
            conversation_id=locked.pk,
            contact_id=locked.contact_id,
            payload={"episode": episode.pk if episode else None, "by": by.pk if by is not None else None},
            at=now,
            thread_locked=True,
            rows={"conversation": locked, "episode": episode, "by": by},
        )


def conversation_wake(*, conversation_id: int, reason: str = "the snooze ended") -> bool:
    """Reopen a snoozed thread whose time has come; False when it was woken, re-snoozed or is busy already."""
    now = timezone.now()
    with transaction.atomic():
        locked = (
            Conversation.objects.select_for_update(skip_locked=True)
            .filter(pk=conversation_id, status=Conversation.SNOOZED, snoozed_until__lte=now)
            .first()
        )
        if locked is None:
            return False
        _status_apply(locked, status=Conversation.OPEN, by=None, reason=reason, snoozed_until=None, now=now)
    return True


def conversations_wake_due(*, limit: int = 500) -> int:
    """Every snoozed thread whose time has come wakes up (Celery beat runs this)."""
    due = list(
        Conversation.objects.filter(status=Conversation.SNOOZED, snoozed_until__lte=timezone.now())
        .order_by("snoozed_until")
        .values_list("pk", flat=True)[:limit]
    )
    return sum(conversation_wake(conversation_id=pk) for pk in due)


def conversation_reopen_for_inbound(*, conversation: Conversation) -> None:
    """A customer's message reopens a resolved thread and wakes a pending or snoozed one.

    A blocked sender's message reopens nothing: it is recorded and stays out of every view.
    """
    if conversation.blocked_at is not None:
        return
    if conversation.status != Conversation.OPEN:
        conversation_set_status(
            conversation=conversation,
            status=Conversation.OPEN,
            by=None,
            reason="new message from the customer",
        )


def agent_profile_update(*, profile: AgentProfile, phone: str, availability: str) -> AgentProfile:
    """An agent's own phone (rung by incoming calls and click-to-call) and availability."""
    from contacts.addresses import normalize_phone
    from conversations.assignment import agent_availability_set

    if availability not in dict(AgentProfile.AVAILABILITY_CHOICES):
        raise ValidationError("Availability is online, away or offline.")
    number = phone.strip()
    if number:
        normalized = normalize_phone(number)
        if not normalized.valid:
            raise ValidationError(
                f"{number!r} is not a phone number Twilio could call; write it as +1 415 555 0100."
            )
        number = normalized.address
    profile.phone = number
    profile.save(update_fields=["phone"])
    return agent_availability_set(profile=profile, availability=availability)


def conversation_set_waiting(
    *, conversation: Conversation, since: datetime | None, preview: str = ""
) -> None:
    """Mark the thread as waiting for the business since `since` (a missed call, a voicemail), or clear it.

    Work an agent already did after `since` (a reply, a call back) has answered it: nothing to mark.
    """
    with transaction.atomic():
        locked = Conversation.objects.select_for_update().get(pk=conversation.pk)
        fields: list[str] = []
        if since is None:
            if locked.waiting_since is not None:
                locked.waiting_since = None
                fields.append("waiting_since")
        else:
            answered = Entry.objects.filter(
                conversation=locked,
                direction=Entry.OUTBOUND,
                kind__in=(Entry.MESSAGE, Entry.CALL),
                created_at__gte=since,
            ).exists()
            if answered:
                return
            if locked.waiting_since is None or locked.waiting_since > since:
                locked.waiting_since = since
                fields.append("waiting_since")
            if preview and since >= locked.last_activity_at:
                locked.last_preview = preview[:PREVIEW_LENGTH]
                fields.append("last_preview")
        if fields:
            locked.save(update_fields=fields)
            inbox_links_sync(locked)  # the inbox's Unanswered view reads the links
            realtime.event_record(type="conversation.updated", conversation=locked)


def conversation_assign(
    *, conversation: Conversation, assignee: User | None, by: User | None, reason: str = ""
) -> Conversation:
    """Give the thread to an agent who can see it (or to nobody)."""
    if assignee is not None and not assignee.is_active:
        raise ValidationError(
            f"{_name(assignee)} is deactivated, so the conversation cannot be assigned to them."
        )
    if assignee is not None and not agent_can_see(assignee, conversation):
        raise ValidationError(
            f"{_name(assignee)} cannot see this conversation (none of their teams holds its inboxes), "
            "so it cannot be assigned to them."
        )
    with transaction.atomic():
        locked = Conversation.objects.select_for_update().get(pk=conversation.pk)
        previous = locked.assignee
        if (previous.pk if previous else None) == (assignee.pk if assignee else None):
            return locked
        locked.assignee = assignee
        locked.save(update_fields=["assignee"])
        inbox_links_sync(locked)
        Episode.objects.filter(conversation=locked, resolved_at__isnull=True).update(assignee=assignee)
        who = _name(by) if by is not None else "The hub"
        if assignee is None:
            text = f"{who} unassigned the conversation"
        elif by is not None and assignee.pk == by.pk:
            text = f"{who} took the conversation"
        else:
            text = f"{who} assigned the conversation to {_name(assignee)}"
        text += f" ({reason})" if reason else ""
        event_append(
            conversation=locked,
            event_type="conversation.assigned",
            body=text,
            by=by,
            data={
                "from": previous.pk if previous else None,
                "to": assignee.pk if assignee else None,
                "reason": reason,
            },
        )
        assignment_publish(locked, previous_assignee=previous.pk if previous else None, by=by)
    conversation.refresh_from_db()
    return conversation


def assignment_publish(locked: Conversation, *, previous_assignee: int | None, by: User | None) -> None:
    """conversation.assigned: who holds the thread now (agent and team), under the caller's thread lock."""
    event_publish(
        type="conversation.assigned",
        conversation_id=locked.pk,
        contact_id=locked.contact_id,
        payload={
            "assignee": locked.assignee_id,
            "previous_assignee": previous_assignee,
            "team": locked.team_id,
            "by": by.pk if by is not None else None,
        },
        thread_locked=True,
    )


def conversation_block(*, conversation: Conversation, blocked: bool, by: User) -> Conversation:
    """Block the customer (their messages are still recorded, in no view, and reopen nothing) or unblock them."""
    with transaction.atomic():
        locked = Conversation.objects.select_for_update().get(pk=conversation.pk)
        if (locked.blocked_at is not None) == blocked:
            return locked
        locked.blocked_at = timezone.now() if blocked else None
        fields = ["blocked_at"]
        if blocked:
            locked.waiting_since = None  # nobody is meant to answer a blocked sender
            fields.append("waiting_since")
        locked.save(update_fields=fields)
        inbox_links_sync(locked)
        verb = "blocked" if blocked else "unblocked"
        event_append(
            conversation=locked,
            event_type=f"contact.{verb}",
            body=f"{_name(by)} {verb} this sender"
            + (" (their messages are recorded but reopen nothing)" if blocked else ""),
            by=by,
            data={"blocked": blocked},
        )
    conversation.refresh_from_db()
    return conversation


def conversation_set_priority(*, conversation: Conversation, priority: str, by: User | None) -> Conversation:
    """Urgent, high, normal or low: an event in the thread says who (or which rule) set it."""
    if priority not in dict(Conversation.PRIORITY_CHOICES):
        raise ValidationError(f"{priority[:20]!r} is not a priority; use urgent, high, normal or low.")
    with transaction.atomic():
        locked = Conversation.objects.select_for_update().get(pk=conversation.pk)
        previous = locked.priority
        if previous == priority:
            return locked
        locked.priority = priority
        locked.save(update_fields=["priority"])
        who = _name(by) if by is not None else "The hub"
        event_append(
            conversation=locked,
            event_type="conversation.priority_changed",
            body=f"{who} set the priority to {priority} (was {previous})",
            by=by,
            data={"priority": priority, "previous": previous},
        )
        event_publish(
            type="conversation.priority_changed",
            conversation_id=locked.pk,
            contact_id=locked.contact_id,
            payload={"priority": priority, "previous": previous, "by": by.pk if by is not None else None},
            thread_locked=True,
        )
    conversation.refresh_from_db()
    return conversation


def conversation_get_visible(*, user: User, conversation_id: int) -> Conversation:
    from conversations.selectors import conversation_visible_to

    conversation = (
        conversation_visible_to(user).select_related("contact", "assignee").filter(pk=conversation_id).first()
    )
    if conversation is None:
        raise NotFound("No such conversation.")
    if conversation.contact.merged_into_id is not None:
        # A merged-away customer's thread lives on in the survivor's: reads and writes go there.
        from contacts.services import contact_surviving

        survivor = contact_surviving(conversation.contact)
        merged = (
            conversation_visible_to(user)
            .select_related("contact", "assignee")
            .filter(contact=survivor)
            .first()
        )
        if merged is None:
            raise NotFound("No such conversation.")
        return merged
    return conversation


def _open_episode(conversation: Conversation) -> Episode | None:
    return Episode.objects.filter(conversation=conversation, resolved_at__isnull=True).first()


def inbox_links_sync(conversation: Conversation) -> None:
    """Copy the thread's list fields onto its inbox links (call it, under the thread's lock, after a change)."""
    ConversationInbox.objects.filter(conversation=conversation).update(
        status=ConversationInbox.BLOCKED if conversation.blocked_at is not None else conversation.status,
        assignee_id=conversation.assignee_id,
        waiting=conversation.waiting_since is not None,
        last_activity_at=conversation.last_activity_at,
    )


def inbox_links_merged(conversation: Conversation) -> None:
    """A merged-away customer's old thread leaves every inbox view (its links stay, so old ids resolve)."""
    ConversationInbox.objects.filter(conversation=conversation).update(
        status=ConversationInbox.MERGED, waiting=False
    )


def _thread_summary_update(
    conversation: Conversation,
    entry: Entry,
    episode: Episode | None,
    *,
    awaits_reply: bool,
    linked: bool = False,
    new_episode: bool = False,
) -> _Summary:
    """Activity, preview, where to reply and who waits, plus the thread's version, in one update."""
    fields: list[str] = []
    summary = _Summary()
    if entry.kind in (Entry.MESSAGE, Entry.CALL, Entry.NOTE):
        # The first entry of a thread sets its summary even when it happened before the thread row was made.
        first = not conversation.last_preview_direction
        if first or entry.created_at >= conversation.last_activity_at:
            conversation.last_activity_at = entry.created_at
            conversation.last_preview = _preview(entry)
            conversation.last_preview_direction = entry.direction
            fields += ["last_activity_at", "last_preview", "last_preview_direction"]
    if entry.direction == Entry.INBOUND and entry.kind in (Entry.MESSAGE, Entry.CALL):
        # Where the customer last wrote from decides where the reply goes: only a newer message moves it.
        if conversation.last_inbound_at is None or entry.created_at >= conversation.last_inbound_at:
            conversation.last_inbound_at = entry.created_at
            conversation.last_inbound_channel = entry.channel
            conversation.last_inbound_inbox = entry.inbox
            fields += ["last_inbound_at", "last_inbound_channel", "last_inbound_inbox"]
        if awaits_reply and conversation.waiting_since is None:
            conversation.waiting_since = entry.created_at
            fields.append("waiting_since")
        if episode is not None and (new_episode or episode.first_inbound_at is None):
            if episode.first_inbound_at is None:
                episode.first_inbound_at = entry.created_at
                episode.save(update_fields=["first_inbound_at"])
            summary = _Summary(first_inbound=True)
    elif (
        entry.direction == Entry.OUTBOUND
        and entry.kind in (Entry.MESSAGE, Entry.CALL)
        and not entry.data.get("automatic")  # the hub's own message: the customer still waits for a person
    ):
        waited_since = conversation.waiting_since
        if conversation.waiting_since is not None:
            conversation.waiting_since = None
            fields.append("waiting_since")
        first = (
            episode is not None and episode.first_response_at is None and episode.first_inbound_at is not None
        )
        if episode is not None and first:
            episode.first_response_at = entry.created_at
            episode.save(update_fields=["first_response_at"])
        summary = _Summary(first_response=episode is not None and first, waited_since=waited_since)
    # The version bump rides on the same update; the caller holds the row lock, so counting here is safe.
    conversation.version += 1
    conversation.save(update_fields=sorted({*fields, "version"}))
    if linked or {"last_activity_at", "waiting_since"} & set(fields):
        inbox_links_sync(conversation)
    return summary


def _preview(entry: Entry) -> str:
    text = " ".join(entry.body.split())
    if not text and entry.kind == Entry.MESSAGE:
        count = len(entry.data.get("media", [])) if isinstance(entry.data.get("media"), list) else 0
        text = f"[{count} attachment{'s' if count != 1 else ''}]" if count else ""
    if not text and entry.kind == Entry.CALL:
        text = str(entry.data.get("call_label", "")) or "Call"
    prefix = "Note: " if entry.kind == Entry.NOTE else ""
    return (prefix + text)[:PREVIEW_LENGTH]


def _name(user: User) -> str:
    full = getattr(user, "get_full_name", lambda: "")()
    return str(full or user.get_username())

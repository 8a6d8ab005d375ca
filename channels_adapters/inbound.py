"""The inbound pipeline: nothing lost, nothing twice.

1. A webhook view authenticates the request and calls `inbound_event_store` (one row, unique key).
2. After commit `process_inbound_event` is enqueued on the high-priority `inbound` queue.
3. `inbound_event_process` claims the row with SKIP LOCKED inside the transaction that does the work,
   so a worker killed midway leaves it pending; the sweeper re-enqueues what stays pending.
"""

from __future__ import annotations

import logging
from datetime import datetime, timedelta
from typing import Any

from django.conf import settings
from django.db import IntegrityError, transaction
from django.db.models import F
from django.utils import timezone

from channels_adapters.base import RAW_PAYLOAD_KEY, AdapterError, InboundMessage
from channels_adapters.models import InboundEvent
from channels_adapters.registry import get_adapter, inbound_recorder
from config.enqueue import Doorbell, enqueue_now, enqueue_on_commit
from contacts.models import Identity
from contacts.services import contact_resolve, identity_set_opt_out
from conversations import realtime
from conversations.answers import rating_answered
from conversations.assignment import conversation_route_inbound
from conversations.models import Attachment, Entry, Inbox
from conversations.services import (
    conversation_get_or_create,
    conversation_reopen_for_inbound,
    entry_append,
    event_append,
)
from events.services import events_batched

logger = logging.getLogger("hub.inbound")

# Stored events are handed to the inbound workers from a sender thread, many per task when busy.
SWEEP_CHUNK = 50
inbound_doorbell = Doorbell("channels_adapters.tasks.process_inbound_event")


def inbound_event_store(
    *, kind: str, idempotency_key: str, payload: dict[str, Any], raw: bytes | None = None
) -> tuple[InboundEvent, bool]:
    """Store a provider's payload durably. A key seen before is not an error: nothing else happens.

    `raw` (a MIME message with its attachments) goes to file storage, referenced from the row.
    """
    from django.core.files.base import ContentFile

    try:
        with transaction.atomic():
            event = InboundEvent.objects.create(
                kind=kind,
                idempotency_key=idempotency_key,
                payload=payload,
                received_at=timezone.now(),
                enqueued_at=timezone.now(),
            )
            if raw is not None:
                event.raw_file.save(f"{kind}-{event.pk}.raw", ContentFile(raw), save=True)
            inbound_doorbell.ring_on_commit(event.pk)
    except IntegrityError:
        # Seen before (a provider's retry, or a concurrent duplicate): answered as new, nothing else happens.
        return InboundEvent.objects.get(idempotency_key=idempotency_key), False
    return event, True


def inbound_event_process(*, event_id: int) -> Entry | None:
    """Turn one stored event into an entry of a lifetime thread. Safe to call any number of times.

    Under a backlog the same task also takes up to INBOUND_BATCH - 1 more pending events, oldest first,
    and broadcasts them all in one round. Their own tasks then find them done.
    """
    entries = inbound_events_process(event_ids=[event_id], batch=settings.INBOUND_BATCH)
    return entries.get(event_id)


def inbound_events_process(*, event_ids: list[int], batch: int = 1) -> dict[int, Entry]:
    """Process the named events and, under a backlog, enough other pending ones to make `batch`.

    Each event is claimed (SKIP LOCKED) and recorded in a transaction of its own, so a worker killed midway
    leaves the rest pending, one that fails is rolled back alone and counted, and two workers' batches
    never hold one customer's rows while waiting for another's (one transaction for a whole batch did,
    and deadlocked under a Redis outage's burst). What the batch shares is the task and the broadcast:
    the frames of all its events are read and sent together once they are committed.
    """
    failures: list[tuple[int, Exception]] = []
    entries: dict[int, Entry] = {}
    wanted = list(dict.fromkeys(event_ids))
    if batch > len(wanted):
        wanted += (
            InboundEvent.objects.filter(state=InboundEvent.PENDING)
            .exclude(pk__in=wanted)
            .order_by("received_at")
            .values_list("pk", flat=True)[: batch - len(wanted)]
        )
    with realtime.publish_batch() as published:
        for event_id in wanted:
            mark = published.mark()
            try:
                entry = _event_claim_and_record(event_id)
            except Exception as failure:
                published.forget_since(mark)
                _record_failure(event_id, failure)
                failures.append((event_id, failure))
                continue
            if entry is not None:
                entries[event_id] = entry
    for failed_id, reason in failures:
        if failed_id in event_ids and not (isinstance(reason, AdapterError) and reason.permanent):
            raise reason  # the named event's task fails, and its retry policy applies, as for a single event
    return entries


def _event_claim_and_record(event_id: int) -> Entry | None:
    # One message's domain events (a new customer, an episode opened, the message) are one INSERT.
    with transaction.atomic(), events_batched():
        event = (
            InboundEvent.objects.select_for_update(skip_locked=True)
            .filter(pk=event_id, state=InboundEvent.PENDING)
            .first()
        )
        if event is None:
            return None  # done already, failed for good, or another worker holds it
        entry = _event_record(event)
        InboundEvent.objects.filter(pk=event.pk).update(
            state=InboundEvent.DONE,
            processed_at=timezone.now(),
            entry=entry,
            last_error="",
            attempts=F("attempts") + 1,
        )
        return entry


def _event_record(event: InboundEvent) -> Entry:
    """A message by default; kinds whose events are not messages (voice callbacks) name their own service."""
    record = inbound_recorder(event.kind)
    if record is not None:
        entry: Entry = record(payload=event.payload, received_at=event.received_at)
        return entry
    payload = event.payload
    if event.raw_file:  # a MIME message kept in file storage
        with event.raw_file.open("rb") as handle:
            payload = {**payload, RAW_PAYLOAD_KEY: handle.read()}
    message = get_adapter(event.kind).parse_inbound(payload)
    return inbound_message_record(message=message, received_at=event.received_at)


def _record_failure(event_id: int, error: Exception) -> None:
    """Count the failed attempt; after INBOUND_MAX_ATTEMPTS (or a permanent adapter error) stop trying."""
    permanent = isinstance(error, AdapterError) and error.permanent
    try:
        with transaction.atomic():
            event = (
                InboundEvent.objects.select_for_update()
                .filter(pk=event_id, state=InboundEvent.PENDING)
                .first()
            )
            if event is None:
                return
            event.attempts += 1
            event.last_error = f"{error.__class__.__name__}: {error}"[:2000]
            if permanent or event.attempts >= settings.INBOUND_MAX_ATTEMPTS:
                event.state = InboundEvent.FAILED
                logger.error("Inbound event %s failed for good: %s", event_id, event.last_error)
            event.save(update_fields=["attempts", "last_error", "state"])
    except Exception:
        logger.exception("Could not record the failure of inbound event %s", event_id)


def inbound_events_sweep(*, older_than_s: float | None = None, limit: int = 500) -> int:
    """Re-enqueue events still pending after INBOUND_SWEEP_AFTER_S: a lost task costs latency, not data."""
    from channels_adapters import tasks

    threshold = timezone.now() - timedelta(
        seconds=settings.INBOUND_SWEEP_AFTER_S if older_than_s is None else older_than_s
    )
    ids = list(
        InboundEvent.objects.filter(state=InboundEvent.PENDING, received_at__lte=threshold)
        .exclude(enqueued_at__gt=threshold)
        .order_by("received_at")
        .values_list("pk", flat=True)[:limit]
    )
    if not ids:
        return 0
    InboundEvent.objects.filter(pk__in=ids).update(enqueued_at=timezone.now())
    # A few tasks of many ids each: against a backlog (events only waiting in the queue) each costs one
    # cheap claim that finds them done or held, instead of hundreds of single tasks flooding the queue.
    chunks = [ids[start : start + SWEEP_CHUNK] for start in range(0, len(ids), SWEEP_CHUNK)]
    enqueued = sum(len(chunk) for chunk in chunks if enqueue_now(tasks.process_inbound_event, *chunk))
    logger.info("Sweeper re-enqueued %s of %s pending inbound events", enqueued, len(ids))
    return enqueued


# --- turning a message into an entry ---------------------------------------------------------------
def inbound_message_record(
    *, message: InboundMessage, received_at: datetime, inbox: Inbox | None = None
) -> Entry:
    """Append a customer's message to their lifetime thread, in the order the hub received it.

    `inbox`: the channel already knows which inbox it came through (a web chat widget's key).
    """
    if message.channel == Entry.EMAIL:
        from channels_adapters.email.services import email_inbound_record

        return email_inbound_record(message=message, received_at=received_at)
    existing = Entry.objects.filter(provider=message.provider, provider_id=message.provider_id).first()
    if existing is not None:
        return existing  # the same provider message under another key (SmsSid vs MessageSid): still one entry
    unrouted = False
    if inbox is None:
        inbox, unrouted = inbox_route(recipient=message.recipient, route_hint=message.route_hint)
    contact, identity = contact_resolve(
        kind=message.sender_kind, address=message.sender, name=message.sender_name
    )
    conversation = conversation_get_or_create(contact=contact)
    data: dict[str, Any] = {**message.data}
    if unrouted:
        data["unrouted_to"] = message.recipient
    if not identity.is_valid:
        data["invalid_sender"] = True
    if message.media:
        data["media"] = [{"url": item.url, "content_type": item.content_type} for item in message.media]
        data["account_sid"] = message.account_id
    if message.keyword:
        data["keyword"] = message.keyword
    opt_keyword = message.keyword in ("stop", "start")
    # A 1-to-5 answer to the satisfaction question lands in the thread without reopening it.
    rating = None if opt_keyword else rating_answered(conversation=conversation, body=message.body)
    if rating is not None:
        data["rating"] = rating
    if not opt_keyword and rating is None:
        conversation_reopen_for_inbound(conversation=conversation)
    entry = entry_append(
        conversation=conversation,
        kind=Entry.MESSAGE,
        direction=Entry.INBOUND,
        channel=message.channel,
        inbox=inbox,
        body=message.body,
        provider=message.provider,
        provider_id=message.provider_id,
        data=data,
        from_address=message.sender,
        to_address=message.recipient,
        created_at=received_at,
        awaits_reply=not opt_keyword and rating is None,
        opens_episode=rating is None,
    )
    _attachments_record(entry, message)
    if message.keyword and message.channel == Entry.SMS:
        _keyword_apply(conversation=conversation, identity=identity, keyword=message.keyword, at=received_at)
    if not opt_keyword:
        conversation_route_inbound(conversation=conversation)
    return entry


def inbox_route(*, recipient: str, route_hint: str) -> tuple[Inbox, bool]:
    """Which inbox claims this business address? Unclaimed addresses land in the default inbox, flagged."""
    from contacts.addresses import normalize_phone

    if route_hint:
        pooled = Inbox.objects.filter(kind=Inbox.PHONE, messaging_service_sid=route_hint).first()
        if pooled is not None:
            return pooled, False
    number = normalize_phone(recipient)
    claimed = Inbox.objects.filter(kind=Inbox.PHONE, address=number.address).first()
    if claimed is not None:
        return claimed, False
    return inbox_default(), True


def inbox_default() -> Inbox:
    inbox, _ = Inbox.objects.get_or_create(
        is_default=True, defaults={"name": "Unrouted", "kind": Inbox.PHONE}
    )
    return inbox


def _attachments_record(entry: Entry, message: InboundMessage) -> None:
    from channels_adapters import tasks

    for position, item in enumerate(message.media):
        attachment = Attachment.objects.create(
            entry=entry,
            position=position,
            declared_content_type=item.content_type[:255],
            source_url=item.url[:2000],
            filename=f"media-{position + 1}",
        )
        enqueue_on_commit(tasks.fetch_attachment, attachment.pk)


def _keyword_apply(*, conversation: Any, identity: Identity, keyword: str, at: datetime) -> None:
    texts = {
        "stop": "The customer texted STOP: SMS to this number is paused until they text START.",
        "start": "The customer texted START: SMS to this number is allowed again.",
        "help": "The customer asked for HELP by SMS.",
    }
    changed = True
    if keyword in ("stop", "start"):
        changed = identity_set_opt_out(identity=identity, opted_out=keyword == "stop", at=at)
    if changed:
        event_append(
            conversation=conversation,
            event_type=f"contact.sms_{keyword}",
            body=texts[keyword],
            data={"address": identity.address},
        )

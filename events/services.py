"""Writing domain events to the outbox, in the caller's transaction, and handing them to consumers after it.

`event_publish` is the one way a change says what happened. Consumers that react (the outgoing webhooks; the
rules and sequences to come) take events from the outbox after commit, at least once: `events_dispatch`
gives each new event to every consumer's `take` function, which queues its own work idempotently (a unique
key per consumer and event), then marks it dispatched. It runs right after the commit that wrote the events
and, as a safety net for a process that died in between, as a periodic job.
"""

from __future__ import annotations

import logging
import secrets
from collections.abc import Callable, Sequence
from datetime import datetime, timedelta
from typing import Any

from django.apps import apps
from django.db import transaction
from django.db.models import Subquery
from django.db.models.functions import Coalesce
from django.utils import timezone
from django.utils.module_loading import import_string

from events.catalog import EVENT_TYPES
from events.models import DomainEvent

logger = logging.getLogger("hub.events")

# After-commit consumers: name -> dotted path of `take(events: Sequence[DomainEvent]) -> None`.
CONSUMERS: dict[str, str] = {
    "webhooks": "events.webhooks.webhook_deliveries_queue",
}

_ALPHABET = "0123456789abcdefghjkmnpqrstvwxyz"


def event_uid() -> str:
    return "evt_" + "".join(secrets.choice(_ALPHABET) for _ in range(26))


def event_publish(
    *,
    type: str,
    conversation_id: int | None,
    contact_id: int | None,
    payload: dict[str, Any],
    at: datetime | None = None,
    thread_locked: bool = False,
) -> None:
    """Record that `type` happened, in the current transaction. The event exists if and only if the change
    does; a thread's events are numbered 1, 2, 3... in the order their transactions wrote them: the thread row
    is locked first (unless the caller holds it already, as `entry_append` does), so numbers never collide."""
    if type not in EVENT_TYPES:
        raise ValueError(f"Unknown domain event {type!r}: add it to events/catalog.py first.")
    seq: Any = None
    if conversation_id is not None:
        if not thread_locked and transaction.get_connection().in_atomic_block:
            # The thread's row, by name: the outbox sits below the apps that publish to it.
            thread = apps.get_model("conversations", "Conversation")
            thread.objects.select_for_update().filter(pk=conversation_id).values_list("pk").first()
        last = DomainEvent.objects.filter(conversation_id=conversation_id).order_by("-thread_seq")
        seq = Coalesce(Subquery(last.values("thread_seq")[:1]), 0) + 1
    DomainEvent.objects.create(
        uid=event_uid(),
        type=type,
        occurred_at=at or timezone.now(),
        conversation_id=conversation_id,
        contact_id=contact_id,
        thread_seq=seq,
        payload=payload,
    )
    _dispatch_after_commit()


def _dispatch_after_commit() -> None:
    """One dispatch per transaction, however many events it wrote (a rolled-back savepoint takes its
    callback with it, so the check is against what will really run)."""
    connection = transaction.get_connection()
    if any(callback[1] is _dispatch_soon for callback in connection.run_on_commit):
        return
    transaction.on_commit(_dispatch_soon)


def _dispatch_soon() -> None:
    from channels_adapters.enqueue import enqueue_now
    from events import tasks

    enqueue_now(tasks.dispatch_domain_events)


def events_dispatch(*, limit: int = 500, older_than_s: float = 0.0) -> int:
    """Give undispatched events to every consumer, oldest first; returns how many were dispatched.

    Claimed with SKIP LOCKED inside one transaction with the consumers' own writes, so two dispatchers never
    take the same events, and a dispatcher that dies leaves them undispatched for the next one.
    """
    threshold = timezone.now() - timedelta(seconds=older_than_s)
    consumers = [(name, _consumer(path)) for name, path in CONSUMERS.items()]
    with transaction.atomic():
        events = list(
            DomainEvent.objects.select_for_update(skip_locked=True)
            .filter(dispatched_at__isnull=True, occurred_at__lte=threshold)
            .order_by("id")[:limit]
        )
        if not events:
            return 0
        taken = {event.pk for event in events}
        for name, take in consumers:
            if not _take(name, take, events):
                # One consumer's failure neither undoes the change nor stops the others. Event by event, so
                # one it cannot take holds back only itself; what stays undispatched is offered again.
                taken -= {event.pk for event in events if not _take(name, take, [event])}
        DomainEvent.objects.filter(pk__in=taken).update(dispatched_at=timezone.now())
    return len(taken)


def _take(name: str, take: Callable[[Sequence[DomainEvent]], None], events: Sequence[DomainEvent]) -> bool:
    try:
        with transaction.atomic():
            take(events)
    except Exception:
        logger.exception("Consumer %s could not take domain events %s", name, [e.uid for e in events][:10])
        return False
    return True
    return len(events)


def _consumer(path: str) -> Callable[[Sequence[DomainEvent]], None]:
    return import_string(path)  # type: ignore[no-any-return]

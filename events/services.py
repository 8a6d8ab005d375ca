"""Writing domain events to the outbox, in the caller's transaction, and handing them to consumers after it.

`event_publish` is the one way a change says what happened. Two kinds of listeners hear it:

- **Subscribers** (`subscribe`) must stay consistent with the change: the lifecycle folding a stage, the reports
  counting a response time. They run inside `event_publish`, in the publisher's transaction, and an error in
  one fails the change as a whole. Each app registers its own in its `AppConfig.ready`, so the app that makes
  a change never imports the apps that react to it.
- **Consumers** (`consumer_register`) react: the outgoing webhooks, the rules and sequences to come. They take
  events from the outbox after commit, at least once: `events_dispatch` gives each new event to every
  consumer's `take` function, which queues its own work idempotently (a unique key per consumer and event),
  then marks it dispatched. It runs right after the commit that wrote the events and, as a safety net for a
  process that died in between, as a periodic job.
"""

from __future__ import annotations

import json
import logging
import secrets
import threading
from collections.abc import Callable, Iterator, Mapping, Sequence
from contextlib import contextmanager
from contextvars import ContextVar
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Any

from django.apps import apps
from django.core.serializers.json import DjangoJSONEncoder
from django.db import transaction
from django.utils import timezone

from events.catalog import EVENT_TYPES
from events.models import DomainEvent

logger = logging.getLogger("hub.events")


@dataclass(frozen=True)
class Published:
    """An event as its in-transaction subscribers hear it: what is stored, plus `rows`, the model instances the
    publisher holds (the entry, the episode...), so a subscriber need not read them again. `rows` is never
    stored nor sent: what leaves the hub is `payload`. An event published without them (a test's, a replay's)
    has no change behind it, and the subscribers leave it alone."""

    type: str
    conversation_id: int | None
    contact_id: int | None
    payload: Mapping[str, Any]
    at: datetime
    rows: Mapping[str, Any]


Subscriber = Callable[[Published], None]
Take = Callable[[Sequence[DomainEvent]], None]

# In the transaction: event type -> subscribers, in the order they registered.
SUBSCRIBERS: dict[str, list[Subscriber]] = {}
# After commit: consumer name -> `take(events)`.
CONSUMERS: dict[str, Take] = {}


def subscribe(type: str, subscriber: Subscriber) -> None:
    """Call `subscriber` inside every transaction that publishes `type` (once, however often it is asked)."""
    if type not in EVENT_TYPES:
        raise ValueError(f"Unknown domain event {type!r}: add it to events/catalog.py first.")
    subscribers = SUBSCRIBERS.setdefault(type, [])
    if subscriber not in subscribers:
        subscribers.append(subscriber)


def consumer_register(name: str, take: Take) -> None:
    """Give every event to `take` after the commit that wrote it, at least once (see `events_dispatch`)."""
    CONSUMERS[name] = take


_ALPHABET = "0123456789abcdefghjkmnpqrstvwxyz"


def event_uid() -> str:
    return "evt_" + "".join(secrets.choice(_ALPHABET) for _ in range(26))


@dataclass(frozen=True)
class _Pending:
    type: str
    conversation_id: int | None
    contact_id: int | None
    payload: dict[str, Any]
    at: datetime
    cause: str = ""
    depth: int = 0


_cause: ContextVar[tuple[str, int]] = ContextVar("event_cause", default=("", 0))


@contextmanager
def events_caused_by(cause: str, *, depth: int) -> Iterator[None]:
    """Every event published in the block records `cause` (e.g. "rule:12") and `depth`, how many automated
    reactions led to it, so a reaction to a reaction can be told apart and a loop stopped."""
    token = _cause.set((cause, depth))
    try:
        yield
    finally:
        _cause.reset(token)


_batch = threading.local()


def event_publish(
    *,
    type: str,
    conversation_id: int | None,
    contact_id: int | None,
    payload: dict[str, Any],
    at: datetime | None = None,
    thread_locked: bool = False,
    rows: Mapping[str, Any] | None = None,
) -> None:
    """Record that `type` happened, in the current transaction. The event exists if and only if the change
    does; a thread's events are numbered 1, 2, 3... in the order their transactions wrote them: the thread row
    is locked first (unless the caller holds it already, as `entry_append` does), so numbers never collide.

    Inside `events_batched()` the row is written with the block's other events, in one INSERT, at its end.
    The type's subscribers run before this returns, with `rows` (see `Published`)."""
    if type not in EVENT_TYPES:
        raise ValueError(f"Unknown domain event {type!r}: add it to events/catalog.py first.")
    if conversation_id is not None and not thread_locked and transaction.get_connection().in_atomic_block:
        # The thread's row, by name: the outbox sits below the apps that publish to it.
        thread = apps.get_model("conversations", "Conversation")
        thread.objects.select_for_update().filter(pk=conversation_id).values_list("pk").first()
    cause, depth = _cause.get()
    pending = _Pending(type, conversation_id, contact_id, payload, at or timezone.now(), cause, depth)
    batch: list[_Pending] | None = getattr(_batch, "events", None)
    if batch is not None:
        batch.append(pending)
    else:
        _write([pending])
    subscribers = SUBSCRIBERS.get(type)
    if subscribers:
        published = Published(type, conversation_id, contact_id, payload, pending.at, rows or {})
        for subscriber in subscribers:
            subscriber(published)


@contextmanager
def events_batched() -> Iterator[None]:
    """Inside one transaction (the inbound pipeline's, per message): the events published in the block are
    written in one INSERT when it ends. An exception writes nothing: the transaction is rolling back."""
    if getattr(_batch, "events", None) is not None:
        yield  # the outer block writes
        return
    _batch.events = []
    try:
        yield
        _write(_batch.events)
    finally:
        _batch.events = None


def _write(events: list[_Pending]) -> None:
    """One INSERT for all: each thread's next numbers come from a subquery on the unique index, read in the
    statement itself, under the thread locks the publishers hold."""
    if not events:
        return
    connection = transaction.get_connection()
    table = connection.ops.quote_name(DomainEvent._meta.db_table)
    jsonb = "::jsonb" if connection.vendor == "postgresql" else ""
    rows: list[str] = []
    params: list[Any] = []
    counted: dict[int, int] = {}
    for event in events:
        params += [
            event_uid(),
            event.type,
            connection.ops.adapt_datetimefield_value(event.at),
            event.conversation_id,
            event.contact_id,
            event.cause,
            event.depth,
        ]
        if event.conversation_id is None:
            seq = "NULL"
        else:
            counted[event.conversation_id] = counted.get(event.conversation_id, 0) + 1
            seq = (
                f"(SELECT COALESCE(MAX(thread_seq), 0) FROM {table} "  # noqa: S608 (our own table's name)
                "WHERE conversation_id = %s AND thread_seq IS NOT NULL) + %s"
            )
            params += [event.conversation_id, counted[event.conversation_id]]
        params.append(json.dumps(event.payload, cls=DjangoJSONEncoder))
        rows.append(f"(%s, %s, %s, %s, %s, %s, %s, {seq}, %s{jsonb})")
    with connection.cursor() as cursor:
        cursor.execute(
            f"INSERT INTO {table} (uid, type, occurred_at, conversation_id, contact_id, cause, depth, thread_seq, "  # noqa: S608
            "payload) "
            f"VALUES {', '.join(rows)}",  # placeholders only; every value is a parameter
            params,
        )
    _dispatch_after_commit()


def _dispatch_after_commit() -> None:
    on_commit_once(_dispatch_soon)


class _Once:
    def __init__(self, func: Callable[[], None]) -> None:
        self.func, self.ran = func, False

    def __call__(self) -> None:
        self.ran = True
        self.func()


def on_commit_once(func: Callable[[], None]) -> None:
    """Run `func` after the current transaction commits, once however many times it is asked for. Checked
    against what will really run: a rolled-back savepoint takes its callback with it, and a callback that has
    run already (a test's captured commit) no longer counts."""
    for callback in transaction.get_connection().run_on_commit:
        pending = callback[1]
        if isinstance(pending, _Once) and pending.func is func and not pending.ran:
            return
    transaction.on_commit(_Once(func))


def _dispatch_soon() -> None:
    from config.enqueue import enqueue_now
    from events import tasks

    enqueue_now(tasks.dispatch_domain_events)


def events_dispatch(*, limit: int = 500, older_than_s: float = 0.0) -> int:
    """Give undispatched events to every consumer, oldest first; returns how many were dispatched.

    Claimed with SKIP LOCKED inside one transaction with the consumers' own writes, so two dispatchers never
    take the same events, and a dispatcher that dies leaves them undispatched for the next one.
    """
    threshold = timezone.now() - timedelta(seconds=older_than_s)
    consumers = list(CONSUMERS.items())
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


def _take(name: str, take: Take, events: Sequence[DomainEvent]) -> bool:
    try:
        with transaction.atomic():
            take(events)
    except Exception:
        logger.exception("Consumer %s could not take domain events %s", name, [e.uid for e in events][:10])
        return False
    return True

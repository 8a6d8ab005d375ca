"""Broadcasts. Every change is written to the event log with the change, and published after commit.

Groups: `inbox.<id>` for list changes of an inbox's threads, `everything` for managers and admins,
`conversation.<id>` for an open thread, `agent.<id>` for one agent. Frames carry the event's sequence number;
a client that reconnects asks for what it missed (consumers.AgentConsumer) and drops what it already has
by entry id and version.
"""

from __future__ import annotations

import asyncio
import logging
import os
import threading
from collections.abc import Callable, Coroutine, Iterable, Iterator, Sequence
from contextlib import contextmanager
from dataclasses import dataclass
from datetime import timedelta
from functools import partial
from typing import Any, NotRequired, TypedDict

from asgiref.sync import async_to_sync
from channels.layers import get_channel_layer
from django.conf import settings
from django.db import transaction
from django.db.models import F
from django.template.loader import render_to_string
from django.utils import timezone

from conversations.models import Conversation, ConversationInbox, Entry, RealtimeEvent

logger = logging.getLogger("hub.realtime")

GROUP_EVERYTHING = "everything"
FRAME_HANDLER = "hub.frame"  # the consumer method `hub_frame` receives it


def group_conversation(conversation_id: int) -> str:
    return f"conversation.{conversation_id}"


def group_inbox(inbox_id: int) -> str:
    return f"inbox.{inbox_id}"


def group_agent(user_id: int) -> str:
    return f"agent.{user_id}"


def group_visitor(visitor_id: str) -> str:
    """One web chat visitor's widgets (every tab); joined only with a verified visitor id."""
    return f"webchat.{visitor_id}"


class EntryFrame(TypedDict):
    id: int
    version: int
    html: str


class Frame(TypedDict):
    seq: int
    type: str
    conversation: int | None
    row: NotRequired[str]
    header: NotRequired[str]
    entry: NotRequired[EntryFrame]
    into: NotRequired[int]  # conversation.merged: the thread this one now lives in
    alert: NotRequired[dict[str, Any]]  # leak.detected: a notice for the agent, with a link to the thread
    payload: NotRequired[dict[str, Any]]  # an agent's own event (notification.created)


@dataclass(frozen=True)
class Published:
    """What one logged event publishes once its transaction commits."""

    seq: int
    type: str
    conversation_id: int
    entry_ids: tuple[int, ...]


class PublishBatch:
    """Collects the events logged while it is active and publishes them together after commit.

    A worker that records many events in one transaction (a batch of inbound messages) then reads the
    rows for all their frames in a few queries and sends them in one go, instead of per event.
    """

    def __init__(self) -> None:
        self.items: list[Published] = []

    def mark(self) -> int:
        return len(self.items)

    def forget_since(self, mark: int) -> None:
        """Drop what was logged since `mark` (its savepoint was rolled back)."""
        del self.items[mark:]


_active = threading.local()


@contextmanager
def publish_batch() -> Iterator[PublishBatch]:
    """Inside the caller's transaction: events logged in this block are published together after commit."""
    if getattr(_active, "batch", None) is not None:
        yield _active.batch  # already batching: the outer block publishes
        return
    batch = _active.batch = PublishBatch()
    try:
        yield batch
    finally:
        _active.batch = None
    if batch.items:
        transaction.on_commit(partial(_publish_safely, batch.items))


def event_record(
    *,
    type: str,
    conversation: Conversation,
    entry: Entry | None = None,
    payload: dict[str, Any] | None = None,
    version_bumped: bool = False,
) -> RealtimeEvent:
    """Log the event inside the caller's transaction and publish it once that transaction commits.

    `version_bumped`: the caller has already incremented the thread's version under its row lock.
    """
    if not version_bumped:
        # The row lock this update takes orders the thread's events by commit, which event ids cannot.
        Conversation.objects.filter(pk=conversation.pk).update(version=F("version") + 1)
    event = RealtimeEvent.objects.create(
        type=type, conversation=conversation, entry=entry, created_at=timezone.now(), payload=payload or {}
    )
    item = Published(event.pk, type, conversation.pk, (entry.pk,) if entry else ())
    batch: PublishBatch | None = getattr(_active, "batch", None)
    if batch is not None:
        batch.items.append(item)
    else:
        transaction.on_commit(partial(_publish_safely, [item]))
    return event


def alert_send(*, groups: Sequence[str], frame: Frame) -> None:
    """A notice for some agents (a funnel leak), published after commit. Not logged: the page the notice
    links to is the durable record, so a socket that missed it loses nothing."""
    transaction.on_commit(partial(_alerts_publish_safely, [(group, frame) for group in groups]))


def _alerts_publish_safely(sends: list[tuple[str, Frame]]) -> None:
    try:
        _group_send_all(sends)
    except Exception:
        logger.exception("Could not publish %d alerts", len(sends))


def agent_event_record(*, type: str, agent_id: int, payload: dict[str, Any]) -> RealtimeEvent:
    """An event for one agent only (a notification): logged for catch-up, sent to `agent.<id>` after commit."""
    event = RealtimeEvent.objects.create(
        type=type, agent_id=agent_id, created_at=timezone.now(), payload=payload
    )
    frame = agent_frame(event)
    transaction.on_commit(partial(_publish_agent_safely, agent_id, frame))
    return event


def agent_frame(event: RealtimeEvent) -> Frame:
    return {"seq": event.pk, "type": event.type, "conversation": None, "payload": event.payload}


def _publish_agent_safely(agent_id: int, frame: Frame) -> None:
    try:
        _group_send_all([(group_agent(agent_id), frame)])
    except Exception:
        logger.exception("Could not publish agent event %s; the agent catches up from the log", frame["seq"])


def event_log_prune(*, older_than_s: float) -> int:
    """Forget events older than the retention window; a page older than that reloads instead of catching up."""
    cutoff = timezone.now() - timedelta(seconds=older_than_s)
    deleted, _ = RealtimeEvent.objects.filter(created_at__lt=cutoff).delete()
    return deleted


def _publish_safely(items: list[Published]) -> None:
    try:
        frames_publish(items)
    except Exception:
        # Realtime is at most once; the event log lets every client catch up.
        logger.exception(
            "Could not publish events %s; clients will catch up from the log", [item.seq for item in items]
        )


def frames_publish(items: Sequence[Published]) -> None:
    """Build every item's frames from the rows as they are now and send them, in order, in one go."""
    conversation_ids = {item.conversation_id for item in items}
    rows = _FrameRows.load(conversation_ids, [entry_id for item in items for entry_id in item.entry_ids])
    links: dict[int, list[int]] = {}
    for conversation_id, inbox_id in ConversationInbox.objects.filter(
        conversation_id__in=conversation_ids
    ).values_list("conversation_id", "inbox_id"):
        links.setdefault(conversation_id, []).append(inbox_id)
    sends: list[tuple[str, Frame]] = []
    for item in items:
        list_frame, thread_frames = rows.frames(item.seq, item.type, item.conversation_id, item.entry_ids)
        if list_frame is None:
            continue
        sends.append((GROUP_EVERYTHING, list_frame))
        sends += [(group_inbox(inbox_id), list_frame) for inbox_id in links.get(item.conversation_id, [])]
        sends += [(group_conversation(item.conversation_id), frame) for frame in thread_frames]
    sends += _visitor_sends(items, rows)
    if sends:
        _group_send_all(sends)


# How the web chat widget draws a message: registered by the web chat adapter when it starts (an adapter sits
# above the threads, so the threads ask for it rather than import it).
VISITOR_MESSAGE: dict[str, Callable[[Entry], dict[str, Any]]] = {}


def _visitor_sends(items: Sequence[Published], rows: _FrameRows) -> list[tuple[str, Any]]:
    """Web chat visitors hear their own thread's messages (never notes or events), drawn as the widget draws them.

    A merged thread tells the visitors of the surviving one to read their history again.
    """
    from contacts.models import Identity

    draw = VISITOR_MESSAGE.get("draw")
    frames: dict[int, list[dict[str, Any]]] = {}
    for item in items:
        conversation = rows.conversations.get(item.conversation_id)
        if item.type == "conversation.merged" and conversation is not None:
            into = _merged_into(conversation)
            if into is not None:
                frames.setdefault(into, []).append({"type": "reload"})
        for entry_id in item.entry_ids:
            entry = rows.entries.get(entry_id)
            if (
                draw is not None
                and entry is not None
                and entry.kind == Entry.MESSAGE
                and entry.conversation_id == item.conversation_id
            ):
                frames.setdefault(entry.conversation_id, []).append(
                    {"type": "message", "message": draw(entry)}
                )
    if not frames:
        return []
    sends: list[tuple[str, Any]] = []
    for conversation_id, address in Identity.objects.filter(
        kind="visitor", verified=True, contact__conversation__in=list(frames)
    ).values_list("contact__conversation", "address"):
        sends += [(group_visitor(address), frame) for frame in frames[conversation_id]]
    return sends


def frames_build(
    *, seq: int, type: str, conversation_id: int, entry_ids: Iterable[int], with_thread: bool = True
) -> tuple[Frame | None, list[Frame]]:
    """Render the frames for an event from the rows as they are now: one for the list, some for the thread."""
    ids = tuple(entry_ids) if with_thread else ()
    rows = _FrameRows.load({conversation_id}, ids)
    return rows.frames(seq, type, conversation_id, ids, with_thread=with_thread)


@dataclass
class _FrameRows:
    """The rows frames are rendered from, read in a few queries for any number of events."""

    conversations: dict[int, Conversation]
    entries: dict[int, Entry]

    @classmethod
    def load(cls, conversation_ids: Iterable[int], entry_ids: Iterable[int]) -> _FrameRows:
        conversations = (
            Conversation.objects.select_related("contact", "assignee", "last_inbound_inbox", "team")
            .prefetch_related("contact__identities")
            .filter(pk__in=list(conversation_ids))
        )
        wanted = list(set(entry_ids))
        entries = (
            Entry.objects.filter(pk__in=wanted)
            .select_related("author", "inbox")
            .prefetch_related("attachments")
            if wanted
            else Entry.objects.none()
        )
        return cls({c.pk: c for c in conversations}, {e.pk: e for e in entries})

    def frames(
        self,
        seq: int,
        type: str,
        conversation_id: int,
        entry_ids: Iterable[int],
        *,
        with_thread: bool = True,
    ) -> tuple[Frame | None, list[Frame]]:
        conversation = self.conversations.get(conversation_id)
        if conversation is None:
            return None, []
        list_frame: Frame = {
            "seq": seq,
            "type": type,
            "conversation": conversation_id,
            "row": render_to_string("conversations/_conversation_row.html", {"c": conversation, "seq": seq}),
        }
        into = _merged_into(conversation) if type == "conversation.merged" else None
        if into is not None:
            list_frame["into"] = into
        if not with_thread:
            return list_frame, []
        # The header and the event's entry travel together, so a frame lost on the way loses both or neither.
        header = render_to_string("conversations/_thread_header.html", {"c": conversation, "seq": seq})
        entries = sorted(
            (
                entry
                for entry in (self.entries.get(entry_id) for entry_id in entry_ids)
                if entry is not None and entry.conversation_id == conversation_id
            ),
            key=lambda entry: (entry.created_at, entry.pk),
        )
        frames: list[Frame] = [
            {
                "seq": seq,
                "type": type,
                "conversation": conversation_id,
                "entry": {
                    "id": entry.pk,
                    "version": entry.version,
                    "html": render_to_string("conversations/_entry.html", {"entry": entry}),
                },
            }
            for entry in entries
        ]
        if not frames:
            frames.append({"seq": seq, "type": type, "conversation": conversation_id})
        frames[0]["header"] = header
        if into is not None:
            for frame in frames:
                frame["into"] = into
        return list_frame, frames


def _merged_into(conversation: Conversation) -> int | None:
    from contacts.services import contact_surviving

    if conversation.contact.merged_into_id is None:
        return None
    survivor = contact_surviving(conversation.contact)
    return Conversation.objects.filter(contact=survivor).values_list("pk", flat=True).first()


def _group_send_all(sends: Sequence[tuple[str, Frame | dict[str, Any]]]) -> None:
    layer = get_channel_layer()
    if layer is None:
        return

    async def send_all() -> None:
        for group, frame in sends:
            await layer.group_send(group, {"type": FRAME_HANDLER, "frame": frame})

    if settings.EMBEDDED:
        # The in-memory layer lives in the ASGI process's own loop; async_to_sync hands the send to it.
        async_to_sync(send_all)()
    else:
        _publisher.run(send_all())


class _PublisherLoop:
    """One event loop per process for channel-layer sends from synchronous code (Celery workers, views).

    async_to_sync outside an ASGI server makes a new loop, and with it a new Redis connection, per call.
    """

    def __init__(self) -> None:
        self._lock = threading.Lock()
        self._loop: asyncio.AbstractEventLoop | None = None
        self._pid = 0

    def run(self, coroutine: Coroutine[Any, Any, None], timeout: float = 10.0) -> None:
        with self._lock:
            if self._loop is None or self._pid != os.getpid():  # a forked worker starts its own
                self._loop = asyncio.new_event_loop()
                self._pid = os.getpid()
                threading.Thread(
                    target=self._loop.run_forever, name="realtime-publisher", daemon=True
                ).start()
            loop = self._loop
        asyncio.run_coroutine_threadsafe(coroutine, loop).result(timeout)


_publisher = _PublisherLoop()

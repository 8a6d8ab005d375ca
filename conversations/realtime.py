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
from collections.abc import Coroutine, Iterable
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


def event_record(
    *,
    type: str,
    conversation: Conversation,
    entry: Entry | None = None,
    payload: dict[str, Any] | None = None,
) -> RealtimeEvent:
    """Log the event inside the caller's transaction and publish it once that transaction commits."""
    # The row lock this update takes orders the thread's events by commit, which event ids cannot.
    Conversation.objects.filter(pk=conversation.pk).update(version=F("version") + 1)
    event = RealtimeEvent.objects.create(
        type=type, conversation=conversation, entry=entry, created_at=timezone.now(), payload=payload or {}
    )
    transaction.on_commit(
        partial(_publish_safely, event.pk, type, conversation.pk, entry.pk if entry else None)
    )
    return event


def event_log_prune(*, older_than_s: float) -> int:
    """Forget events older than the retention window; a page older than that reloads instead of catching up."""
    cutoff = timezone.now() - timedelta(seconds=older_than_s)
    deleted, _ = RealtimeEvent.objects.filter(created_at__lt=cutoff).delete()
    return deleted


def _publish_safely(seq: int, type: str, conversation_id: int, entry_id: int | None) -> None:
    try:
        frames_publish(
            seq=seq, type=type, conversation_id=conversation_id, entry_ids=[entry_id] if entry_id else []
        )
    except Exception:
        # Realtime is at most once; the event log lets every client catch up.
        logger.exception("Could not publish event %s (%s); clients will catch up from the log", seq, type)


def frames_publish(*, seq: int, type: str, conversation_id: int, entry_ids: Iterable[int]) -> None:
    list_frame, thread_frames = frames_build(
        seq=seq, type=type, conversation_id=conversation_id, entry_ids=entry_ids
    )
    if list_frame is None:
        return
    inbox_ids = ConversationInbox.objects.filter(conversation_id=conversation_id).values_list(
        "inbox_id", flat=True
    )
    sends: list[tuple[str, Frame]] = [(GROUP_EVERYTHING, list_frame)]
    sends += [(group_inbox(inbox_id), list_frame) for inbox_id in inbox_ids]
    sends += [(group_conversation(conversation_id), frame) for frame in thread_frames]
    _group_send_all(sends)


def frames_build(
    *, seq: int, type: str, conversation_id: int, entry_ids: Iterable[int], with_thread: bool = True
) -> tuple[Frame | None, list[Frame]]:
    """Render the frames for an event from the rows as they are now: one for the list, some for the thread."""
    conversation = (
        Conversation.objects.select_related("contact", "assignee", "last_inbound_inbox", "team")
        .prefetch_related("contact__identities")
        .filter(pk=conversation_id)
        .first()
    )
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
    entries = (
        Entry.objects.filter(pk__in=list(entry_ids), conversation_id=conversation_id)
        .select_related("author", "inbox")
        .prefetch_related("attachments")
        .order_by("created_at", "id")
    )
    frames: list[Frame] = []
    for entry in entries:
        frame: Frame = {
            "seq": seq,
            "type": type,
            "conversation": conversation_id,
            "entry": {
                "id": entry.pk,
                "version": entry.version,
                "html": render_to_string("conversations/_entry.html", {"entry": entry}),
            },
        }
        frames.append(frame)
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


def _group_send_all(sends: list[tuple[str, Frame]]) -> None:
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

"""The agent's websocket: thin. It joins the groups its agent may see, catches the page up, and repairs gaps.

Realtime delivery through the channel layer is at most once (channels_redis drops frames for a full
channel). So the consumer remembers what it forwarded. On every heartbeat it checks the settled part of the
event log for events the agent may see and never received, and sends those. The page resumes a new socket
from the position the server last confirmed (`upto`), not from the newest frame it happened to hear.
"""

from __future__ import annotations

import logging
import time
from dataclasses import dataclass
from datetime import timedelta
from typing import Any

from channels.db import database_sync_to_async
from channels.generic.websocket import AsyncJsonWebsocketConsumer
from django.contrib.auth.models import User
from django.utils import timezone

from channels_adapters.webchat.services import visitor_groups, webchat_thread_seen
from conversations import presence, realtime
from conversations.assignment import agent_presence_connected, agent_presence_gone
from conversations.selectors import (
    agent_profile,
    agent_sees_everything,
    conversation_visible_to,
    inbox_visible_to,
    realtime_events_since,
    realtime_latest_seq,
    realtime_log_covers,
)

logger = logging.getLogger("hub.realtime")

CATCHUP_LIMIT = 1000
CATCHUP_OVERLAP_S = 5.0
# Events younger than this may still have lower-numbered company committing; they are checked next time.
SETTLE_S = 5.0
# channels_redis forgets group members after group_expiry; rejoin well before that.
REJOIN_EVERY_S = 600.0
# While an agent keeps typing, the others hear it again this often (their pages forget a silent typist).
TYPING_REBROADCAST_S = 3.0


class AgentConsumer(AsyncJsonWebsocketConsumer):  # type: ignore[misc]
    async def connect(self) -> None:
        self.groups_joined: set[str] = set()
        self.conversation_id: int | None = None
        # What this socket forwarded: the newest row seq per thread, and the seqs of the open thread's frames.
        self.rows_seen: dict[int, int] = {}
        self.thread_seen: set[int] = set()
        self.verified_upto: int | None = None
        scope_user = self.scope.get("user")
        self.user_id = scope_user.pk if scope_user is not None and scope_user.is_authenticated else None
        self.user = await database_sync_to_async(_load_agent)(self.user_id)
        if self.user is None:
            await self.close(code=4403)
            return
        await self._join(await database_sync_to_async(_list_groups)(self.user))
        self.joined_at = time.monotonic()
        self.typing_sent_at = 0.0
        self.visitor_groups: list[str] = []  # the open thread's web chat visitors, read on subscribe
        self.name = self.user.get_full_name() or self.user.get_username()
        await presence.agent_socket_mark(user_id=self.user.pk, socket=self.channel_name)
        # Presence sets availability: an offline agent who opens the inbox is online (away stays away).
        await database_sync_to_async(agent_presence_connected)(user_id=self.user.pk)
        await self.accept()
        await self.send_json({"type": "hello", "seq": await database_sync_to_async(realtime_latest_seq)()})

    async def disconnect(self, code: int) -> None:
        if getattr(self, "user", None) is None:
            return
        try:
            await self._leave_thread()
            if not await presence.agent_socket_gone(user_id=self.user.pk, socket=self.channel_name):
                await database_sync_to_async(agent_presence_gone)(user_id=self.user.pk)
        except Exception as error:  # presence expires by itself; a closing socket must not fail on it
            logger.warning("Could not clear presence on disconnect: %s", error)
        for group in getattr(self, "groups_joined", set()):
            try:
                await self.channel_layer.group_discard(group, self.channel_name)
            except Exception as error:  # thousands closing at once; the layer expires members anyway
                logger.warning("Could not leave %s on disconnect: %s", group, error)

    # Every message type the socket answers (tests/security/test_authorization.py checks each one that takes an id).
    MESSAGE_TYPES = ("subscribe", "resume", "ping", "typing")

    async def receive_json(self, content: Any, **kwargs: Any) -> None:
        if not isinstance(content, dict):
            return
        kind = content.get("type")
        if kind not in self.MESSAGE_TYPES:
            return
        if kind == "subscribe":
            await self._subscribe(content.get("conversation"))
        elif kind == "resume":
            await self._resume(content.get("after"))
        elif kind == "ping":
            await self._heartbeat()
        elif kind == "typing":
            await self._typing(content.get("conversation"), content.get("mode"))

    async def hub_frame(self, message: dict[str, Any]) -> None:
        frame = message["frame"]
        conversation_id, seq = frame.get("conversation"), frame.get("seq", 0)
        if "row" in frame and conversation_id is not None:
            self.rows_seen[conversation_id] = max(seq, self.rows_seen.get(conversation_id, 0))
        elif conversation_id is None or conversation_id == self.conversation_id:
            self.thread_seen.add(seq)  # the open thread's frames, and the agent's own (notifications)
        await self.send_json(frame)

    async def hub_presence(self, message: dict[str, Any]) -> None:
        await self.send_json(message["frame"])

    # --- collision warnings: who views and who types, in Redis, never the database ----------------
    async def _presence_broadcast(self, conversation_id: int) -> None:
        frame = {
            "type": "presence",
            "conversation": conversation_id,
            "viewers": await presence.viewers(conversation_id),
        }
        await self.channel_layer.group_send(
            realtime.group_conversation(conversation_id), {"type": "hub.presence", "frame": frame}
        )

    async def _leave_thread(self) -> None:
        if self.conversation_id is None:
            return
        await presence.viewing_leave(conversation_id=self.conversation_id, socket=self.channel_name)
        await self._presence_broadcast(self.conversation_id)

    async def _typing(self, conversation_id: Any, mode: Any) -> None:
        if conversation_id is None or conversation_id != self.conversation_id:
            # Only the thread this socket subscribed to (and so may see): any other id is not found.
            await self.send_json({"type": "error", "error": "not_found", "conversation": conversation_id})
            return
        assert self.conversation_id is not None
        typing = mode if mode in presence.TYPING_MODES else None
        changed = await presence.typing_mark(
            conversation_id=self.conversation_id,
            socket=self.channel_name,
            user_id=self.user.pk,
            name=self.name,
            mode=typing,
        )
        now = time.monotonic()
        if changed or (typing and now - self.typing_sent_at > TYPING_REBROADCAST_S):
            self.typing_sent_at = now
            await self._presence_broadcast(self.conversation_id)
            if typing == "reply":
                await self._visitors_typing()

    async def _visitors_typing(self) -> None:
        """A reply being typed: the customer's web chat widgets say so (never logged; a note is not shown)."""
        name = self.user.first_name or self.user.get_username()
        for group in self.visitor_groups:
            await self.channel_layer.group_send(
                group, {"type": realtime.FRAME_HANDLER, "frame": {"type": "typing", "name": name}}
            )

    # --- helpers -----------------------------------------------------------------------------------
    async def _join(self, groups: set[str]) -> None:
        for group in groups:
            await self.channel_layer.group_add(group, self.channel_name)
        self.groups_joined |= groups

    async def _reload_user(self) -> bool:
        """Read the agent again (deactivated, demoted, moved between teams); close the socket if they are gone."""
        self.user = await database_sync_to_async(_load_agent)(self.user_id)
        if self.user is None:
            await self.close(code=4403)
            return False
        return True

    async def _heartbeat(self) -> None:
        # One trip to the database for the whole check: at 5,000 sockets that is 200 pings a second. It runs
        # on the shared thread pool, not the one thread that every socket's thread-sensitive calls queue on:
        # a socket's broadcast frames wait behind its own check only, never behind the other sockets' checks.
        check = await database_sync_to_async(_checkup, thread_sensitive=False)(
            self.user_id,
            self.conversation_id,
            self.verified_upto,
            dict(self.rows_seen),
            set(self.thread_seen),
        )
        if check.user is None:
            await self.close(code=4403)
            return
        self.user = check.user
        if not check.thread_visible:
            await self._leave_thread()
            self.conversation_id = None
        await self._refresh_groups(check.groups)
        await presence.agent_socket_mark(user_id=self.user.pk, socket=self.channel_name)
        if self.conversation_id is not None:
            # Refresh this socket's mark and show the page who is here now (a dead socket's mark has expired).
            await presence.viewing_mark(
                conversation_id=self.conversation_id,
                socket=self.channel_name,
                user_id=self.user.pk,
                name=self.name,
            )
            await self.send_json(
                {
                    "type": "presence",
                    "conversation": self.conversation_id,
                    "viewers": await presence.viewers(self.conversation_id),
                }
            )
        if self.verified_upto is None:
            await self.send_json({"type": "pong"})
            return
        if check.repair is None:
            await self.send_json({"type": "reload"})
            return
        self._verified(check.repair.upto)
        if check.repair.frames:
            await self.send_json(
                {"type": "catchup", "frames": check.repair.frames, "upto": check.repair.upto}
            )
        else:
            await self.send_json({"type": "pong", "upto": check.repair.upto})

    async def _refresh_groups(self, wanted: set[str]) -> None:
        """Join what the agent may see now and leave the rest (membership also expires in the layer)."""
        for group in self.groups_joined - wanted:
            await self.channel_layer.group_discard(group, self.channel_name)
        rejoin_all = time.monotonic() - self.joined_at > REJOIN_EVERY_S
        new = wanted if rejoin_all else wanted - self.groups_joined
        self.groups_joined = wanted - new
        await self._join(new)
        if rejoin_all:
            self.joined_at = time.monotonic()

    async def _subscribe(self, conversation_id: Any) -> None:
        if self.conversation_id is not None:
            await self._leave_thread()
            group = realtime.group_conversation(self.conversation_id)
            await self.channel_layer.group_discard(group, self.channel_name)
            self.groups_joined.discard(group)
            self.conversation_id = None
            self.thread_seen = set()
        if conversation_id is None or not await self._reload_user():
            return
        if not isinstance(conversation_id, int) or not await database_sync_to_async(_can_see)(
            self.user, conversation_id
        ):
            # The same answer as for a thread that does not exist.
            await self.send_json({"type": "error", "error": "not_found", "conversation": conversation_id})
            return
        self.conversation_id = conversation_id
        await self._join({realtime.group_conversation(conversation_id)})
        await presence.viewing_mark(
            conversation_id=conversation_id, socket=self.channel_name, user_id=self.user.pk, name=self.name
        )
        await self._presence_broadcast(conversation_id)
        # The agent opened the thread: a web chat visitor's messages show as seen in their widget.
        await database_sync_to_async(webchat_thread_seen)(conversation_id=conversation_id)
        self.visitor_groups = await database_sync_to_async(visitor_groups)(conversation_id=conversation_id)

    async def _resume(self, after: Any) -> None:
        if not isinstance(after, int) or after < 0:
            return
        catchup = await database_sync_to_async(_catchup)(
            self.user,
            after,
            self.conversation_id,
            dict(self.rows_seen),
            set(self.thread_seen),
            CATCHUP_OVERLAP_S,
        )
        if catchup is None:
            await self.send_json({"type": "reload"})
            return
        self._verified(catchup.upto)
        await self.send_json({"type": "catchup", "frames": catchup.frames, "upto": catchup.upto})

    def _verified(self, upto: int) -> None:
        self.verified_upto = upto
        self.thread_seen = {seq for seq in self.thread_seen if seq > upto}
        self.rows_seen = {cid: seq for cid, seq in self.rows_seen.items() if seq > upto}


def _load_agent(user_id: int | None) -> User | None:
    if user_id is None:
        return None
    user = User.objects.select_related("agent").filter(pk=user_id, is_active=True).first()
    if user is None or not (agent_sees_everything(user) or agent_profile(user) is not None):
        return None
    return user


@dataclass(frozen=True)
class Checkup:
    user: User | None  # None: the agent is gone (deactivated, or no longer an agent)
    groups: set[str]  # the groups the socket should be in now
    thread_visible: bool  # whether the open thread may still be seen
    repair: Catchup | None  # the frames missed since the verified position; None when a reload is needed


def _checkup(
    user_id: int | None,
    conversation_id: int | None,
    verified_upto: int | None,
    rows_seen: dict[int, int],
    thread_seen: set[int],
) -> Checkup:
    """A heartbeat's reads, together: who the agent is now, what they may see, and what they missed."""
    user = _load_agent(user_id)
    if user is None:
        return Checkup(None, set(), False, None)
    groups = _list_groups(user)
    visible = conversation_id is not None and _can_see(user, conversation_id)
    if visible and conversation_id is not None:
        groups.add(realtime.group_conversation(conversation_id))
    repair = None
    if verified_upto is not None:
        open_id = conversation_id if visible else None
        repair = _catchup(user, verified_upto, open_id, rows_seen, thread_seen, 0.0)
    return Checkup(user, groups, visible, repair)


def _list_groups(user: User) -> set[str]:
    groups = {realtime.group_agent(user.pk)}
    if agent_sees_everything(user):
        groups.add(realtime.GROUP_EVERYTHING)
    else:
        groups |= {realtime.group_inbox(pk) for pk in inbox_visible_to(user).values_list("pk", flat=True)}
    return groups


def _can_see(user: User, conversation_id: int) -> bool:
    return conversation_visible_to(user).filter(pk=conversation_id).exists()


@dataclass(frozen=True)
class Catchup:
    frames: list[realtime.Frame]
    upto: int  # every settled event the agent may see up to here has now been sent


def _catchup(
    user: User,
    after: int,
    open_conversation_id: int | None,
    rows_seen: dict[int, int],
    thread_seen: set[int],
    overlap_s: float,
) -> Catchup | None:
    """The frames for events after `after` that this socket has not forwarded; None when a reload is needed."""
    if overlap_s == 0 and after >= realtime_latest_seq():
        return Catchup(frames=[], upto=after)  # nothing logged since: a quiet hub's heartbeat costs one read
    if not realtime_log_covers(after):
        return None  # the page is older than the log: what it missed has been pruned
    events = realtime_events_since(user=user, after=after, overlap_s=overlap_s, limit=CATCHUP_LIMIT + 1)
    if len(events) > CATCHUP_LIMIT:
        return None
    settled = timezone.now() - timedelta(seconds=SETTLE_S)
    upto = max([after, *(event.pk for event in events if event.created_at <= settled)])
    latest: dict[int, int] = {}
    missing_entries: set[int] = set()
    thread_missing = False
    frames: list[realtime.Frame] = []
    for event in events:
        if event.conversation_id is None:
            if event.agent_id == user.pk and event.pk not in thread_seen:
                frames.append(realtime.agent_frame(event))  # the agent's own notifications
            continue
        latest[event.conversation_id] = max(event.pk, latest.get(event.conversation_id, 0))
        if event.conversation_id == open_conversation_id and event.pk not in thread_seen:
            thread_missing = True
            if event.entry_id is not None:
                missing_entries.add(event.entry_id)
    for conversation_id, seq in latest.items():
        is_open = conversation_id == open_conversation_id and thread_missing
        if seq <= rows_seen.get(conversation_id, 0) and not is_open:
            continue
        list_frame, thread_frames = realtime.frames_build(
            seq=seq,
            type="catchup",
            conversation_id=conversation_id,
            entry_ids=sorted(missing_entries) if is_open else [],
            with_thread=is_open,
        )
        if list_frame is not None and seq > rows_seen.get(conversation_id, 0):
            frames.append(list_frame)
        frames += thread_frames
    return Catchup(frames=frames, upto=upto)

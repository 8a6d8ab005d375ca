"""The agent's websocket: thin. It joins the groups its agent may see and answers catch-up requests."""

from __future__ import annotations

import time
from typing import Any

from channels.db import database_sync_to_async
from channels.generic.websocket import AsyncJsonWebsocketConsumer

from conversations import realtime
from conversations.selectors import (
    agent_profile,
    agent_sees_everything,
    conversation_visible_to,
    inbox_visible_to,
    realtime_events_since,
    realtime_latest_seq,
    realtime_log_covers,
)

CATCHUP_LIMIT = 1000
CATCHUP_OVERLAP_S = 5.0
# channels_redis forgets group members after group_expiry; rejoin well before that.
REJOIN_EVERY_S = 600.0


class AgentConsumer(AsyncJsonWebsocketConsumer):  # type: ignore[misc]
    groups_joined: set[str]
    conversation_id: int | None

    async def connect(self) -> None:
        self.groups_joined = set()
        self.conversation_id = None
        self.user = self.scope.get("user")
        if not await database_sync_to_async(_is_agent)(self.user):
            await self.close(code=4403)
            return
        await self._join(await database_sync_to_async(_list_groups)(self.user))
        self.joined_at = time.monotonic()
        await self.accept()
        await self.send_json({"type": "hello", "seq": await database_sync_to_async(realtime_latest_seq)()})

    async def disconnect(self, code: int) -> None:
        for group in getattr(self, "groups_joined", set()):
            await self.channel_layer.group_discard(group, self.channel_name)

    async def receive_json(self, content: Any, **kwargs: Any) -> None:
        if not isinstance(content, dict):
            return
        kind = content.get("type")
        if kind == "subscribe":
            await self._subscribe(content.get("conversation"))
        elif kind == "resume":
            await self._resume(content.get("after"))
        elif kind == "ping":
            if time.monotonic() - self.joined_at > REJOIN_EVERY_S:
                await self._refresh_groups()
            await self.send_json({"type": "pong"})

    async def hub_frame(self, message: dict[str, Any]) -> None:
        await self.send_json(message["frame"])

    # --- helpers -----------------------------------------------------------------------------------
    async def _join(self, groups: set[str]) -> None:
        for group in groups:
            await self.channel_layer.group_add(group, self.channel_name)
        self.groups_joined |= groups

    async def _refresh_groups(self) -> None:
        """Rejoin what the agent may see now (membership expires; teams change), leave the rest."""
        wanted = await database_sync_to_async(_list_groups)(self.user)
        if self.conversation_id is not None and await database_sync_to_async(_can_see)(
            self.user, self.conversation_id
        ):
            wanted.add(realtime.group_conversation(self.conversation_id))
        else:
            self.conversation_id = None
        for group in self.groups_joined - wanted:
            await self.channel_layer.group_discard(group, self.channel_name)
        self.groups_joined = set()
        await self._join(wanted)
        self.joined_at = time.monotonic()

    async def _subscribe(self, conversation_id: Any) -> None:
        if self.conversation_id is not None:
            group = realtime.group_conversation(self.conversation_id)
            await self.channel_layer.group_discard(group, self.channel_name)
            self.groups_joined.discard(group)
            self.conversation_id = None
        if conversation_id is None:
            return
        if not isinstance(conversation_id, int) or not await database_sync_to_async(_can_see)(
            self.user, conversation_id
        ):
            # The same answer as for a thread that does not exist.
            await self.send_json({"type": "error", "error": "not_found", "conversation": conversation_id})
            return
        self.conversation_id = conversation_id
        await self._join({realtime.group_conversation(conversation_id)})

    async def _resume(self, after: Any) -> None:
        if not isinstance(after, int) or after < 0:
            return
        frames = await database_sync_to_async(_catchup_frames)(self.user, after, self.conversation_id)
        if frames is None:
            await self.send_json({"type": "reload"})
            return
        await self.send_json({"type": "catchup", "frames": frames})


def _is_agent(user: Any) -> bool:
    return agent_sees_everything(user) or agent_profile(user) is not None


def _list_groups(user: Any) -> set[str]:
    groups = {realtime.group_agent(user.pk)}
    if agent_sees_everything(user):
        groups.add(realtime.GROUP_EVERYTHING)
    else:
        groups |= {realtime.group_inbox(pk) for pk in inbox_visible_to(user).values_list("pk", flat=True)}
    return groups


def _can_see(user: Any, conversation_id: int) -> bool:
    return conversation_visible_to(user).filter(pk=conversation_id).exists()


def _catchup_frames(user: Any, after: int, open_conversation_id: int | None) -> list[realtime.Frame] | None:
    """What the agent missed, rendered from the rows as they are now; None when a reload is needed."""
    if not realtime_log_covers(after):
        return None  # the page is older than the log: what it missed has been pruned
    events = realtime_events_since(
        user=user, after=after, overlap_s=CATCHUP_OVERLAP_S, limit=CATCHUP_LIMIT + 1
    )
    if len(events) > CATCHUP_LIMIT:
        return None
    latest: dict[int, int] = {}
    entry_ids: dict[int, set[int]] = {}
    for event in events:
        if event.conversation_id is None:
            continue
        latest[event.conversation_id] = event.pk
        if event.entry_id is not None:
            entry_ids.setdefault(event.conversation_id, set()).add(event.entry_id)
    frames: list[realtime.Frame] = []
    for conversation_id, seq in latest.items():
        is_open = conversation_id == open_conversation_id
        list_frame, thread_frames = realtime.frames_build(
            seq=seq,
            type="catchup",
            conversation_id=conversation_id,
            entry_ids=sorted(entry_ids.get(conversation_id, set())) if is_open else [],
            with_thread=is_open,
        )
        if list_frame is not None:
            frames.append(list_frame)
        frames += thread_frames
    return frames

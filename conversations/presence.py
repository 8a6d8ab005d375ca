"""Who is viewing a thread and who is typing in it, and which agents have a live socket: never the database.

Each socket's presence in a thread is a field of a Redis hash (`hub:presence:conversation:<id>`) whose
value says until when it holds (and whether it types); an agent's live sockets are the members of a sorted
set (`hub:presence:agent-sockets:<id>`) scored by until when each holds. The socket's heartbeat pushes that
time on. A socket that dies without a goodbye simply stops pushing, and its mark is dropped by the next
writer once it has expired, so the answer is right across processes and survives crashes. An agent's
heartbeat costs the same whatever number of tabs they keep open: one round trip that adds its own mark,
drops the expired ones by score and counts the rest, never reading the others. All of a process's sockets
share one bounded pool of Redis connections that waits for a free connection rather than failing. With
no Redis (the embedded mode, one process) the same store lives in dicts.
"""

from __future__ import annotations

import asyncio
import json
import time
import weakref
from dataclasses import dataclass
from typing import Any, Protocol, TypedDict

from django.conf import settings

TYPING_TTL_S = 6.0  # a typist who stopped sending keystroke pings is no longer typing after this
TYPING_MODES = ("reply", "note")


class Viewer(TypedDict):
    user: int
    name: str
    typing: str | None  # "reply", "note" or None


@dataclass
class _Mark:
    user: int
    name: str
    until: float
    typing: str | None = None
    typing_until: float = 0.0

    def dump(self) -> str:
        return json.dumps(self.__dict__)

    @classmethod
    def load(cls, raw: str | bytes) -> _Mark | None:
        try:
            data = json.loads(raw)
            return cls(**data)
        except (ValueError, TypeError):
            return None


class _Store(Protocol):
    async def put(self, key: str, field: str, value: str, ttl: float) -> None: ...
    async def get(self, key: str, field: str) -> str | None: ...
    async def remove(self, key: str, field: str) -> None: ...
    async def all(self, key: str) -> dict[str, str]: ...
    async def count_mark(self, key: str, member: str, until: float | None, now: float, ttl: float) -> int: ...


class _MemoryStore:
    def __init__(self) -> None:
        self.data: dict[str, dict[str, str]] = {}
        self.scored: dict[str, dict[str, float]] = {}

    async def count_mark(self, key: str, member: str, until: float | None, now: float, ttl: float) -> int:
        members = self.scored.setdefault(key, {})
        if until is None:
            members.pop(member, None)
        else:
            members[member] = until
        for gone in [m for m, score in members.items() if score < now]:
            del members[gone]
        return len(members)

    async def put(self, key: str, field: str, value: str, ttl: float) -> None:
        self.data.setdefault(key, {})[field] = value

    async def get(self, key: str, field: str) -> str | None:
        return self.data.get(key, {}).get(field)

    async def remove(self, key: str, field: str) -> None:
        self.data.get(key, {}).pop(field, None)

    async def all(self, key: str) -> dict[str, str]:
        return dict(self.data.get(key, {}))


class _RedisStore:
    """One client per event loop (a redis.asyncio connection belongs to the loop that made it), on a
    blocking pool: with thousands of sockets in one process, a burst of heartbeats waits its turn for one
    of PRESENCE_REDIS_CONNECTIONS connections instead of failing (a plain pool raises MaxConnectionsError
    past its size, which killed the consumers)."""

    def __init__(self, url: str) -> None:
        self.url = url
        self.clients: weakref.WeakKeyDictionary[asyncio.AbstractEventLoop, Any] = weakref.WeakKeyDictionary()

    def _client(self) -> Any:
        import redis.asyncio as redis

        loop = asyncio.get_running_loop()
        client = self.clients.get(loop)
        if client is None:
            pool = redis.BlockingConnectionPool.from_url(
                self.url,
                max_connections=int(settings.PRESENCE_REDIS_CONNECTIONS),
                timeout=10,  # seconds to wait for a free connection before the call fails
                socket_timeout=5,
            )
            client = self.clients[loop] = redis.Redis(connection_pool=pool)
        return client

    async def count_mark(self, key: str, member: str, until: float | None, now: float, ttl: float) -> int:
        """Set (or, with until None, remove) one member's time, drop the expired, count the rest: one trip."""
        async with self._client().pipeline(transaction=False) as pipe:
            if until is None:
                pipe.zrem(key, member)
            else:
                pipe.zadd(key, {member: until})
                pipe.expire(key, int(ttl) + 5)
            pipe.zremrangebyscore(key, "-inf", f"({now}")
            pipe.zcard(key)
            results = await pipe.execute()
        return int(results[-1])

    async def put(self, key: str, field: str, value: str, ttl: float) -> None:
        async with self._client().pipeline(transaction=False) as pipe:
            pipe.hset(key, field, value)
            pipe.expire(key, int(ttl) + 5)  # the whole hash goes once nobody has refreshed it
            await pipe.execute()

    async def get(self, key: str, field: str) -> str | None:
        raw = await self._client().hget(key, field)
        return raw.decode() if isinstance(raw, bytes) else raw

    async def remove(self, key: str, field: str) -> None:
        await self._client().hdel(key, field)

    async def all(self, key: str) -> dict[str, str]:
        raw = await self._client().hgetall(key)
        return {
            (k.decode() if isinstance(k, bytes) else k): (v.decode() if isinstance(v, bytes) else v)
            for k, v in raw.items()
        }


_store: _Store | None = None


def _the_store() -> _Store:
    global _store
    if _store is None:
        url = getattr(settings, "REDIS_URL", "")
        _store = _RedisStore(url) if url else _MemoryStore()
    return _store


def _ttl() -> float:
    return float(settings.PRESENCE_TTL_S)


def _conversation_key(conversation_id: int) -> str:
    return f"hub:presence:conversation:{conversation_id}"


def _agent_key(user_id: int) -> str:
    return f"hub:presence:agent-sockets:{user_id}"


async def _live(key: str) -> dict[str, _Mark]:
    """The fields of a hash still within their time; expired ones are dropped on the way."""
    store = _the_store()
    now = time.time()
    live: dict[str, _Mark] = {}
    for field, raw in (await store.all(key)).items():
        mark = _Mark.load(raw)
        if mark is None or mark.until < now:
            await store.remove(key, field)
        else:
            live[field] = mark
    return live


# --- viewing and typing -----------------------------------------------------------------------------
async def viewing_mark(*, conversation_id: int, socket: str, user_id: int, name: str) -> None:
    """This socket shows the thread (on subscribe, and on every heartbeat while it does)."""
    store = _the_store()
    key = _conversation_key(conversation_id)
    mark = _Mark.load(await store.get(key, socket) or "") or _Mark(user=user_id, name=name, until=0)
    mark.until = time.time() + _ttl()
    await store.put(key, socket, mark.dump(), _ttl())


async def viewing_leave(*, conversation_id: int, socket: str) -> None:
    await _the_store().remove(_conversation_key(conversation_id), socket)


async def typing_mark(
    *, conversation_id: int, socket: str, user_id: int, name: str, mode: str | None
) -> bool:
    """This socket's agent types a reply or a note (None: stopped). True when what others see changed."""
    store = _the_store()
    key = _conversation_key(conversation_id)
    mark = _Mark.load(await store.get(key, socket) or "") or _Mark(user=user_id, name=name, until=0)
    now = time.time()
    before = mark.typing if mark.typing_until >= now else None
    mark.until = now + _ttl()
    mark.typing = mode
    mark.typing_until = now + TYPING_TTL_S if mode else 0.0
    await store.put(key, socket, mark.dump(), _ttl())
    return before != mode


async def viewers(conversation_id: int) -> list[Viewer]:
    """Everyone viewing the thread now, one row per agent (typing if any of their sockets types)."""
    now = time.time()
    people: dict[int, Viewer] = {}
    for mark in (await _live(_conversation_key(conversation_id))).values():
        typing = mark.typing if mark.typing_until >= now else None
        seen = people.get(mark.user)
        if seen is None:
            people[mark.user] = {"user": mark.user, "name": mark.name, "typing": typing}
        elif typing and not seen["typing"]:
            seen["typing"] = typing
    return sorted(people.values(), key=lambda viewer: viewer["name"].lower())


# --- an agent's sockets -----------------------------------------------------------------------------
async def agent_socket_mark(*, user_id: int, socket: str) -> int:
    """This socket of the agent is alive (on connect and each heartbeat); returns how many are."""
    now = time.time()
    return await _the_store().count_mark(_agent_key(user_id), socket, now + _ttl(), now, _ttl())


async def agent_socket_gone(*, user_id: int, socket: str) -> int:
    """This socket closed; returns how many of the agent's sockets are still alive."""
    return await _the_store().count_mark(_agent_key(user_id), socket, None, time.time(), _ttl())


def agent_has_socket(user_id: int) -> bool:
    """Whether any socket of the agent is alive now (a tab of the hub is open), from synchronous code:
    a Celery task deciding whether a push is needed."""
    store = _the_store()
    if isinstance(store, _RedisStore):
        import redis

        client = redis.Redis.from_url(store.url, socket_timeout=5)
        try:
            return bool(client.zcount(_agent_key(user_id), time.time(), "+inf"))
        finally:
            client.close()
    if isinstance(store, _MemoryStore):
        now = time.time()
        return any(until >= now for until in store.scored.get(_agent_key(user_id), {}).values())
    return False

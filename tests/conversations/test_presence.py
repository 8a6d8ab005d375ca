"""Collision warnings on the agent socket: who else views a thread and who types in it, shared through Redis
(not the database), forgotten when a socket dies without a goodbye; and availability following presence."""

from __future__ import annotations

import asyncio
import time
from types import SimpleNamespace
from typing import Any

import pytest
from asgiref.sync import sync_to_async

from conversations import presence
from conversations.models import AgentProfile
from inbox import consumers
from tests import factories
from tests.conftest import sms_in
from tests.conversations.test_consumers import connect, drain, receive_until


async def viewing(user: Any, conversation_id: int) -> Any:
    socket = await connect(user)
    assert (await socket.connect())[0]
    assert (await socket.receive_json_from())["type"] == "hello"
    await socket.send_json_to({"type": "subscribe", "conversation": conversation_id})
    return socket


def others(frame: dict[str, Any], me: Any) -> list[tuple[str, str | None]]:
    return [(viewer["name"], viewer["typing"]) for viewer in frame["viewers"] if viewer["user"] != me.pk]


@pytest.mark.django_db(transaction=True)
@pytest.mark.asyncio
async def test_two_agents_on_one_thread_see_each_other_viewing_and_typing(
    agent_alice, team_support, inbox_support
) -> None:
    carl = await sync_to_async(factories.agent)("agent_carl", teams=(team_support,))
    thread = (await sync_to_async(sms_in)(inbox_support, "Where is my order?")).conversation_id
    alice = await viewing(agent_alice, thread)
    await receive_until(alice, lambda m: m.get("type") == "presence")
    carl_socket = await viewing(carl, thread)
    heard_by_carl = await receive_until(carl_socket, lambda m: m.get("type") == "presence")
    assert others(heard_by_carl, carl) == [("Alice", None)]
    heard_by_alice = await receive_until(
        alice, lambda m: m.get("type") == "presence" and others(m, agent_alice)
    )
    assert others(heard_by_alice, agent_alice) == [("Carl", None)]

    await carl_socket.send_json_to({"type": "typing", "conversation": thread, "mode": "reply"})
    typing = await receive_until(
        alice, lambda m: m.get("type") == "presence" and others(m, agent_alice)[0][1]
    )
    assert others(typing, agent_alice) == [("Carl", "reply")]
    await carl_socket.send_json_to({"type": "typing", "conversation": thread, "mode": "note"})
    note = await receive_until(alice, lambda m: m.get("type") == "presence" and others(m, agent_alice)[0][1])
    assert others(note, agent_alice) == [("Carl", "note")]
    await carl_socket.send_json_to({"type": "typing", "conversation": thread, "mode": None})
    stopped = await receive_until(alice, lambda m: m.get("type") == "presence")
    assert others(stopped, agent_alice) == [("Carl", None)]

    # Carl leaves with a goodbye: Alice sees him go at once.
    await carl_socket.disconnect()
    gone = await receive_until(alice, lambda m: m.get("type") == "presence")
    assert others(gone, agent_alice) == []
    await alice.disconnect()


@pytest.mark.django_db(transaction=True)
@pytest.mark.asyncio
async def test_a_socket_that_died_without_a_goodbye_is_forgotten_after_its_time(
    agent_alice, inbox_support, settings
) -> None:
    settings.PRESENCE_TTL_S = 1
    thread = (await sync_to_async(sms_in)(inbox_support, "Where is my order?")).conversation_id
    # Another process's socket (a server that crashed) left its mark in Redis and will never refresh it.
    await presence.viewing_mark(
        conversation_id=thread, socket="crashed-server!abc", user_id=999, name="Ghost"
    )
    await presence.typing_mark(
        conversation_id=thread, socket="crashed-server!abc", user_id=999, name="Ghost", mode="reply"
    )
    alice = await viewing(agent_alice, thread)
    first = await receive_until(alice, lambda m: m.get("type") == "presence")
    assert others(first, agent_alice) == [("Ghost", "reply")]
    time.sleep(1.2)
    await alice.send_json_to({"type": "ping"})  # the heartbeat refreshes Alice's mark and shows who is left
    after = await receive_until(alice, lambda m: m.get("type") == "presence")
    assert others(after, agent_alice) == []
    assert [viewer["name"] for viewer in after["viewers"]] == ["Alice"]
    await alice.disconnect()


@pytest.mark.django_db(transaction=True)
@pytest.mark.asyncio
async def test_typing_costs_no_database_work(agent_alice, inbox_support, monkeypatch) -> None:
    thread = (await sync_to_async(sms_in)(inbox_support, "Where is my order?")).conversation_id
    alice = await viewing(agent_alice, thread)
    await receive_until(alice, lambda m: m.get("type") == "presence")
    calls: list[Any] = []
    real = consumers.database_sync_to_async

    def counting(function: Any) -> Any:
        calls.append(function)
        return real(function)

    monkeypatch.setattr(consumers, "database_sync_to_async", counting)
    for n in range(20):
        await alice.send_json_to(
            {"type": "typing", "conversation": thread, "mode": "reply" if n < 19 else None}
        )
    heard = await drain(alice, 0.5)
    assert calls == []
    assert heard and all(frame["type"] == "presence" for frame in heard)
    assert len(heard) < 20  # a keystroke is not a broadcast: changes, and a refresh every few seconds
    await alice.disconnect()


@pytest.mark.django_db(transaction=True)
@pytest.mark.asyncio
async def test_availability_follows_the_agents_sockets_but_away_stays_away(agent_alice) -> None:
    await sync_to_async(AgentProfile.objects.filter(user=agent_alice).update)(availability="offline")

    async def availability() -> str:
        return str(await sync_to_async(lambda: AgentProfile.objects.get(user=agent_alice).availability)())

    first = await connect(agent_alice)
    await first.connect()
    await first.receive_json_from()
    assert await availability() == "online"
    second = await connect(agent_alice)
    await second.connect()
    await second.receive_json_from()
    await first.disconnect()
    assert await availability() == "online"  # another tab is still open
    await second.disconnect()
    assert await availability() == "offline"

    await sync_to_async(AgentProfile.objects.filter(user=agent_alice).update)(availability="away")
    third = await connect(agent_alice)
    await third.connect()
    await third.receive_json_from()
    assert await availability() == "away"
    await third.disconnect()


@pytest.mark.django_db(transaction=True)
@pytest.mark.asyncio
async def test_a_mention_made_while_the_agents_socket_was_down_arrives_with_the_catch_up(
    agent_alice, team_support, inbox_support
) -> None:
    from conversations.selectors import realtime_latest_seq
    from conversations.services import note_add

    carl = await sync_to_async(factories.agent)("agent_carl", teams=(team_support,))
    thread = (await sync_to_async(sms_in)(inbox_support, "Where is my order?")).conversation
    seen = await sync_to_async(realtime_latest_seq)()
    await sync_to_async(note_add)(conversation=thread, author=carl, body="@agent_alice while you were away")
    alice = await connect(agent_alice)
    await alice.connect()
    await alice.receive_json_from()
    await alice.send_json_to({"type": "resume", "after": seen})
    catchup = await receive_until(alice, lambda m: m.get("type") == "catchup")
    [notification] = [f for f in catchup["frames"] if f["type"] == "notification.created"]
    assert notification["payload"]["text"] == "Carl mentioned you: @agent_alice while you were away"
    assert notification["payload"]["unread"] == 1
    await alice.disconnect()


@pytest.mark.asyncio
async def test_a_burst_of_sockets_waits_for_redis_connections_instead_of_failing(
    settings, monkeypatch
) -> None:
    """At 1,000 sockets a plain pool of 100 connections raised MaxConnectionsError and killed consumers: the
    presence store's pool now has a bound and waits for a free connection."""
    if not settings.REDIS_URL:
        pytest.skip("the embedded store has no connections")
    settings.PRESENCE_REDIS_CONNECTIONS = 3
    monkeypatch.setattr(presence, "_store", None)  # a store whose pool is made with the setting above
    marks = [presence.agent_socket_mark(user_id=900_000 + n % 40, socket=f"tab-{n}") for n in range(400)]
    counts = await asyncio.gather(*marks)
    assert len(counts) == 400 and all(count >= 1 for count in counts)
    pool = presence._the_store()._client().connection_pool  # type: ignore[attr-defined]
    assert len(pool._available_connections) + len(pool._in_use_connections) <= 3
    assert await presence.agent_socket_mark(user_id=900_001, socket="one-more") == 11
    await presence._the_store()._client().aclose()  # type: ignore[attr-defined]


@pytest.mark.asyncio
async def test_an_agents_sockets_are_counted_without_reading_each_one(settings, monkeypatch) -> None:
    """An agent's heartbeat costs the same with one tab or many: their sockets are a sorted set counted by
    expiry, expired ones dropped by score; a closed socket leaves the count at once."""
    monkeypatch.setattr(presence, "_store", None)
    settings.PRESENCE_TTL_S = 30
    clock = [1_000_000.0]
    monkeypatch.setattr(presence, "time", SimpleNamespace(time=lambda: clock[0]))
    for n in range(500):
        await presence.agent_socket_mark(user_id=900_100, socket=f"tab-{n}")
    assert await presence.agent_socket_mark(user_id=900_100, socket="tab-0") == 500
    assert await sync_to_async(presence.agent_has_socket)(900_100)
    assert await presence.agent_socket_gone(user_id=900_100, socket="tab-1") == 499
    clock[0] += 20
    assert await presence.agent_socket_mark(user_id=900_100, socket="tab-2") == 499
    clock[0] += 15  # every tab but tab-2 missed its heartbeat: gone without a goodbye
    assert await presence.agent_socket_mark(user_id=900_100, socket="tab-2") == 1
    assert await presence.agent_socket_gone(user_id=900_100, socket="tab-2") == 0
    assert not await sync_to_async(presence.agent_has_socket)(900_100)
    store = presence._the_store()
    if isinstance(store, presence._RedisStore):
        await store._client().aclose()

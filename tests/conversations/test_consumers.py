"""The agent's websocket: who may connect, what they hear, and catching up after a gap."""

from __future__ import annotations

import asyncio
from typing import Any

import pytest
from asgiref.sync import sync_to_async
from channels.testing import WebsocketCommunicator
from django.test import Client

from config.asgi import application
from conversations.selectors import realtime_latest_seq
from tests.conftest import PUBLIC_BASE_URL, sms_in

ORIGIN = (b"origin", PUBLIC_BASE_URL.encode())  # the hub's own origin (tests/conftest.py)


def session_cookie(user: Any) -> tuple[bytes, bytes]:
    client = Client()
    client.force_login(user)
    return (b"cookie", f"sessionid={client.cookies['sessionid'].value}".encode())


async def connect(user: Any, origin: tuple[bytes, bytes] = ORIGIN) -> WebsocketCommunicator:
    headers = [origin]
    if user is not None:
        headers.append(await sync_to_async(session_cookie)(user))
    return WebsocketCommunicator(application, "/ws/agent/", headers=headers)


async def receive_until(
    communicator: WebsocketCommunicator, predicate, timeout: float = 3.0
) -> dict[str, Any]:
    deadline = asyncio.get_running_loop().time() + timeout
    while True:
        remaining = deadline - asyncio.get_running_loop().time()
        message = await communicator.receive_json_from(timeout=max(0.05, remaining))
        if predicate(message):
            return message


async def drain(communicator: WebsocketCommunicator, timeout: float) -> list[dict[str, Any]]:
    """Everything the socket hears until it has been quiet for `timeout`."""
    heard = []
    # receive_nothing, unlike a receive that times out, leaves the consumer running.
    while not await communicator.receive_nothing(timeout=timeout):
        heard.append(await communicator.receive_json_from())
    return heard


@pytest.mark.django_db(transaction=True)
@pytest.mark.asyncio
async def test_an_anonymous_socket_is_refused() -> None:
    communicator = await connect(None)
    connected, _ = await communicator.connect()
    assert not connected


@pytest.mark.django_db(transaction=True)
@pytest.mark.asyncio
async def test_a_foreign_origin_is_refused(agent_alice) -> None:
    communicator = await connect(agent_alice, origin=(b"origin", b"https://evil.example.test"))
    connected, _ = await communicator.connect()
    assert not connected


@pytest.mark.django_db(transaction=True)
@pytest.mark.asyncio
async def test_a_new_message_reaches_the_agents_of_its_inbox_only(
    agent_alice, agent_bob, inbox_support
) -> None:
    alice = await connect(agent_alice)
    bob = await connect(agent_bob)
    assert (await alice.connect())[0] and (await bob.connect())[0]
    assert (await alice.receive_json_from())["type"] == "hello"
    assert (await bob.receive_json_from())["type"] == "hello"
    entry = await sync_to_async(sms_in)(inbox_support, body="Is the blue model back?")
    frame = await receive_until(alice, lambda m: m.get("row"))
    assert frame["conversation"] == entry.conversation_id
    assert "Is the blue model back?" in frame["row"]
    assert frame["seq"] > 0
    assert await bob.receive_nothing(timeout=0.5)
    await alice.disconnect()
    await bob.disconnect()


@pytest.mark.django_db(transaction=True)
@pytest.mark.asyncio
async def test_an_open_thread_gets_its_entries_live(agent_alice, inbox_support) -> None:
    first = await sync_to_async(sms_in)(inbox_support)
    alice = await connect(agent_alice)
    await alice.connect()
    await alice.receive_json_from()
    await alice.send_json_to({"type": "subscribe", "conversation": first.conversation_id})
    await asyncio.sleep(0.1)
    second = await sync_to_async(sms_in)(inbox_support, body="<script>window.__xss=1</script>")
    frame = await receive_until(alice, lambda m: m.get("entry"))
    assert frame["entry"]["id"] == second.pk
    assert "&lt;script&gt;" in frame["entry"]["html"]
    assert "<script>" not in frame["entry"]["html"]
    await alice.disconnect()


@pytest.mark.django_db(transaction=True)
@pytest.mark.asyncio
async def test_after_a_gap_resume_sends_what_was_missed_and_only_what_the_agent_may_see(
    agent_alice, inbox_support, inbox_sales
) -> None:
    first = await sync_to_async(sms_in)(inbox_support)
    seen = await sync_to_async(realtime_latest_seq)()
    # While the agent is away: two messages in their thread, one in another team's.
    missed = [await sync_to_async(sms_in)(inbox_support, body=f"missed {n}") for n in range(2)]
    await sync_to_async(sms_in)(inbox_sales, phone="+12125550187", body="not yours")
    alice = await connect(agent_alice)
    await alice.connect()
    await alice.receive_json_from()
    await alice.send_json_to({"type": "subscribe", "conversation": first.conversation_id})
    await alice.send_json_to({"type": "resume", "after": seen})
    catchup = await receive_until(alice, lambda m: m.get("type") == "catchup")
    entries = {frame["entry"]["id"] for frame in catchup["frames"] if "entry" in frame}
    assert {e.pk for e in missed} <= entries
    rows = [frame["row"] for frame in catchup["frames"] if "row" in frame]
    assert rows and not any("not yours" in row for row in rows)
    await alice.disconnect()


@pytest.mark.django_db(transaction=True)
@pytest.mark.asyncio
async def test_a_gap_too_large_asks_for_a_reload(agent_alice, inbox_support, monkeypatch) -> None:
    from inbox import consumers

    monkeypatch.setattr(consumers, "CATCHUP_LIMIT", 2)
    for n in range(4):
        await sync_to_async(sms_in)(inbox_support, body=f"m{n}")
    alice = await connect(agent_alice)
    await alice.connect()
    await alice.receive_json_from()
    await alice.send_json_to({"type": "resume", "after": 0})
    assert (await receive_until(alice, lambda m: m.get("type") in ("reload", "catchup")))["type"] == "reload"
    await alice.disconnect()


@pytest.mark.django_db(transaction=True)
@pytest.mark.asyncio
async def test_a_page_older_than_the_pruned_log_is_told_to_reload(agent_alice, inbox_support) -> None:
    from datetime import timedelta

    from conversations.models import RealtimeEvent
    from conversations.realtime import event_log_prune

    await sync_to_async(sms_in)(inbox_support)
    seen = await sync_to_async(realtime_latest_seq)()
    await sync_to_async(sms_in)(inbox_support, body="pruned away")
    await sync_to_async(sms_in)(inbox_support, body="still in the log")
    # The event right after the page's position falls out of the retention window.
    from django.utils import timezone

    await sync_to_async(RealtimeEvent.objects.filter(id__lte=seen + 1).update)(
        created_at=timezone.now() - timedelta(days=30)
    )
    assert await sync_to_async(event_log_prune)(older_than_s=3600) >= 1
    alice = await connect(agent_alice)
    await alice.connect()
    await alice.receive_json_from()
    await alice.send_json_to({"type": "resume", "after": seen})
    assert (await receive_until(alice, lambda m: m.get("type") in ("reload", "catchup")))["type"] == "reload"
    await alice.disconnect()


@pytest.mark.django_db(transaction=True)
@pytest.mark.asyncio
async def test_a_frame_the_channel_layer_dropped_is_repaired_on_the_next_heartbeat(
    agent_alice, inbox_support, monkeypatch
) -> None:
    from conversations import realtime
    from inbox import consumers

    monkeypatch.setattr(consumers, "SETTLE_S", 0.0)
    first = await sync_to_async(sms_in)(inbox_support)
    alice = await connect(agent_alice)
    await alice.connect()
    await alice.receive_json_from()
    await alice.send_json_to({"type": "subscribe", "conversation": first.conversation_id})
    await alice.send_json_to({"type": "resume", "after": await sync_to_async(realtime_latest_seq)()})
    await receive_until(alice, lambda m: m.get("type") == "catchup")
    # The layer drops this one (a full channel in channels_redis drops silently).
    monkeypatch.setattr(realtime, "_publish_safely", lambda *args: None)
    lost = await sync_to_async(sms_in)(inbox_support, body="the frame that never came")
    monkeypatch.undo()
    monkeypatch.setattr(consumers, "SETTLE_S", 0.0)
    # Only who else views the thread (collision warnings) may arrive meanwhile, never the lost frame.
    assert [m for m in await drain(alice, 0.3) if m.get("type") != "presence"] == []
    await alice.send_json_to({"type": "ping"})
    repair = await receive_until(alice, lambda m: m.get("type") in ("catchup", "pong"))
    assert repair["type"] == "catchup"
    assert [f["entry"]["id"] for f in repair["frames"] if "entry" in f] == [lost.pk]
    assert any("the frame that never came" in f.get("row", "") for f in repair["frames"])
    # Nothing is missing any more: the next heartbeat only confirms the position.
    await alice.send_json_to({"type": "ping"})
    assert (await receive_until(alice, lambda m: m.get("type") in ("catchup", "pong")))["type"] == "pong"
    await alice.disconnect()


@pytest.mark.django_db(transaction=True)
@pytest.mark.asyncio
async def test_a_deactivated_agents_socket_is_closed_on_the_next_heartbeat(agent_alice) -> None:
    alice = await connect(agent_alice)
    await alice.connect()
    await alice.receive_json_from()
    agent_alice.is_active = False
    await sync_to_async(agent_alice.save)()
    await alice.send_json_to({"type": "ping"})
    output = await alice.receive_output(timeout=3)
    assert output["type"] == "websocket.close"


@pytest.mark.django_db(transaction=True)
@pytest.mark.asyncio
async def test_a_demoted_manager_stops_hearing_other_teams(team_sales, inbox_sales, inbox_support) -> None:
    from conversations.models import AgentProfile
    from tests.factories import agent

    maria = await sync_to_async(agent)("manager_demoted", role=AgentProfile.MANAGER, teams=(team_sales,))
    socket = await connect(maria)
    await socket.connect()
    await socket.receive_json_from()
    await sync_to_async(AgentProfile.objects.filter(user=maria).update)(role=AgentProfile.AGENT)
    await socket.send_json_to({"type": "ping"})
    await receive_until(socket, lambda m: m.get("type") == "pong")
    await sync_to_async(sms_in)(inbox_support, body="support only")
    assert await socket.receive_nothing(timeout=0.5)
    await sync_to_async(sms_in)(inbox_sales, phone="+12125550187", body="sales")
    assert "sales" in (await receive_until(socket, lambda m: m.get("row")))["row"]
    await socket.disconnect()

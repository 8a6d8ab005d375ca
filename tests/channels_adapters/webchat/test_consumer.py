"""The widget's websocket: who may connect, messages through the inbound pipeline once, live replies,
reconnecting without gaps or duplicates, and a visitor who can only ever read their own thread."""

from __future__ import annotations

from typing import Any

import pytest
from asgiref.sync import sync_to_async

from channels_adapters.models import InboundEvent
from channels_adapters.outbound import message_send
from conversations.models import Conversation, Entry
from tests.webchat import client_id, visitor_thread

pytestmark = [pytest.mark.django_db(transaction=True), pytest.mark.asyncio]


def bodies(conversation: Conversation, **filters: Any) -> list[str]:
    return list(
        Entry.objects.filter(conversation=conversation, kind="message", **filters)
        .order_by("created_at", "id")
        .values_list("body", flat=True)
    )


@pytest.mark.parametrize(
    "origin",
    [
        "https://evil.example.test",
        "http://shop.example.test",  # the other scheme is another origin
        "https://shop.example.test:8443",
        "null",
        "",  # no Origin header at all
    ],
)
async def test_the_handshake_is_refused_for_an_origin_the_inbox_does_not_allow(visitor_for, origin) -> None:
    visitor = visitor_for(origin=origin)
    assert not await visitor.connect()


async def test_the_handshake_is_refused_for_a_widget_key_that_does_not_exist(visitor_for) -> None:
    assert not await visitor_for(widget_key="no-such-widget-key").connect()
    assert not await visitor_for(widget_key="").connect()


async def test_a_phone_inbox_is_no_widget(visitor_for, inbox_support) -> None:
    # Even a key that matches nothing but a phone inbox's (empty) key is refused.
    assert not await visitor_for(widget_key=inbox_support.widget_key or "x").connect()


async def test_a_visitor_writes_and_the_message_lands_in_the_lifetime_thread_once(visitor_for) -> None:
    visitor = visitor_for()
    assert await visitor.connect()
    welcome = await visitor.hello()
    assert welcome["inbox"]["name"] == "Shop chat"
    assert welcome["messages"] == []
    cid = client_id()
    assert (await visitor.say("Do you ship to Canada?", cid))["type"] == "ack"
    frame = await visitor.until(lambda f: f["type"] == "message")
    assert frame["message"]["body"] == "Do you ship to Canada?"
    assert frame["message"]["mine"] is True and frame["message"]["client_id"] == cid
    # The same client id again (a resend after a dropped socket): acknowledged, stored once.
    assert (await visitor.say("Do you ship to Canada?", cid))["type"] == "ack"
    await visitor.close()
    conversation = await sync_to_async(visitor_thread)(welcome["visitor"])
    assert await sync_to_async(bodies)(conversation) == ["Do you ship to Canada?"]
    entry = await sync_to_async(Entry.objects.select_related("inbox").get)(
        conversation=conversation, kind=Entry.MESSAGE
    )
    assert (entry.channel, entry.direction, entry.inbox.name) == ("webchat", "inbound", "Shop chat")
    assert await sync_to_async(InboundEvent.objects.filter(kind="webchat").count)() == 1
    # Agents read a name they can say, not the visitor's 32-character id, until the visitor gives theirs.
    name = await sync_to_async(lambda: conversation.contact.display_name)()
    assert name == f"Web visitor {conversation.contact_id}" and welcome["visitor"] not in name


async def test_a_returning_visitor_and_a_second_tab_see_the_whole_conversation(
    visitor_for, agent_alice
) -> None:
    first = visitor_for()
    token = await first.start()
    await first.writes("First question")
    await first.close()  # the tab closes

    conversation = await sync_to_async(visitor_thread)(token)
    await sync_to_async(message_send)(
        conversation=conversation, body="An answer while you were away", author=agent_alice, channel="webchat"
    )

    again, second_tab = visitor_for(), visitor_for()
    assert await again.connect() and await second_tab.connect()
    history = (await again.hello(token))["messages"]
    assert [m["body"] for m in history] == ["First question", "An answer while you were away"]
    assert [m["mine"] for m in history] == [True, False]
    await second_tab.hello(token)
    # Both tabs hear the next message live, once each.
    await again.say("Thanks!")
    for tab in (again, second_tab):
        frame = await tab.until(lambda f: f["type"] == "message" and f["message"]["body"] == "Thanks!")
        assert frame["message"]["mine"] is True
    # A ping after a gap returns what changed, with the ids the widget dedupes on.
    pong = await again.send(type="ping", since="2000-01-01T00:00:00+00:00") or await again.until(
        lambda f: f["type"] == "pong"
    )
    assert [m["body"] for m in pong["messages"]] == [
        "First question",
        "An answer while you were away",
        "Thanks!",
    ]
    assert len({m["id"] for m in pong["messages"]}) == 3
    await again.close()
    await second_tab.close()


async def test_an_agents_reply_reaches_the_visitor_live_and_read_receipts_come_back(
    visitor_for, agent_alice
) -> None:
    visitor = visitor_for()
    token = await visitor.start()
    await visitor.writes("Is the blue runner in stock?")
    conversation = await sync_to_async(visitor_thread)(token)
    reply = await sync_to_async(message_send)(
        conversation=conversation, body="Yes, in every size.", author=agent_alice
    )  # the channel defaults to the one the customer last used: web chat
    assert reply.channel == "webchat"
    frame = await visitor.until(lambda f: f["type"] == "message" and not f["message"]["mine"])
    assert frame["message"]["body"] == "Yes, in every size."
    assert frame["message"]["name"] == agent_alice.first_name or agent_alice.username
    await visitor.until(lambda f: f["type"] == "message" and f["message"]["status"] == "sent")
    await visitor.send(type="seen", ids=[reply.pk], read=True)
    await visitor.until(lambda f: f["type"] == "message" and f["message"]["status"] == "read")
    await sync_to_async(reply.refresh_from_db)()
    assert reply.delivery_status == "read"
    await visitor.close()


async def test_the_api_sends_on_web_chat(visitor_for, alice_client) -> None:
    visitor = visitor_for()
    token = await visitor.start()
    await visitor.writes("Hello from the site")
    conversation = await sync_to_async(visitor_thread)(token)
    response = await sync_to_async(alice_client.post)(
        f"/api/v1/contacts/{conversation.contact_id}/messages/",
        {"channel": "webchat", "body": "Hello from the API"},
        content_type="application/json",
    )
    assert response.status_code == 201, response.content
    assert response.json()["channel"] == "webchat"
    frame = await visitor.until(lambda f: f["type"] == "message" and not f["message"]["mine"])
    assert frame["message"]["body"] == "Hello from the API"
    await visitor.close()


async def test_the_agents_typing_reaches_the_visitor(visitor_for, agent_alice) -> None:
    from tests.conversations.test_consumers import connect as agent_connect

    visitor = visitor_for()
    token = await visitor.start()
    await visitor.writes("Anyone there?")
    conversation = await sync_to_async(visitor_thread)(token)
    agent = await agent_connect(agent_alice)
    assert (await agent.connect())[0]
    await agent.send_json_to({"type": "subscribe", "conversation": conversation.pk})
    # Opening the thread marks the visitor's message seen, in the widget too.
    seen = await visitor.until(lambda f: f["type"] == "message" and f["message"]["seen"])
    assert seen["message"]["body"] == "Anyone there?"
    await agent.send_json_to({"type": "typing", "conversation": conversation.pk, "mode": "reply"})
    frame = await visitor.until(lambda f: f["type"] == "typing")
    assert frame["name"] in (agent_alice.first_name, agent_alice.username)
    await agent.disconnect()
    await visitor.close()

"""Who is visiting and what they read: identify with a valid hash joins the customer's lifetime thread,
the pages read before a question show above it, and a visitor nobody answers gets the reply by email."""

from __future__ import annotations

import pytest
from asgiref.sync import sync_to_async

from channels_adapters.outbound import message_send
from contacts.models import Contact, Identity
from conversations.models import AgentProfile, Conversation, Entry
from tests.webchat import SHOP, customer_with_history

pytestmark = [pytest.mark.django_db(transaction=True), pytest.mark.asyncio]


def thread_entries(contact_id: int) -> list[tuple[str, str]]:
    """The thread's entries but the lifecycle's (a first message makes the visitor a lead)."""
    conversation = Conversation.objects.get(contact_id=contact_id)
    return list(
        Entry.objects.filter(conversation=conversation)
        .exclude(event_type="contact.stage_changed")
        .order_by("created_at", "id")
        .values_list("kind", "body")
    )


async def test_identify_with_a_valid_hash_joins_the_customers_lifetime_thread(
    visitor_for, inbox_webchat, inbox_support
) -> None:
    dana = await sync_to_async(customer_with_history)(inbox_support)
    visitor = visitor_for()
    token = await visitor.start()
    await visitor.writes("Where is my order?")
    assert await visitor.identify("shop-user-1001") is True
    history = await visitor.until(lambda f: f["type"] == "history")
    assert [m["body"] for m in history["messages"]] == [
        "Is the blue trail runner back in size 9?",
        "Where is my order?",
    ]
    # One thread: the visitor's identity and anonymous chat moved to Dana, with events saying so.
    visitor_identity = await sync_to_async(Identity.objects.get)(kind="visitor", address=token.split(".")[0])
    assert visitor_identity.contact_id == dana.pk
    entries = await sync_to_async(thread_entries)(dana.pk)
    assert ("message", "Where is my order?") in entries
    assert any(kind == "event" and "verified a web chat visitor" in body for kind, body in entries)
    # A later visit with the same token is Dana from the start, and an agent's reply reaches it.
    await visitor.close()
    again = visitor_for()
    assert await again.connect()
    welcome = await again.hello(token)
    assert len(welcome["messages"]) == 2
    await again.close()


async def test_identify_with_a_valid_hash_for_a_new_user_id_makes_it_an_identity(visitor_for) -> None:
    visitor = visitor_for()
    assert await visitor.connect()
    token = (await visitor.hello())["visitor"]
    assert await visitor.identify("shop-user-2002", email="new@example.com") is True
    identity = await sync_to_async(Identity.objects.select_related("contact").get)(
        kind="external", address="shop-user-2002"
    )
    kinds = await sync_to_async(lambda: set(identity.contact.identities.values_list("kind", flat=True)))()
    assert kinds == {"visitor", "external"}  # the email came unsigned: a claim, not an identity
    contact = await sync_to_async(Contact.objects.get)(pk=identity.contact_id)
    assert contact.attributes["claimed_email"] == "new@example.com"
    assert (
        token.split(".")[0]
        in await sync_to_async(lambda: list(contact.identities.values_list("address", flat=True)))()
    )
    await visitor.close()


async def test_the_pages_read_before_the_question_are_events_above_it(visitor_for) -> None:
    visitor = visitor_for()
    assert await visitor.connect()
    token = (
        await visitor.hello(
            page={
                "url": f"{SHOP}/pricing?utm_source=newsletter&utm_campaign=spring",
                "title": "Pricing",
                "referrer": "https://www.google.com/",
            }
        )
    )["visitor"]
    await visitor.close()
    # The next page of the same visit, another tab's page of a foreign site (ignored), then the question.
    second = visitor_for()
    assert await second.connect()
    await second.hello(
        token, page={"url": f"{SHOP}/returns", "title": "Returns policy", "referrer": f"{SHOP}/pricing"}
    )
    await second.send(type="page", url="https://evil.example.test/", title="Not the shop")
    await second.say("Can I return worn shoes?")
    await second.until(lambda f: f["type"] == "message")
    identity = await sync_to_async(Identity.objects.get)(kind="visitor", address=token.split(".")[0])
    entries = await sync_to_async(thread_entries)(identity.contact_id)
    assert [kind for kind, _ in entries] == ["event", "event", "message"]
    assert entries[0][1] == (
        f"Read “Pricing” ({SHOP}/pricing?utm_source=newsletter&utm_campaign=spring), arriving from "
        "www.google.com [utm_source=newsletter, utm_campaign=spring]"
    )
    assert entries[1][1] == f"Read “Returns policy” ({SHOP}/returns)"
    # Once the visitor has a thread, page views are events at once, a reload of the same page is not.
    await second.send(type="page", url=f"{SHOP}/sizes", title="Size guide")
    await second.send(type="ping")
    await second.until(lambda f: f["type"] == "pong")
    entries = await sync_to_async(thread_entries)(identity.contact_id)
    assert entries[-1] == ("event", f"Read “Size guide” ({SHOP}/sizes)")
    await second.close()


async def test_nobody_online_asks_for_an_email_and_the_reply_goes_there(
    visitor_for, inbox_webchat, agent_alice, team_support
) -> None:
    from tests import factories

    await sync_to_async(factories.InboxFactory)(
        name="Support email", kind="email", address="support@shoes.example", team=team_support
    )
    await sync_to_async(AgentProfile.objects.update)(availability=AgentProfile.OFFLINE)
    visitor = visitor_for()
    assert await visitor.connect()
    welcome = await visitor.hello()
    assert welcome["inbox"]["online"] is False
    assert "Leave your email" in welcome["inbox"]["away"]
    await visitor.say("Do you have wide fits?")
    await visitor.until(lambda f: f["type"] == "message")
    await visitor.send(type="email", email="Visitor@Example.com")
    assert (await visitor.until(lambda f: f["type"] == "email_saved"))["email"] == "visitor@example.com"
    await visitor.close()  # the visitor closes the tab

    identity = await sync_to_async(Identity.objects.select_related("contact").get)(
        kind="visitor", address=welcome["visitor"].split(".")[0]
    )
    conversation = await sync_to_async(Conversation.objects.select_related("contact").get)(
        contact=identity.contact
    )
    reply = await sync_to_async(message_send)(
        conversation=conversation, body="We do, in sizes 7 to 13.", author=agent_alice
    )
    assert (reply.channel, reply.to_address) == ("email", "visitor@example.com")

    assert reply.to_address != ""
    # The email sits in the sandbox (no EMAIL_HOST in tests), from the business's email inbox.
    await sync_to_async(reply.refresh_from_db)()
    assert reply.delivery_status == "sent"
    identities = await sync_to_async(
        lambda: set(identity.contact.identities.values_list("kind", flat=True))
    )()
    assert identities == {"visitor"}  # the address is still a claim

    # The customer answers the email: it lands in the same thread, through the signed reply address.
    def answer() -> Entry | None:
        from channels_adapters.email.services import email_store
        from channels_adapters.email.tokens import reply_address

        raw = (
            b"From: Visitor <visitor@example.com>\r\n"
            b"To: " + reply_address(entry_id=reply.pk, domain="shoes.example").encode() + b"\r\n"
            b"Subject: Re: your question\r\n"
            b"Message-ID: <answer-1@example.com>\r\n"
            b"Content-Type: text/plain; charset=utf-8\r\n\r\n"
            b"Great, I'll order a 10 wide.\r\n"
        )
        event, _ = email_store(raw=raw, source="test")
        event.refresh_from_db()
        return event.entry

    entry = await sync_to_async(answer)()
    assert entry is not None
    assert entry.conversation_id == conversation.pk
    assert (entry.channel, entry.body.strip()) == ("email", "Great, I'll order a 10 wide.")


async def test_a_shared_browser_identified_as_another_customer_never_merges_the_two(
    visitor_for, inbox_support
) -> None:
    dana = await sync_to_async(customer_with_history)(inbox_support)
    visitor = visitor_for()
    token = await visitor.start()
    assert await visitor.identify("shop-user-1001") is True  # Dana logs in on the family computer
    await visitor.writes("Dana's question")
    # Later her brother logs in on the same browser: a user id the hub has never seen.
    assert await visitor.identify("shop-user-3003") is True
    history = await visitor.until(lambda f: f["type"] == "history")
    assert history["messages"] == []  # he sees nothing of Dana's
    brother = await sync_to_async(Identity.objects.get)(kind="external", address="shop-user-3003")
    assert brother.contact_id != dana.pk
    moved = await sync_to_async(Identity.objects.get)(kind="visitor", address=token.split(".")[0])
    assert moved.contact_id == brother.contact_id
    await visitor.writes("His question")
    # Dana logs in again: the browser is hers again; neither customer was merged into the other.
    assert await visitor.identify("shop-user-1001") is True
    history = await visitor.until(lambda f: f["type"] == "history")
    assert "His question" not in [m["body"] for m in history["messages"]]
    assert "Dana's question" in [m["body"] for m in history["messages"]]
    # Only the anonymous visitor of the first chat was merged (into Dana); the two customers stand apart.
    merged = await sync_to_async(
        lambda: set(Contact.objects.filter(merged_into__isnull=False).values_list("pk", flat=True))
    )()
    assert dana.pk not in merged and brother.contact_id not in merged and len(merged) == 1
    await visitor.close()


async def test_closing_one_of_two_tabs_keeps_the_reply_in_the_chat(
    visitor_for, inbox_webchat, agent_alice, team_support
) -> None:
    """A visitor with two tabs open who closes one is still there: the reply stays in the chat. Only when
    the last tab closes does it go to the email they left."""
    from channels.db import database_sync_to_async

    from tests import factories

    await sync_to_async(factories.InboxFactory)(
        name="Support email", kind="email", address="support@shoes.example", team=team_support
    )
    first, second = visitor_for(), visitor_for()
    token = await first.start()
    assert await second.connect()
    await second.hello(token)
    await first.writes("Do you have wide fits?")
    await first.send(type="email", email="visitor@example.com")
    await first.until(lambda f: f["type"] == "email_saved")
    await first.close()  # one tab closes; the other is still open

    identity = await sync_to_async(Identity.objects.get)(kind="visitor", address=token.split(".")[0])
    conversation = await sync_to_async(Conversation.objects.select_related("contact").get)(
        contact_id=identity.contact_id
    )
    reply = await sync_to_async(message_send)(
        conversation=conversation, body="We do, in sizes 7 to 13.", author=agent_alice
    )
    assert reply.channel == "webchat"
    await second.until(
        lambda f: f["type"] == "message" and f["message"]["body"] == "We do, in sizes 7 to 13."
    )

    await second.close()  # the last tab closes
    # database_sync_to_async: the thread's connection is closed after, as in the consumers.
    later = await database_sync_to_async(message_send)(
        conversation=conversation, body="Anything else?", author=agent_alice
    )
    assert (later.channel, later.to_address) == ("email", "visitor@example.com")

"""The attacker's list for the web chat widget: hostile origins, someone else's visitor id, a forged
user_hash, oversized messages, floods, and HTML in what a visitor writes.

(Hostile origins and unknown widget keys: tests/channels_adapters/webchat/test_consumer.py.)
"""

from __future__ import annotations

from typing import Any

import pytest
from asgiref.sync import sync_to_async
from django.test import Client

from channels_adapters.models import InboundEvent
from channels_adapters.webchat.identity import user_hash, visitor_token_new
from config import throttling
from contacts.models import Contact, Identity
from conversations.models import Entry, Inbox
from tests import factories, webchat
from tests.webchat import IDENTITY_SECRET, SHOP, client_id, inbox_webchat, visitor_for

pytestmark = [pytest.mark.django_db(transaction=True), pytest.mark.asyncio]
__all__ = ["inbox_webchat", "visitor_for"]  # fixtures

SECRET_HISTORY = "My card ends 4242 and I live at 1 Secret Lane"


def customer_with_history(inbox: Inbox) -> Contact:
    return webchat.customer_with_history(inbox, body=SECRET_HISTORY)


def visitor_contact(token: str) -> Contact:
    return webchat.visitor_thread(token).contact


async def test_someone_elses_visitor_id_is_never_accepted(visitor_for, inbox_webchat) -> None:
    alice = visitor_for()
    alice_token = await alice.start()
    await alice.writes("My order number is 5531")
    alice_id, tag = alice_token.split(".")
    other_inbox = await sync_to_async(factories.InboxFactory)(
        kind="webchat", address="", allowed_origins=[SHOP]
    )
    _, other_sites_token = visitor_token_new(inbox_id=other_inbox.pk)
    forgeries = [
        alice_id,  # the id alone
        f"{alice_id}.{'0' * 64}",  # a made-up tag
        f"{alice_id}.{tag[:-1]}",  # a truncated tag
        f"{alice_id}.{tag.upper()}",
        f"{other_sites_token.split('.')[0]}.{tag}",  # Alice's tag on another id
        other_sites_token,  # a valid token of another widget
        {"visitor": alice_id},
    ]
    for forged in forgeries:
        mallory = visitor_for()
        assert await mallory.connect()
        welcome = await mallory.hello(forged)  # type: ignore[arg-type]
        assert welcome["visitor"] != alice_token
        assert welcome["visitor"].split(".")[0] != alice_id
        assert welcome["messages"] == [], forged
        await mallory.close()
    await alice.close()


async def test_a_visitor_reads_only_their_own_thread_whatever_ids_they_send(
    visitor_for, inbox_webchat, agent_alice
) -> None:
    from channels_adapters.outbound import message_send

    alice = visitor_for()
    alice_token = await alice.start()
    await alice.writes("Private question")
    thread = await sync_to_async(webchat.visitor_thread)(alice_token)
    reply = await sync_to_async(message_send)(
        conversation=thread, body="Private answer", author=agent_alice, channel="webchat"
    )

    mallory = visitor_for()
    assert await mallory.connect()
    await mallory.hello()
    # Ids of someone else's entries and thread, in every field a frame has.
    await mallory.send(type="seen", ids=[reply.pk], read=True)
    await mallory.send(
        type="ping", since="2000-01-01T00:00:00+00:00", conversation=thread.pk, visitor=alice_token
    )
    pong = await mallory.until(lambda f: f["type"] == "pong")
    assert pong["messages"] == []
    cid = client_id()
    await mallory.send(type="message", id=cid, body="hi", conversation=thread.pk, visitor=alice_token)
    await mallory.until(lambda f: f.get("id") == cid)
    # Alice's next messages reach Alice, never Mallory.
    await alice.say("Another private line")
    await alice.until(lambda f: f["type"] == "message" and f["message"]["body"] == "Another private line")
    seen_by_mallory: list[dict[str, Any]] = []
    while not await mallory.socket.receive_nothing(timeout=0.5):
        seen_by_mallory.append(await mallory.socket.receive_json_from())
    bodies = [f["message"]["body"] for f in seen_by_mallory if f["type"] == "message"]
    assert "Another private line" not in bodies and "Private answer" not in bodies
    assert bodies == ["hi"]  # only Mallory's own message, in Mallory's own thread
    await sync_to_async(reply.refresh_from_db)()
    assert reply.delivery_status != "read"
    assert await sync_to_async(Entry.objects.filter(conversation=thread, body="hi").exists)() is False
    await alice.close()
    await mallory.close()


async def test_a_forged_user_hash_links_nothing(visitor_for, inbox_webchat) -> None:
    dana = await sync_to_async(customer_with_history)(inbox_webchat)
    mallory = visitor_for()
    token = await mallory.start()
    await mallory.writes("Hi, it's me, Dana")
    forged_hashes = [
        "",
        "0" * 64,
        user_hash(secret="a guessed secret", value="shop-user-1001"),
        user_hash(secret=IDENTITY_SECRET, value="shop-user-1002"),  # valid for another user
        user_hash(secret=IDENTITY_SECRET, value="shop-user-1001")[:63],  # truncated
    ]
    for forged in forged_hashes:
        assert await mallory.identify("shop-user-1001", email="dana@example.com", user_hash=forged) is False
        history = await mallory.until(lambda f: f["type"] == "history")
        assert SECRET_HISTORY not in [m["body"] for m in history["messages"]]
    contact = await sync_to_async(visitor_contact)(token)
    assert contact.pk != dana.pk and contact.merged_into_id is None
    # What Mallory claimed is kept as unverified attributes, never as identities.
    assert contact.attributes["claimed_email"] == "dana@example.com"
    assert contact.attributes["claimed_user_id"] == "shop-user-1001"
    kinds = await sync_to_async(lambda: sorted(contact.identities.values_list("kind", flat=True)))()
    assert kinds == ["visitor"]
    assert await sync_to_async(Identity.objects.filter(address="shop-user-1001").count)() == 1
    await mallory.close()


async def test_an_email_signed_for_nobody_or_claimed_without_a_hash_shows_no_history(
    visitor_for, inbox_webchat
) -> None:
    dana = await sync_to_async(customer_with_history)(inbox_webchat)
    mallory = visitor_for()
    assert await mallory.connect()
    token = (await mallory.hello())["visitor"]
    # A valid hash for Mallory's own shop account, with Dana's email beside it: the email is only a claim.
    assert await mallory.identify("shop-user-6666", email="dana@example.com") is True
    history = await mallory.until(lambda f: f["type"] == "history")
    assert SECRET_HISTORY not in [m["body"] for m in history["messages"]]
    # Leaving Dana's email for an answer by email is a claim too.
    await mallory.send(type="email", email="dana@example.com")
    await mallory.until(lambda f: f["type"] == "email_saved")
    contact = await sync_to_async(visitor_contact)(token)
    assert contact.pk != dana.pk
    assert await sync_to_async(
        Identity.objects.filter(kind="email", address="dana@example.com", contact=dana).exists
    )()
    assert not await sync_to_async(Identity.objects.filter(kind="email", contact=contact).exists)()
    await mallory.close()


async def test_messages_over_the_size_limit_are_refused_with_a_message(visitor_for, settings) -> None:
    settings.WEBCHAT_MAX_CHARS = 100
    visitor = visitor_for()
    assert await visitor.connect()
    await visitor.hello()
    refused = await visitor.say("x" * 101)
    assert refused["type"] == "error" and refused["code"] == "too_long"
    assert "101 characters; the limit is 100" in refused["message"]
    assert (await visitor.say("x" * 100))["type"] == "ack"
    # A frame too large to be a message at all is refused before it is read.
    await visitor.socket.send_to(
        text_data='{"type": "message", "id": "abcdefgh", "body": "' + "y" * 70_000 + '"}'
    )
    assert (await visitor.until(lambda f: f["type"] == "error"))["code"] == "too_long"
    assert await sync_to_async(InboundEvent.objects.filter(kind="webchat").count)() == 1
    await visitor.close()


async def test_a_visitor_over_the_rate_limit_is_refused_and_loses_nothing_it_was_told_was_sent(
    visitor_for, settings, monkeypatch
) -> None:
    settings.THROTTLE_RATES = {**settings.THROTTLE_RATES, "webchat_visitor": "3/min", "webchat_ip": "5/min"}
    # One fixed minute: a slow run that crossed into the next window would start the counts afresh.
    monkeypatch.setattr(throttling, "clock", lambda: 1_800_000_030.0)
    visitor = visitor_for()
    assert await visitor.connect()
    await visitor.hello()
    answers = [await visitor.say(f"message {n}") for n in range(4)]
    assert [a["type"] for a in answers] == ["ack", "ack", "ack", "error"]
    assert answers[3]["code"] == "rate_limited"
    assert "too fast" in answers[3]["message"] and answers[3]["retry_after"] >= 1
    # New visitor ids cost nothing: the address's own limit holds them.
    others = []
    for _ in range(3):
        other = visitor_for()
        assert await other.connect()
        await other.hello()
        others.append(await other.say("flood"))
        await other.close()
    assert [a["type"] for a in others] == ["ack", "ack", "error"]
    assert await sync_to_async(InboundEvent.objects.filter(kind="webchat").count)() == 5
    await visitor.close()


async def test_html_and_script_from_a_visitor_are_text_for_the_agent(visitor_for, agent_alice) -> None:
    attack = '<script>alert("x")</script><img src=x onerror=alert(1)>'
    visitor = visitor_for()
    assert await visitor.connect()
    token = (await visitor.hello())["visitor"]
    await visitor.say(attack)
    frame = await visitor.until(lambda f: f["type"] == "message")
    assert frame["message"]["body"] == attack  # the widget sets it as text (checked in the browser test)
    thread = await sync_to_async(webchat.visitor_thread)(token)

    def agent_page() -> str:
        client = Client()
        client.force_login(agent_alice)
        return client.get(f"/inbox/{thread.pk}/").content.decode()

    page = await sync_to_async(agent_page)()
    assert "&lt;script&gt;alert(&quot;x&quot;)&lt;/script&gt;&lt;img src=x onerror=alert(1)&gt;" in page
    assert "<img src=x onerror" not in page and '<script>alert("x")' not in page
    await visitor.close()


# --- A host site's user ids are its own (issue 14, finding 1) ---------------------------------------
SITE_B_SECRET = "another-shops-identity-secret-9876"


async def _site_b(inbox_webchat: Inbox, **fields: Any) -> Inbox:
    """A second shop with a web chat of its own, for another team, signing with its own secret."""
    team = await sync_to_async(factories.TeamFactory)(name="Other shop's team")
    fields.setdefault("identity_secret", SITE_B_SECRET)
    return await sync_to_async(factories.InboxFactory)(
        name="Other shop chat", kind="webchat", address="", team=team, allowed_origins=[SHOP], **fields
    )


async def test_a_user_id_signed_by_another_site_never_opens_this_sites_customer(
    visitor_for, inbox_webchat
) -> None:
    # Site A: its user 42 logs in and writes something private.
    alice = visitor_for()
    alice_token = await alice.start()
    assert await alice.identify("42") is True
    await alice.writes("my card ends 4242")
    site_a_customer = await sync_to_async(visitor_contact)(alice_token)

    # Site B: its own user 42, signed with B's own secret, as B's server rightly does.
    site_b = await _site_b(inbox_webchat)
    bob = visitor_for(widget_key=site_b.widget_key)
    bob_token = await bob.start()
    assert await bob.identify("42", user_hash=user_hash(secret=SITE_B_SECRET, value="42")) is True
    history = await bob.until(lambda f: f["type"] == "history")
    assert "my card ends 4242" not in [m["body"] for m in history["messages"]]
    await bob.writes("Hello from site B's user 42")

    site_b_customer = await sync_to_async(visitor_contact)(bob_token)
    assert site_b_customer.pk != site_a_customer.pk
    a_thread = await sync_to_async(
        lambda: list(Entry.objects.filter(conversation__contact=site_a_customer))
    )()
    assert "Hello from site B's user 42" not in [e.body for e in a_thread]
    scopes = await sync_to_async(
        lambda: set(Identity.objects.filter(kind="external", address="42").values_list("scope", flat=True))
    )()
    assert scopes == {f"webchat:{inbox_webchat.pk}", f"webchat:{site_b.pk}"}
    await alice.close()
    await bob.close()


async def test_a_site_linked_on_purpose_shares_its_users_and_signs_with_the_sites_secret(
    visitor_for, inbox_webchat
) -> None:
    dana = await sync_to_async(customer_with_history)(inbox_webchat)
    shop_app = await _site_b(inbox_webchat, identity_site=inbox_webchat)
    # The linked inbox's own secret no longer signs: the site's does.
    stranger = visitor_for(widget_key=shop_app.widget_key)
    await stranger.start()
    assert (
        await stranger.identify(
            "shop-user-1001", user_hash=user_hash(secret=SITE_B_SECRET, value="shop-user-1001")
        )
        is False
    )
    await stranger.close()
    visitor = visitor_for(widget_key=shop_app.widget_key)
    token = await visitor.start()
    assert await visitor.identify("shop-user-1001") is True  # signed with the shop's (the site's) secret
    history = await visitor.until(lambda f: f["type"] == "history")
    assert SECRET_HISTORY in [m["body"] for m in history["messages"]]
    assert (await sync_to_async(visitor_contact)(token)).pk == dana.pk
    await visitor.close()


async def test_an_email_signed_by_any_site_names_the_same_customer_everywhere(
    visitor_for, inbox_webchat
) -> None:
    dana = await sync_to_async(customer_with_history)(inbox_webchat)
    site_b = await _site_b(inbox_webchat)
    visitor = visitor_for(widget_key=site_b.widget_key)
    token = await visitor.start()
    await visitor.send(
        type="identify",
        email="dana@example.com",
        user_hash=user_hash(secret=SITE_B_SECRET, value="dana@example.com"),
    )
    assert (await visitor.until(lambda f: f["type"] == "identified"))["verified"] is True
    assert (await sync_to_async(visitor_contact)(token)).pk == dana.pk
    await visitor.close()

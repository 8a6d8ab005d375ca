"""Web chat fixtures: a widget inbox embedded by the shop's site, and a visitor's socket to drive.

Imported by the conftests (and test modules) that use them."""

from __future__ import annotations

import asyncio
import uuid
from collections.abc import Callable
from typing import Any

import pytest
from channels.testing import WebsocketCommunicator

from channels_adapters.webchat.identity import user_hash
from config.asgi import application
from contacts.addresses import site_scope
from contacts.models import Contact, Identity
from contacts.services import contact_resolve
from conversations.models import Conversation, Inbox, Team
from conversations.services import conversation_get_or_create, entry_append
from tests import factories

SHOP = "https://shop.example.test"
IDENTITY_SECRET = "shop-identity-secret-0123456789"
DANA_HISTORY = "Is the blue trail runner back in size 9?"


def customer_with_history(inbox: Inbox, body: str = DANA_HISTORY, site: Inbox | None = None) -> Contact:
    """Dana: a customer with a phone, the shop's user id shop-user-1001 (on the shop's web chat site: `site`,
    or the one web chat inbox), an email and an SMS in her thread."""
    contact, _ = contact_resolve(kind="phone", address="+14155550142", name="Dana Whitaker")
    site = site or Inbox.objects.get(kind=Inbox.WEBCHAT)
    Identity.objects.create(
        contact=contact, kind="external", scope=site_scope(site.pk), address="shop-user-1001"
    )
    Identity.objects.create(contact=contact, kind="email", address="dana@example.com")
    entry_append(
        conversation=conversation_get_or_create(contact=contact),
        kind="message",
        direction="inbound",
        channel="sms",
        inbox=inbox,
        body=body,
    )
    return contact


@pytest.fixture
def inbox_webchat(team_support: Team) -> Inbox:
    return factories.InboxFactory(
        name="Shop chat",
        kind=Inbox.WEBCHAT,
        address="",
        team=team_support,
        allowed_origins=[SHOP],
        identity_secret=IDENTITY_SECRET,
    )


def visitor_thread(token: str) -> Conversation:
    """The lifetime thread a visitor token's visitor writes to."""
    identity = Identity.objects.select_related("contact").get(kind="visitor", address=token.split(".")[0])
    return Conversation.objects.select_related("contact").get(contact=identity.contact)


def client_id() -> str:
    return uuid.uuid4().hex


class Visitor:
    """One widget tab: a websocket to /ws/webchat/<key>/ from a page of `origin`."""

    def __init__(self, widget_key: str, origin: str = SHOP, ip: str = "203.0.113.7") -> None:
        headers = [(b"origin", origin.encode())] if origin else []
        self.socket = WebsocketCommunicator(application, f"/ws/webchat/{widget_key}/", headers=headers)
        self.socket.scope["client"] = (ip, 50000)
        self.token: str | None = None

    async def connect(self) -> bool:
        connected, _ = await self.socket.connect()
        if not connected:
            # As a server does after a refused handshake: the consumer then ends instead of waiting on the layer.
            await self.socket.disconnect()
        return bool(connected)

    async def hello(self, token: str | None = None, page: dict[str, str] | None = None) -> dict[str, Any]:
        await self.socket.send_json_to({"type": "hello", "visitor": token, "page": page})
        welcome = await self.until(lambda f: f["type"] == "welcome")
        self.token = welcome["visitor"]
        return welcome

    async def start(self, token: str | None = None) -> str:
        """Connect and say hello; the visitor token the hub answers with."""
        assert await self.connect(), "the handshake was refused"
        return str((await self.hello(token))["visitor"])

    async def writes(self, body: str) -> dict[str, Any]:
        """Send a message and wait until it is in the thread (its frame comes back)."""
        assert (await self.say(body))["type"] == "ack"
        frame = await self.until(lambda f: f["type"] == "message" and f["message"]["body"] == body)
        return dict(frame["message"])

    async def send(self, **frame: Any) -> None:
        await self.socket.send_json_to(frame)

    async def say(self, body: str, cid: str | None = None) -> dict[str, Any]:
        """Send a message and wait for the hub's answer to it (ack or error)."""
        cid = cid or client_id()
        await self.send(type="message", id=cid, body=body)
        return await self.until(lambda f: f["type"] in ("ack", "error") and f.get("id") == cid)

    async def identify(
        self, user_id: str, *, email: str = "", signed: str | None = None, **hash_: str
    ) -> bool:
        """Hub.identify for `user_id`, with a hash of `signed` (default: the user id) by the shop's secret, or
        the given `user_hash`; returns whether the hub verified it."""
        given = hash_.get("user_hash", user_hash(secret=IDENTITY_SECRET, value=signed or user_id))
        await self.send(type="identify", user_id=user_id, email=email, name="Dana", user_hash=given)
        return bool((await self.until(lambda f: f["type"] == "identified"))["verified"])

    async def until(
        self, predicate: Callable[[dict[str, Any]], bool], timeout: float = 15.0
    ) -> dict[str, Any]:
        deadline = asyncio.get_running_loop().time() + timeout
        while True:
            remaining = deadline - asyncio.get_running_loop().time()
            frame = await self.socket.receive_json_from(timeout=max(0.05, remaining))
            if predicate(frame):
                return frame

    async def close(self) -> None:
        await self.socket.disconnect()


@pytest.fixture
def visitor_for(inbox_webchat: Inbox) -> Callable[..., Visitor]:
    def make(origin: str = SHOP, widget_key: str | None = None) -> Visitor:
        return Visitor(widget_key if widget_key is not None else inbox_webchat.widget_key, origin)

    return make

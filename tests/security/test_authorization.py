"""Another team's ids answer exactly like ids that do not exist, on every route and websocket message.

The table below lists every route that takes an id: a walk of the URL conf and of the API's own OpenAPI
document fails for any route with an id that is not in it. Each is then called as agent_alice (Support)
with the ids of Sales' thread, contact, entries, attachment and inbox, and with an id that does not
exist: the same status (404) and the same body, and nothing changes. Managers see all of them.
"""

from __future__ import annotations

import asyncio
import re
from typing import Any

import pytest
from asgiref.sync import sync_to_async
from channels.testing import WebsocketCommunicator
from django.core.files.base import ContentFile
from django.test import Client
from django.urls import URLPattern, URLResolver, get_resolver
from rest_framework.test import APIClient

from conversations.models import AgentProfile, Attachment, Conversation, Entry
from conversations.selectors import realtime_latest_seq
from tests.conftest import PUBLIC_BASE_URL, sms_in

PNG = b"\x89PNG\r\n\x1a\n" + b"\x00" * 64
MISSING = 999_999

# Each route that takes an id: (method, what the id names, form data) for every method it answers.
ROUTES_WITH_IDS: dict[str, list[tuple[str, str, dict[str, str]]]] = {
    "inbox/<int:conversation_id>/": [("get", "conversation", {})],
    "inbox/<int:conversation_id>/entries/": [("get", "conversation", {})],
    "inbox/<int:conversation_id>/reply/": [
        ("post", "conversation", {"body": "hi"}),
        ("post", "conversation", {"body": "a note", "kind": "note"}),
    ],
    "inbox/<int:conversation_id>/status/": [("post", "conversation", {"status": "resolved"})],
    "inbox/<int:conversation_id>/assign/": [("post", "conversation", {"assignee": "me"})],
    "inbox/<int:conversation_id>/call/": [("post", "conversation", {})],
    "inbox/entries/<int:entry_id>/retry/": [("post", "entry", {})],
    "inbox/entries/<int:entry_id>/identity/": [("post", "email_entry", {})],
    "inbox/<int:conversation_id>/merge/": [("post", "conversation", {"contact": "{other_contact}"})],
    "attachments/<int:attachment_id>/": [("get", "attachment", {})],
    "api/v1/contacts/<int:pk>/": [("get", "contact", {})],
    "api/v1/contacts/<int:pk>/timeline/": [("get", "contact", {})],
    "api/v1/contacts/<int:pk>/messages/": [("post", "contact", {"body": "hi"})],
    "api/v1/contacts/<int:pk>/merge/": [("post", "contact", {"contact": "{other_contact}"})],
    "api/v1/inboxes/<int:pk>/": [("get", "inbox", {}), ("patch", "inbox", {"name": "Mine now"})],
}
# Changing an inbox is for admins, who see every inbox: anyone else is refused before the id is read.
EXPECTED_STATUS = {("api/v1/inboxes/<int:pk>/", "patch"): 403}

# Ids that travel in a query string or a form rather than the path: (method, path, field, data).
IDS_IN_PARAMETERS = [
    ("post", "inbox/{conversation}/reply/", "inbox", {"body": "from their number"}),
    ("post", "api/v1/contacts/{contact}/messages/", "inbox", {"body": "from their number"}),
    ("post", "inbox/{conversation}/call/", "inbox", {}),
    ("get", "inbox/", "inbox", {"status": "all"}),
    ("get", "inbox/rows/", "inbox", {"status": "all"}),
]


def _normalized(route: str) -> str:
    """`inbox/<int:conversation_id>/` and `/inbox/{id}/` both become `inbox/{}/`."""
    route = re.sub(r"<(?:\w+:)?\w+>|\{\w+\}|\(\?P<\w+>[^)]*\)", "{}", route)
    return route.lstrip("^/").rstrip("$")


def _routes_with_ids() -> list[str]:
    found: list[str] = []

    def walk(patterns: Any, prefix: str = "") -> None:
        for pattern in patterns:
            if isinstance(pattern, URLResolver):
                walk(pattern.url_patterns, prefix + str(pattern.pattern))
            elif isinstance(pattern, URLPattern):
                route = prefix + str(pattern.pattern)
                if "<" in route or "(?P" in route:
                    found.append(route)

    walk(get_resolver().url_patterns)
    return [route for route in found if not route.startswith("admin/")]


def test_every_route_that_takes_an_id_is_in_the_table() -> None:
    """A new route with an id must be added to ROUTES_WITH_IDS, and so to the tests below."""
    assert sorted(_normalized(route) for route in _routes_with_ids()) == sorted(
        _normalized(route) for route in ROUTES_WITH_IDS
    )


@pytest.mark.django_db
def test_every_api_operation_that_takes_an_id_is_in_the_table(client) -> None:
    document = client.get("/api/schema/", {"format": "json"}).json()
    table = {
        (_normalized(route), method) for route, calls in ROUTES_WITH_IDS.items() for method, _, _ in calls
    }
    in_document = {
        (_normalized(path), method)
        for path, operations in document["paths"].items()
        if "{" in path
        for method in operations
        if method in ("get", "post", "put", "patch", "delete")
    }
    assert in_document - table == set()


def test_no_websocket_route_takes_an_id() -> None:
    """Ids reach the agent socket only in messages (tested below); a route with one would need a row here."""
    from config.asgi import websocket_urlpatterns

    assert [str(p.pattern) for p in websocket_urlpatterns if "<" in str(p.pattern)] == []


# --- the calls -------------------------------------------------------------------------------------------
@pytest.fixture
def sales(inbox_sales, agent_bob) -> dict[str, int]:
    """Sales' thread with an inbound text, a failed reply, a note and a stored image."""
    inbound = sms_in(inbox_sales, "Team discount for 20 pairs?", phone="+12125550187")
    conversation = inbound.conversation
    failed = Entry.objects.create(
        conversation=conversation,
        kind="message",
        direction="outbound",
        channel="sms",
        inbox=inbox_sales,
        body="We can do 15%.",
        delivery_status="failed",
        to_address="+12125550187",
        created_at=inbound.created_at,
    )
    attachment = Attachment.objects.create(
        entry=inbound, state="stored", content_type="image/png", filename="pairs.png", size=len(PNG)
    )
    attachment.file.save("pairs.png", ContentFile(PNG))
    # An email from a new address, offered as an identity; and another Sales customer to merge.
    email_entry = Entry.objects.create(
        conversation=conversation,
        kind="message",
        direction="inbound",
        channel="email",
        inbox=inbox_sales,
        body="From my work address",
        data={"identity_suggestion": "buyer@work.example"},
        created_at=inbound.created_at,
    )
    other = sms_in(inbox_sales, "It's me again, new phone", phone="+12125550188").conversation
    return {
        "email_entry": email_entry.pk,
        "other_contact": other.contact_id,
        "conversation": conversation.pk,
        "entry": failed.pk,
        "attachment": attachment.pk,
        "contact": conversation.contact_id,
        "inbox": inbox_sales.pk,
    }


def _client(route: str, user: Any) -> Any:
    client = APIClient() if route.startswith("api/") else Client()
    client.force_login(user)
    return client


def _call(
    client: Any,
    route: str,
    method: str,
    object_id: int,
    data: dict[str, str],
    ids: dict[str, int] | None = None,
) -> Any:
    path = "/" + re.sub(r"<[^>]+>", str(object_id), route)
    data = {key: value.format(**(ids or {})) for key, value in data.items()}
    if method == "get":
        return client.get(path)
    if method == "patch":
        return client.patch(path, data, format="json")
    return client.post(path, data)


def _comparable(content: bytes) -> bytes:
    """A page without its per-response CSRF token (masked afresh on every response)."""
    return re.sub(rb'name="csrfmiddlewaretoken" value="[^"]*"', b"", content)


def _snapshot() -> tuple[Any, ...]:
    return (
        list(Entry.objects.order_by("pk").values_list("pk", "delivery_status", "body")),
        list(Conversation.objects.order_by("pk").values_list("pk", "status", "assignee_id")),
        list(Attachment.objects.order_by("pk").values_list("pk", "state")),
    )


CALLS = [(route, n) for route, calls in ROUTES_WITH_IDS.items() for n in range(len(calls))]


@pytest.mark.django_db
@pytest.mark.parametrize("route,n", CALLS, ids=[f"{ROUTES_WITH_IDS[r][n][0]} {r}" for r, n in CALLS])
def test_another_teams_ids_answer_exactly_like_ids_that_do_not_exist(
    route, n, sales, agent_alice, inbox_support
) -> None:
    method, kind, data = ROUTES_WITH_IDS[route][n]
    client = _client(route, agent_alice)
    before = _snapshot()
    hidden = _call(client, route, method, sales[kind], data, sales)
    missing = _call(client, route, method, MISSING, data, sales)
    expected = EXPECTED_STATUS.get((route, method), 404)
    assert (hidden.status_code, missing.status_code) == (expected, expected)
    assert hidden.content == missing.content
    assert hidden["Content-Type"] == missing["Content-Type"]
    assert _snapshot() == before


@pytest.mark.django_db
@pytest.mark.parametrize("method,path,field,data", IDS_IN_PARAMETERS)
def test_another_teams_inbox_id_in_a_parameter_is_not_found_either(
    method, path, field, data, sales, agent_alice, inbox_support
) -> None:
    mine = sms_in(inbox_support, "Where is my order?", phone="+14155550142").conversation
    target = "/" + path.format(conversation=mine.pk, contact=mine.contact_id)
    client = _client(path, agent_alice)
    before = _snapshot()
    answers = []
    for inbox_id in (sales["inbox"], MISSING):
        params = {**data, field: str(inbox_id)}
        response = client.get(target, params) if method == "get" else client.post(target, params)
        answers.append(response)
    hidden, missing = (_comparable(answer.content) for answer in answers)
    assert answers[0].status_code == answers[1].status_code
    assert hidden == missing.replace(str(MISSING).encode(), str(sales["inbox"]).encode())
    assert b"Sales line" not in hidden and b"Team discount" not in hidden
    assert _snapshot() == before


@pytest.mark.django_db
@pytest.mark.parametrize("route,n", CALLS, ids=[f"{ROUTES_WITH_IDS[r][n][0]} {r}" for r, n in CALLS])
def test_managers_and_admins_reach_every_one_of_them(route, n, sales, manager_maria, admin_ada) -> None:
    method, kind, data = ROUTES_WITH_IDS[route][n]
    user = admin_ada if method == "patch" else manager_maria  # changing an inbox is for admins
    AgentProfile.objects.filter(user=user).update(phone="+14155550177")  # click-to-call rings it
    response = _call(_client(route, user), route, method, sales[kind], data, sales)
    assert response.status_code in (200, 201, 202), (response.status_code, response.content[:300])


@pytest.mark.django_db
@pytest.mark.parametrize("path", ["inbox/{conversation}/merge/", "api/v1/contacts/{contact}/merge/"])
def test_another_teams_contact_id_to_merge_is_not_found_either(
    path, sales, agent_alice, inbox_support
) -> None:
    mine = sms_in(inbox_support, "Where is my order?", phone="+14155550142").conversation
    target = "/" + path.format(conversation=mine.pk, contact=mine.contact_id)
    client = _client(path, agent_alice)
    before = _snapshot()
    hidden, missing = (client.post(target, {"contact": str(i)}) for i in (sales["contact"], MISSING))
    assert hidden.status_code == missing.status_code == 404
    assert hidden.content == missing.content
    assert _snapshot() == before


# --- the websocket ---------------------------------------------------------------------------------------
async def _socket(user: Any) -> WebsocketCommunicator:
    from config.asgi import application

    def cookie() -> bytes:
        client = Client()
        client.force_login(user)
        return f"sessionid={client.cookies['sessionid'].value}".encode()

    headers = [(b"origin", PUBLIC_BASE_URL.encode()), (b"cookie", await sync_to_async(cookie)())]
    communicator = WebsocketCommunicator(application, "/ws/agent/", headers=headers)
    connected, _ = await communicator.connect()
    assert connected
    assert (await communicator.receive_json_from())["type"] == "hello"
    return communicator


async def _receive_until(communicator: WebsocketCommunicator, predicate: Any) -> dict[str, Any]:
    while True:
        frame = await communicator.receive_json_from(timeout=5)
        if predicate(frame):
            return dict(frame)


async def _frames(communicator: WebsocketCommunicator, timeout: float = 1.0) -> list[dict[str, Any]]:
    frames = []
    try:
        while True:
            frames.append(await communicator.receive_json_from(timeout=timeout))
    except TimeoutError:
        return frames


@pytest.mark.django_db(transaction=True)
@pytest.mark.asyncio
async def test_websocket_messages_with_another_teams_ids_are_answered_as_for_ids_that_do_not_exist(
    agent_alice, manager_maria, inbox_sales, inbox_support
) -> None:
    # A first event, so the position the page resumes from is inside the event log (ids outlive a flush).
    await sync_to_async(sms_in)(inbox_support, "an earlier question", phone="+14155550111")
    start = await sync_to_async(realtime_latest_seq)()
    hidden = (
        await sync_to_async(sms_in)(inbox_sales, "Team discount?", phone="+12125550187")
    ).conversation_id
    alice = await _socket(agent_alice)
    answers = {}
    for conversation_id in (hidden, MISSING):
        await alice.send_json_to({"type": "subscribe", "conversation": conversation_id})
        answers[conversation_id] = await alice.receive_json_from()
    assert answers[hidden] == {"type": "error", "error": "not_found", "conversation": hidden}
    assert answers[MISSING] == {"type": "error", "error": "not_found", "conversation": MISSING}
    # Not subscribed after all: Sales' next message reaches neither the thread nor the list.
    await sync_to_async(sms_in)(inbox_sales, "secret price list", phone="+12125550187")
    assert await alice.receive_nothing(timeout=0.5)
    # Catching up from before Sales' thread began: her own thread, nothing of Sales'.
    own = (await sync_to_async(sms_in)(inbox_support, "my own question")).conversation_id
    await alice.send_json_to({"type": "resume", "after": start})
    heard: list[dict[str, Any]] = []
    await _receive_until(alice, lambda frame: heard.append(frame) or frame.get("type") == "catchup")
    frames = [*heard, *heard[-1]["frames"]]  # live frames, then the catch-up's
    conversations = {frame.get("conversation") for frame in frames}
    assert own in conversations and hidden not in conversations
    assert "secret price list" not in str(frames) and "Team discount" not in str(frames)
    await alice.disconnect()

    # A manager subscribes to the same thread and hears it.
    maria = await _socket(manager_maria)
    await maria.send_json_to({"type": "subscribe", "conversation": hidden})
    await asyncio.sleep(0.3)  # the subscription is handled before the next message is published
    await sync_to_async(sms_in)(inbox_sales, "and for 30 pairs?", phone="+12125550187")
    frame = await _receive_until(maria, lambda frame: "entry" in frame or frame.get("type") == "error")
    assert frame["conversation"] == hidden and "and for 30 pairs?" in frame["entry"]["html"]
    await maria.disconnect()

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
from django.contrib.auth.models import User
from django.core.files.base import ContentFile
from django.test import Client
from django.urls import URLPattern, URLResolver, get_resolver
from rest_framework.test import APIClient

from contacts.models import ContactImport
from conversations.models import AgentProfile, Attachment, Conversation, Entry, Inbox, Notification
from conversations.selectors import realtime_latest_seq
from events.models import DomainEvent, WebhookDelivery, WebhookEndpoint
from privacy.models import ContactExport
from push.models import PushSubscription
from reports.models import ExportJob
from reports.services import followup_thank_you_prompt
from rules.models import Macro, Rule
from sequences.services import sequence_enroll, sequence_save
from tests import factories
from tests.conftest import PUBLIC_BASE_URL, sms_in

PNG = b"\x89PNG\r\n\x1a\n" + b"\x00" * 64
MISSING = 999_999

# Each route that takes an id: (method, what the id names, form data) for every method it answers.
ROUTES_WITH_IDS: dict[str, list[tuple[str, str, dict[str, str]]]] = {
    # No id: a signed, expiring token that Twilio and web chat visitors fetch without a login; a tampered,
    # expired or redacted one answers 404 (tests/conversations/test_outbound_attachments.py).
    "media/outbound/<str:token>/<str:name>": [],
    "inbox/<int:conversation_id>/": [("get", "conversation", {})],
    "inbox/<int:conversation_id>/entries/": [("get", "conversation", {})],
    "inbox/<int:conversation_id>/reply/": [
        ("post", "conversation", {"body": "hi"}),
        ("post", "conversation", {"body": "a note", "kind": "note"}),
    ],
    "inbox/<int:conversation_id>/status/": [("post", "conversation", {"status": "resolved"})],
    "inbox/<int:conversation_id>/priority/": [("post", "conversation", {"priority": "urgent"})],
    "inbox/<int:conversation_id>/assign/": [("post", "conversation", {"assignee": "me"})],
    "inbox/<int:conversation_id>/call/": [("post", "conversation", {})],
    "inbox/entries/<int:entry_id>/retry/": [("post", "entry", {})],
    "inbox/entries/<int:entry_id>/identity/": [("post", "email_entry", {})],
    "inbox/<int:conversation_id>/merge/": [("post", "conversation", {"contact": "{other_contact}"})],
    "inbox/<int:conversation_id>/erase/": [("post", "conversation", {"reason": "The customer asked"})],
    "inbox/<int:conversation_id>/export/": [("post", "conversation", {})],
    "inbox/contact-exports/<int:contact_export_id>/": [("get", "contact_export", {})],
    "inbox/<int:conversation_id>/stage/": [("post", "conversation", {"stage": "customer"})],
    "inbox/<int:conversation_id>/owner/": [("post", "conversation", {"owner": "me"})],
    "inbox/<int:conversation_id>/canned/": [("get", "conversation", {})],
    "inbox/contacts/import/<int:import_id>/": [("get", "import", {})],
    "inbox/<int:conversation_id>/contact/": [
        ("get", "conversation", {}),
        ("post", "conversation", {"name": "Renamed"}),
    ],
    "attachments/<int:attachment_id>/": [("get", "attachment", {})],
    "api/v1/contacts/<int:pk>/": [("get", "contact", {}), ("patch", "contact", {"name": "Renamed"})],
    "api/v1/contacts/<int:pk>/timeline/": [("get", "contact", {})],
    "api/v1/contacts/<int:pk>/messages/": [("post", "contact", {"body": "hi"})],
    "api/v1/contacts/<int:pk>/merge/": [("post", "contact", {"contact": "{other_contact}"})],
    "api/v1/contacts/<int:pk>/erase/": [("post", "contact", {"reason": "The customer asked"})],
    "api/v1/contacts/<int:pk>/exports/": [("post", "contact", {})],
    "api/v1/contact-exports/<int:pk>/": [("get", "contact_export", {})],
    "api/v1/contact-exports/<int:pk>/download/": [("get", "contact_export", {})],
    "api/v1/contacts/<int:pk>/stage/": [("post", "contact", {"stage": "customer"})],
    "api/v1/contacts/<int:pk>/events/": [("post", "contact", {"type": "purchase", "client_key": "order-1"})],
    "api/v1/inboxes/<int:pk>/": [("get", "inbox", {}), ("patch", "inbox", {"name": "Mine now"})],
    "reports/history/<int:conversation_id>/": [("get", "conversation", {})],
    "reports/history/<int:conversation_id>/print/": [("get", "conversation", {})],
    "reports/exports/<int:job_id>/": [("get", "export_job", {})],
    "reports/exports/<int:job_id>/status/": [("get", "export_job", {})],
    "reports/exports/<int:job_id>/download/": [("get", "export_job", {})],
    "reports/followups/<int:followup_id>/cancel/": [("post", "followup", {})],
    "reports/followups/<int:followup_id>/send/": [("post", "followup", {})],
    "inbox/<int:conversation_id>/block/": [("post", "conversation", {"blocked": "1"})],
    "inbox/agents/<int:user_id>/active/": [("post", "sales_agent", {"active": "0"})],
    "api/v1/conversations/<int:pk>/status/": [("post", "conversation", {"status": "resolved"})],
    "api/v1/conversations/<int:pk>/assign/": [("post", "conversation", {"assignee": "{sales_agent}"})],
    "api/v1/conversations/<int:pk>/notes/": [("post", "conversation", {"body": "@agent_bob look"})],
    "api/v1/conversations/<int:pk>/block/": [("post", "conversation", {"blocked": "true"})],
    "api/v1/agents/<int:pk>/deactivate/": [("post", "sales_agent", {})],
    "api/v1/webhooks/<int:pk>/": [
        ("get", "webhook", {}),
        ("patch", "webhook", {"description": "Mine now"}),
        ("delete", "webhook", {}),
    ],
    "api/v1/webhooks/<int:pk>/rotate-secret/": [("post", "webhook", {})],
    "api/v1/webhooks/<int:pk>/deliveries/": [("get", "webhook", {})],
    "api/v1/webhook-deliveries/<int:pk>/redeliver/": [("post", "webhook_delivery", {})],
    "api/v1/rules/<int:pk>/": [
        ("get", "rule", {}),
        ("patch", "rule", {"name": "Mine now"}),
        ("delete", "rule", {}),
    ],
    "api/v1/rules/<int:pk>/runs/": [("get", "rule", {})],
    "api/v1/macros/<int:pk>/": [
        ("get", "macro", {}),
        ("patch", "macro", {"name": "Mine now"}),
        ("delete", "macro", {}),
    ],
    "api/v1/macros/<int:pk>/apply/": [("post", "macro", {"conversations": "{conversation}"})],
    "inbox/macros/<int:macro_id>/apply/": [("post", "macro", {"ids": "{conversation}"})],
    "inbox/push/devices/<int:device_id>/remove/": [("post", "push_device", {})],
    "api/v1/contacts/<int:pk>/score/": [("get", "contact", {})],
    "api/v1/entries/<int:pk>/redact/": [("post", "entry", {})],
    "inbox/entries/<int:entry_id>/redact/": [("post", "entry", {})],
    "inbox/settings/<int:inbox_id>/hours/": [("get", "inbox", {})],
    "inbox/settings/<int:inbox_id>/secret/reveal/": [("post", "webchat_inbox", {})],
    "inbox/settings/<int:inbox_id>/secret/rotate/": [("post", "webchat_inbox", {})],
    "inbox/settings/<int:inbox_id>/origins/allow/": [
        ("post", "webchat_inbox", {"origin": "https://shop.example.com"})
    ],
    "inbox/<int:conversation_id>/sequences/": [("post", "conversation", {"sequence": "{sequence}"})],
    "api/v1/sequences/<int:pk>/": [("get", "sequence", {}), ("patch", "sequence", {"name": "Mine now"})],
    "api/v1/sequences/<int:pk>/enrollments/": [
        ("get", "sequence", {}),
        ("post", "sequence", {"contact": "{contact}"}),
    ],
    "api/v1/enrollments/<int:pk>/exit/": [("post", "enrollment", {})],
    "contacts/<int:contact_id>/": [
        ("get", "contact", {}),
        ("post", "contact", {"form": "details", "name": "Renamed"}),
        ("post", "contact", {"form": "identity", "kind": "email", "address": "mine@example.com"}),
    ],
}
# Changing an inbox is for admins, who see every inbox: anyone else is refused before the id is read.
# So is managing agents: those ids name people, not threads (see NOT_THREAD_SCOPED).
# The reports are for managers and admins: an agent is refused before the id is read. So are webhooks (a
# subscription receives every team's threads).
EXPECTED_STATUS = {
    ("api/v1/inboxes/<int:pk>/", "patch"): 403,
    ("inbox/agents/<int:user_id>/active/", "post"): 403,
    ("api/v1/agents/<int:pk>/deactivate/", "post"): 403,
    **{
        (route, "get"): 403
        for route in ROUTES_WITH_IDS
        if route.startswith(
            ("reports/history/", "reports/exports/", "api/v1/contact-exports/", "inbox/contact-exports/")
        )
    },
    **{
        (route, method): 403
        for route, calls in ROUTES_WITH_IDS.items()
        for method, _, _ in calls
        if route.startswith(("api/v1/webhooks/", "api/v1/webhook-deliveries/", "api/v1/rules/"))
    },
    ("api/v1/macros/<int:pk>/", "patch"): 403,
    ("api/v1/sequences/<int:pk>/", "patch"): 403,
    ("api/v1/macros/<int:pk>/", "delete"): 403,
    **{
        (route, method): 403
        for route, calls in ROUTES_WITH_IDS.items()
        for method, _, _ in calls
        if route.startswith("inbox/settings/")
    },
}
# Ids of an agent's own things (their devices for Web Push): nobody else reaches them, managers and admins
# included; the owner does.
OWNER_ONLY = {"inbox/push/devices/<int:device_id>/remove/"}
ADMIN_ONLY = {
    *(route for route in ROUTES_WITH_IDS if route.startswith("inbox/settings/")),
    "api/v1/inboxes/<int:pk>/",
    "inbox/agents/<int:user_id>/active/",
    "api/v1/agents/<int:pk>/deactivate/",
}

# Calls whose id names something hub-wide that every agent may use, so no team's id can be hidden: the command
# palette offers every agent every macro. The threads a macro is applied to travel in the body and are each
# checked (tests/rules/test_api.py: another team's thread answers 404, as one that does not exist).
SEEN_BY_EVERY_AGENT = {
    ("api/v1/macros/<int:pk>/", "get"),
    ("api/v1/macros/<int:pk>/apply/", "post"),
    ("inbox/macros/<int:macro_id>/apply/", "post"),
    # Sequences are hub-wide too: every agent reads them and enrols a customer; the customer in the body is
    # checked (tests/sequences/test_api.py: another team's customer answers 404, as one that does not exist).
    ("api/v1/sequences/<int:pk>/", "get"),
    ("api/v1/sequences/<int:pk>/enrollments/", "get"),
    ("api/v1/sequences/<int:pk>/enrollments/", "post"),
}

# Id routes whose id does not name a thread or something in one, each with why it needs no thread rule.
# Every other route with an int in it is walked below with another team's ids, whatever the table says.
NOT_THREAD_SCOPED = {
    "inbox/agents/<int:user_id>/active/": "an agent's id; admins only (403 for anyone else, whatever the id)",
    "api/v1/agents/<int:pk>/deactivate/": "an agent's id; admins only (403 for anyone else, whatever the id)",
    **{
        route: "a webhook subscription's (or delivery's) id; admins and managers only, who see every thread "
        "(403 for anyone else, whatever the id)"
        for route in ROUTES_WITH_IDS
        if route.startswith(("api/v1/webhooks/", "api/v1/webhook-deliveries/"))
    },
    **{
        route: "an inbox's id: inbox settings (hours, its secret, its allowed sites) are for admins only, who "
        "see every inbox (403 for anyone else, whatever the id)"
        for route in ROUTES_WITH_IDS
        if route.startswith("inbox/settings/")
    },
    **{
        route: "a rule's id: hub-wide, seen and written by admins and managers only (403 for anyone else, "
        "whatever the id)"
        for route in ROUTES_WITH_IDS
        if route.startswith("api/v1/rules/")
    },
    **{
        route: "a macro's id: hub-wide, every agent reads and applies macros (SEEN_BY_EVERY_AGENT), only admins "
        "and managers change them"
        for route in ROUTES_WITH_IDS
        if "macros/" in route
    },
    **{
        route: "a sequence's id: hub-wide, every agent reads sequences and enrols customers they can see "
        "(SEEN_BY_EVERY_AGENT), only admins and managers change them (403 for anyone else, whatever the id)"
        for route in ROUTES_WITH_IDS
        if route.startswith("api/v1/sequences/")
    },
}
# What an id names, by the route's parameter (and for `pk` by the route's prefix): the walker uses these.
ID_KINDS_BY_NAME = {
    "conversation_id": "conversation",
    "entry_id": "entry",
    "attachment_id": "attachment",
    "job_id": "export_job",
    "contact_export_id": "contact_export",
    "followup_id": "followup",
    "import_id": "import",
    "device_id": "push_device",
    "contact_id": "contact",
    "inbox_id": "inbox",
}
ID_KINDS_BY_PREFIX = {
    "api/v1/contacts/": "contact",
    "api/v1/contact-exports/": "contact_export",
    "api/v1/inboxes/": "inbox",
    "api/v1/conversations/": "conversation",
    "api/v1/entries/": "entry",
    "api/v1/enrollments/": "enrollment",
}

# Ids that travel in a query string or a form rather than the path: (method, path, field, data).
IDS_IN_PARAMETERS = [
    ("post", "inbox/{conversation}/reply/", "inbox", {"body": "from their number"}),
    ("post", "api/v1/contacts/{contact}/messages/", "inbox", {"body": "from their number"}),
    ("post", "inbox/{conversation}/call/", "inbox", {}),
    ("get", "inbox/", "inbox", {"status": "all"}),
    ("get", "inbox/rows/", "inbox", {"status": "all"}),
    ("post", "contacts/new/", "inbox", {"name": "Lena Fischer", "phone": "+14155550166"}),
    (
        "post",
        "reports/followups/",
        "conversation",
        {"kind": "reminder", "due_at": "2099-01-01T09:00", "body": "x"},
    ),
    ("post", "api/v1/reports/followups/", "conversation", {"due_at": "2099-01-01T09:00:00Z", "body": "x"}),
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
def sales(inbox_sales, agent_bob, manager_maria) -> dict[str, int]:
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
    # A manager's customer import: agents cannot tell it from one that does not exist.
    contact_import = ContactImport.objects.create(
        filename="sales.csv", source="phone\n+12125550189\n", total_rows=1
    )
    # A manager's finished export of it, and a thank-you suggested on it (the reports' ids).
    job = ExportJob.objects.create(created_by=manager_maria, conversation=conversation, state=ExportJob.DONE)
    job.file.save("export.html", ContentFile(b"<p>export</p>"))
    contact_export = ContactExport.objects.create(
        created_by=manager_maria, contact=conversation.contact, state=ContactExport.DONE
    )
    contact_export.file.save("customer.zip", ContentFile(b"PK\x05\x06" + b"\x00" * 18))
    followup = followup_thank_you_prompt(contact=conversation.contact)
    assert followup is not None
    # A manager's webhook subscription, with a delivery of one of the thread's events.
    webhook = WebhookEndpoint.objects.create(
        url="https://hooks.example.com/in",
        event_types=["*"],
        secret="whsec_" + "A" * 43,
        created_by=manager_maria,
    )
    event = DomainEvent.objects.filter(conversation_id=conversation.pk).order_by("id").first()
    assert event is not None
    webhook_delivery = WebhookDelivery.objects.create(endpoint=webhook, event=event, state="succeeded")
    # A manager's rule and macro: hub-wide, not Sales' (see SEEN_BY_EVERY_AGENT).
    rule = Rule.objects.create(
        name="VIP first",
        event_type="message.received",
        conditions=[{"field": "channel", "op": "is", "value": "sms"}],
        actions=[{"type": "set_priority", "priority": "urgent"}],
        created_by=manager_maria,
    )
    macro = Macro.objects.create(
        name="Escalate", actions=[{"type": "set_priority", "priority": "high"}], created_by=manager_maria
    )
    # A manager's sequence (hub-wide), with the Sales customer in it (Sales' enrolment).
    sequence = sequence_save(by=manager_maria, name="Sales nurture", steps=[{"type": "task", "text": "Call"}])
    enrollment = sequence_enroll(sequence=sequence, contact=other.contact, by=manager_maria, source="agent")
    # Bob's phone, subscribed to Web Push: his own, not even a manager's to remove.
    device = PushSubscription.objects.create(
        user=agent_bob,
        endpoint="https://push.example.com/wpush/v2/bobs-phone",
        p256dh="B" + "A" * 86,
        auth="A" * 22,
        device="Chrome on Android",
    )
    return {
        "push_device": device.pk,
        "sequence": sequence.pk,
        "enrollment": enrollment.pk,
        "rule": rule.pk,
        "macro": macro.pk,
        "webhook": webhook.pk,
        "webhook_delivery": webhook_delivery.pk,
        "export_job": job.pk,
        "contact_export": contact_export.pk,
        "followup": followup.pk,
        "import": contact_import.pk,
        "email_entry": email_entry.pk,
        "other_contact": other.contact_id,
        "conversation": conversation.pk,
        "entry": failed.pk,
        "attachment": attachment.pk,
        "contact": conversation.contact_id,
        "inbox": inbox_sales.pk,
        "webchat_inbox": factories.InboxFactory(
            name="Sales chat",
            kind=Inbox.WEBCHAT,
            address="",
            team=inbox_sales.team,
            allowed_origins=["https://sales.example.com"],
            identity_secret="sales-identity-secret-0123456789",
        ).pk,
        "sales_agent": agent_bob.pk,
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
    if method == "delete":
        return client.delete(path)
    return client.post(path, data)


def _comparable(content: bytes) -> bytes:
    """A page without its per-response CSRF token (masked afresh on every response)."""
    return re.sub(rb'name="csrfmiddlewaretoken" value="[^"]*"', b"", content)


def _snapshot() -> tuple[Any, ...]:
    return (
        list(Entry.objects.order_by("pk").values_list("pk", "delivery_status", "body")),
        list(
            Conversation.objects.order_by("pk").values_list(
                "pk", "status", "assignee_id", "team_id", "snoozed_until", "blocked_at"
            )
        ),
        list(Attachment.objects.order_by("pk").values_list("pk", "state")),
        list(Notification.objects.order_by("pk").values_list("pk", "read_at")),
        list(User.objects.order_by("pk").values_list("pk", "is_active")),
        list(
            WebhookEndpoint.objects.order_by("pk").values_list("pk", "url", "active", "secret", "description")
        ),
        list(WebhookDelivery.objects.order_by("pk").values_list("pk", "state", "attempts")),
        list(PushSubscription.objects.order_by("pk").values_list("pk", "user_id", "endpoint")),
    )


CALLS = [(route, n) for route, calls in ROUTES_WITH_IDS.items() for n in range(len(calls))]
TEAM_CALLS = [(r, n) for r, n in CALLS if (r, ROUTES_WITH_IDS[r][n][0]) not in SEEN_BY_EVERY_AGENT]


@pytest.mark.django_db
@pytest.mark.parametrize(
    "route,n", TEAM_CALLS, ids=[f"{ROUTES_WITH_IDS[r][n][0]} {r}" for r, n in TEAM_CALLS]
)
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
def test_managers_and_admins_reach_every_one_of_them(
    route, n, sales, manager_maria, admin_ada, agent_bob
) -> None:
    method, kind, data = ROUTES_WITH_IDS[route][n]
    if route in OWNER_ONLY:
        # Not even a manager: their answer is a missing id's; the owner (Bob) reaches it.
        for other in (manager_maria, admin_ada):
            refused = _call(_client(route, other), route, method, sales[kind], data, sales)
            assert refused.status_code == 404
        response = _call(_client(route, agent_bob), route, method, sales[kind], data, sales)
        assert response.status_code in (200, 201, 202, 204, 302), (
            response.status_code,
            response.content[:300],
        )
        return
    # changing an inbox and managing agents are for admins
    user = admin_ada if method == "patch" or route in ADMIN_ONLY else manager_maria
    AgentProfile.objects.filter(user=user).update(phone="+14155550177")  # click-to-call rings it
    response = _call(_client(route, user), route, method, sales[kind], data, sales)
    assert response.status_code in (200, 201, 202, 204, 302), (response.status_code, response.content[:300])


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


# --- the walker: every id route of the URL conf, called with another team's ids ---------------------------
def _int_routes() -> list[str]:
    return [route for route in _routes_with_ids() if "<int:" in route]


def _id_kind(route: str) -> str | None:
    match = re.search(r"<int:(\w+)>", route)
    assert match is not None
    if match.group(1) != "pk":
        return ID_KINDS_BY_NAME.get(match.group(1))
    return next((kind for prefix, kind in ID_KINDS_BY_PREFIX.items() if route.startswith(prefix)), None)


def test_the_walker_knows_what_every_id_names() -> None:
    """A new route's id must name a known kind of object, or be listed as not thread-scoped with a reason."""
    unknown = [r for r in _int_routes() if r not in NOT_THREAD_SCOPED and _id_kind(r) is None]
    assert unknown == [], "add these to ID_KINDS_BY_NAME / ID_KINDS_BY_PREFIX, or to NOT_THREAD_SCOPED"
    assert all(reason.strip() for reason in NOT_THREAD_SCOPED.values())
    assert set(NOT_THREAD_SCOPED) <= set(_int_routes()), "an allow-listed route no longer exists"


@pytest.mark.django_db
def test_every_id_route_answers_another_teams_id_as_one_that_does_not_exist(
    sales, agent_alice, inbox_support
) -> None:
    """Whatever method, whatever body: 403/404/405, the same answer as for a missing id, nothing of Sales', no change.

    Not driven by ROUTES_WITH_IDS: a route added without a row there, that forgot the rule, fails here too.
    """
    failures = []
    for route in _int_routes():
        kind = "sales_agent" if route in NOT_THREAD_SCOPED else _id_kind(route)
        assert kind is not None
        client = _client(route, agent_alice)
        for method in ("get", "post", "patch", "put", "delete"):
            if (route, method) in SEEN_BY_EVERY_AGENT:
                continue
            before = _snapshot()
            answers = []
            for object_id in (sales[kind], MISSING):
                path = "/" + re.sub(r"<[^>]+>", str(object_id), route)
                answers.append(getattr(client, method)(path))
            hidden, missing = answers
            leaked = any(
                secret in hidden.content for secret in (b"Team discount", b"pairs.png", b"Sales line")
            )
            if (
                hidden.status_code not in (403, 404, 405)
                or hidden.status_code != missing.status_code
                or _comparable(hidden.content) != _comparable(missing.content)
                or leaked
                or _snapshot() != before
            ):
                failures.append(
                    (method, route, hidden.status_code, missing.status_code, hidden.content[:200])
                )
    assert failures == []


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


# Every message type of the agent socket: those that take an id, and those that do not (with why).
WS_MESSAGES_WITH_IDS = {
    "subscribe": {"type": "subscribe", "conversation": "{id}"},
    "typing": {"type": "typing", "conversation": "{id}", "mode": "reply"},
}
WS_MESSAGES_WITHOUT_IDS = {
    "resume": "an event-log position; the catch-up is filtered by conversation_visible_to",
    "ping": "no id",
}


def test_every_websocket_message_type_is_classified() -> None:
    from inbox.consumers import AgentConsumer

    assert set(AgentConsumer.MESSAGE_TYPES) == set(WS_MESSAGES_WITH_IDS) | set(WS_MESSAGES_WITHOUT_IDS)


@pytest.mark.django_db(transaction=True)
@pytest.mark.asyncio
@pytest.mark.parametrize("message_type", sorted(WS_MESSAGES_WITH_IDS))
async def test_each_websocket_message_with_an_id_answers_another_teams_id_as_a_missing_one(
    message_type, agent_alice, agent_bob, inbox_sales, inbox_support
) -> None:
    hidden = (
        await sync_to_async(sms_in)(inbox_sales, "Team discount?", phone="+12125550187")
    ).conversation_id
    bob = await _socket(agent_bob)  # Sales' agent views the thread: he must hear nothing of Alice
    await bob.send_json_to({"type": "subscribe", "conversation": hidden})
    await _receive_until(bob, lambda frame: frame.get("type") == "presence")
    alice = await _socket(agent_alice)
    answers = []
    for conversation_id in (hidden, MISSING):
        message = {
            key: conversation_id if value == "{id}" else value
            for key, value in WS_MESSAGES_WITH_IDS[message_type].items()
        }
        await alice.send_json_to(message)
        answers.append(await alice.receive_json_from(timeout=5))
    assert answers[0] == {"type": "error", "error": "not_found", "conversation": hidden}
    assert answers[1] == {"type": "error", "error": "not_found", "conversation": MISSING}
    assert await alice.receive_nothing(timeout=0.3)
    heard = []
    while not await bob.receive_nothing(timeout=0.5):
        heard.append(await bob.receive_json_from())
    assert "agent_alice" not in str(heard) and "Alice" not in str(heard)
    await alice.disconnect()
    await bob.disconnect()

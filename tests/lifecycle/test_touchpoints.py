"""External touchpoints through the API: recorded once per client key, in the thread, with their rules."""

from __future__ import annotations

import json

from django.test import Client

from contacts.models import Contact, Identity
from conversations.models import Entry
from lifecycle.models import ContactStage, Touchpoint


def post(client: Client, path: str, body: dict):
    return client.post(path, json.dumps(body), content_type="application/json")


def test_a_purchase_is_an_event_in_the_thread_and_makes_a_customer(sms_thread, alice_client: Client) -> None:
    contact = sms_thread.contact
    response = post(
        alice_client,
        f"/api/v1/contacts/{contact.pk}/events/",
        {
            "type": "purchase",
            "client_key": "shop-order-4417",
            "at": "2026-03-02T10:00:00Z",
            "payload": {"order": "4417", "total": "89.00"},
        },
    )
    assert response.status_code == 201, response.content
    data = response.json()
    assert (data["type"], data["client_key"], data["payload"]) == (
        "purchase",
        "shop-order-4417",
        {"order": "4417", "total": "89.00"},
    )
    entry = Entry.objects.get(pk=data["entry"])
    assert entry.conversation == sms_thread and entry.kind == "event"
    assert entry.body == "Purchase (posted by Alice): order: 4417, total: 89.00"
    assert ContactStage.objects.get(contact=contact).stage.key == "customer"


def test_the_same_event_posted_twice_answers_the_first(sms_thread, alice_client: Client) -> None:
    path = f"/api/v1/contacts/{sms_thread.contact.pk}/events/"
    first = post(
        alice_client, path, {"type": "store_visit", "client_key": "visit-1", "payload": {"store": "Soho"}}
    )
    again = post(
        alice_client, path, {"type": "store_visit", "client_key": "visit-1", "payload": {"store": "Soho"}}
    )
    assert (first.status_code, again.status_code) == (201, 200)
    assert again.json()["id"] == first.json()["id"]
    assert Touchpoint.objects.count() == 1
    assert Entry.objects.filter(event_type="touchpoint.recorded").count() == 1


def test_events_by_identity_refuse_or_create_an_unknown_contact(manager_maria) -> None:
    client = Client()
    client.force_login(manager_maria)
    body = {"identity": "+1 (415) 555-0177", "type": "demo_booked", "client_key": "demo-9"}
    refused = post(client, "/api/v1/events/", body)
    assert refused.status_code == 404
    assert (
        "No contact has +14155550177" in refused.json()["detail"]
        and "create_contact" in refused.json()["detail"]
    )
    assert not Contact.objects.exists() and not Touchpoint.objects.exists()

    created = post(client, "/api/v1/events/", {**body, "create_contact": True})
    assert created.status_code == 201, created.content
    identity = Identity.objects.get(address="+14155550177")
    assert created.json()["contact"] == identity.contact_id
    # Known now: the same address finds them without the flag; a second purchase-free event is simply recorded.
    known = post(
        client, "/api/v1/events/", {**body, "identity": "whatsapp:+14155550177", "client_key": "demo-10"}
    )
    assert known.status_code == 201 and known.json()["contact"] == identity.contact_id


def test_bad_events_get_a_clear_error_and_record_nothing(sms_thread, alice_client: Client) -> None:
    path = f"/api/v1/contacts/{sms_thread.contact.pk}/events/"
    too_big = post(
        alice_client, path, {"type": "purchase", "client_key": "k1", "payload": {"notes": "x" * 5000}}
    )
    assert too_big.status_code == 400 and "larger than 4096 bytes" in too_big.json()["detail"]
    bad_type = post(alice_client, path, {"type": "Big Purchase!", "client_key": "k2"})
    assert bad_type.status_code == 400 and "lower-case word" in json.dumps(bad_type.json())
    no_key = post(alice_client, path, {"type": "purchase"})
    assert no_key.status_code == 400 and "client_key" in no_key.json()
    future = post(alice_client, path, {"type": "purchase", "client_key": "k3", "at": "2999-01-01T00:00:00Z"})
    assert future.status_code == 400 and "in the future" in future.json()["detail"]
    assert not Touchpoint.objects.exists()


def test_a_client_key_reused_for_another_contact_is_a_conflict(
    sms_thread, alice_client: Client, inbox_support
) -> None:
    from tests.conftest import sms_in

    other = sms_in(inbox_support, phone="+14155550190").conversation.contact
    post(
        alice_client,
        f"/api/v1/contacts/{sms_thread.contact.pk}/events/",
        {"type": "purchase", "client_key": "same"},
    )
    clash = post(
        alice_client, f"/api/v1/contacts/{other.pk}/events/", {"type": "purchase", "client_key": "same"}
    )
    assert clash.status_code == 409 and "another contact" in clash.json()["detail"]


def test_another_teams_contact_is_404(sms_thread, agent_bob) -> None:
    client = Client()
    client.force_login(agent_bob)
    response = post(
        client, f"/api/v1/contacts/{sms_thread.contact.pk}/events/", {"type": "purchase", "client_key": "x"}
    )
    assert response.status_code == 404
    assert not Touchpoint.objects.exists()

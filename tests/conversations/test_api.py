"""The REST API part of the contract."""

from __future__ import annotations

import pytest
from rest_framework.test import APIClient

from conversations.models import Entry
from tests.conftest import sms_in, thread_of, twilio_fixture


@pytest.fixture
def api(agent_alice) -> APIClient:
    client = APIClient()
    token = client.post(
        "/api/v1/auth/token/",
        {"username": "agent_alice", "password": "correct horse battery staple"},
        format="json",
    )
    assert token.status_code == 200
    client.credentials(HTTP_AUTHORIZATION=f"Token {token.json()['token']}")
    return client


@pytest.mark.django_db
def test_a_wrong_password_gets_no_token(agent_alice) -> None:
    response = APIClient().post(
        "/api/v1/auth/token/", {"username": "agent_alice", "password": "nope"}, format="json"
    )
    assert response.status_code == 400


@pytest.mark.django_db
def test_without_credentials_the_api_refuses(sms_thread) -> None:
    assert APIClient().get("/api/v1/contacts/").status_code in (401, 403)


@pytest.mark.django_db
@pytest.mark.parametrize(
    "address", ["(415) 555-0142", "+1 415-555-0142", "+14155550142", "whatsapp:+14155550142"]
)
def test_contacts_by_identity_in_any_common_format(api, sms_thread, address) -> None:
    results = api.get("/api/v1/contacts/", {"identity": address}).json()["results"]
    assert [c["id"] for c in results] == [sms_thread.contact_id]
    assert results[0]["identities"][0]["address"] == "+14155550142"


@pytest.mark.django_db
def test_contacts_most_recent_activity_first(api, sms_thread, deliver_inbound) -> None:
    deliver_inbound(twilio_fixture("inbound_sms", From="+14155550143", MessageSid="SM" + "8" * 32))
    results = api.get("/api/v1/contacts/").json()["results"]
    assert [c["identities"][0]["address"] for c in results] == ["+14155550143", "+14155550142"]


@pytest.mark.django_db
def test_a_merged_away_id_answers_with_the_survivor(api, sms_thread) -> None:
    from contacts.models import Contact

    tombstone = Contact.objects.create(name="Old duplicate", merged_into=sms_thread.contact)
    body = api.get(f"/api/v1/contacts/{tombstone.pk}/").json()
    assert body["id"] == sms_thread.contact_id


@pytest.mark.django_db
def test_the_timeline_is_cursor_paginated_with_the_contract_fields(api, sms_thread, inbox_support) -> None:
    for n in range(5):
        sms_in(inbox_support, f"n{n}", conversation=sms_thread)
    first = api.get(f"/api/v1/contacts/{sms_thread.contact_id}/timeline/", {"page_size": 3}).json()
    assert [e["body"] for e in first["results"]] == ["n4", "n3", "n2"]
    entry = first["results"][0]
    for field in [
        "id",
        "kind",
        "channel",
        "direction",
        "body",
        "created_at",
        "delivery_status",
        "author",
        "inbox",
    ]:
        assert field in entry
    assert (entry["kind"], entry["channel"], entry["direction"], entry["delivery_status"]) == (
        "message",
        "sms",
        "inbound",
        None,
    )
    second = api.get(first["next"]).json()
    assert [e["body"] for e in second["results"]][:2] == ["n1", "n0"]
    # The first message made Dana a lead: that event sits just after it.
    assert second["results"][2]["event_type"] == "contact.stage_changed"
    third = api.get(second["next"]).json()
    assert [e["body"] for e in third["results"]] == ["Hi, is the blue trail runner back in size 9?"]


@pytest.mark.django_db
def test_sending_a_message_queues_it(api, sms_thread) -> None:
    response = api.post(
        f"/api/v1/contacts/{sms_thread.contact_id}/messages/", {"body": "Yes!"}, format="json"
    )
    assert response.status_code == 201, response.json()
    body = response.json()
    assert (body["channel"], body["direction"], body["delivery_status"]) == ("sms", "outbound", "queued")
    assert body["author"]["id"] is not None


@pytest.mark.django_db
def test_a_send_the_channel_forbids_is_409_with_the_reason(api, deliver_inbound, inbox_support) -> None:
    deliver_inbound(twilio_fixture("inbound_whatsapp"))
    sms_thread = thread_of("+14155550142")
    Entry.objects.filter(channel="whatsapp").update(created_at="2020-01-01T00:00:00Z")
    response = api.post(
        f"/api/v1/contacts/{sms_thread.contact_id}/messages/",
        {"channel": "whatsapp", "body": "Hi"},
        format="json",
    )
    assert response.status_code == 409
    assert "24 hours" in response.json()["detail"]


@pytest.mark.django_db
def test_bad_message_input_is_a_clear_400(api, sms_thread) -> None:
    response = api.post(
        f"/api/v1/contacts/{sms_thread.contact_id}/messages/",
        {"channel": "pigeon", "body": ""},
        format="json",
    )
    assert response.status_code == 400
    assert "channel" in response.json() and "body" in response.json()


@pytest.mark.django_db
def test_inboxes_list_and_only_admins_change_them(api, inbox_support, admin_ada) -> None:
    inboxes = api.get("/api/v1/inboxes/").json()
    assert [(i["id"], i["kind"], i["name"]) for i in inboxes] == [(inbox_support.pk, "phone", "Support line")]
    assert "widget_key" in inboxes[0]
    assert (
        api.patch(f"/api/v1/inboxes/{inbox_support.pk}/", {"name": "Renamed"}, format="json").status_code
        == 403
    )
    admin = APIClient()
    admin.force_login(admin_ada)
    response = admin.patch(f"/api/v1/inboxes/{inbox_support.pk}/", {"name": "Renamed"}, format="json")
    assert response.status_code == 200
    assert response.json()["name"] == "Renamed"


@pytest.mark.django_db
def test_schema_and_docs_are_served(api) -> None:
    schema = api.get("/api/schema/")
    assert schema.status_code == 200
    assert b"/api/v1/contacts/{id}/timeline/" in schema.content
    docs = api.get("/api/docs/")
    assert docs.status_code == 200

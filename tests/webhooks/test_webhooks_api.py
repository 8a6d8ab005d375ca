"""Subscribing to the events over the REST API and in the Django admin: who may, what is refused and why,
the secret shown once, rotation, deliveries and redelivery."""

from __future__ import annotations

import base64
from collections.abc import Iterator
from typing import Any

import pytest
from django.test import Client
from rest_framework.test import APIClient

from events.models import WebhookDelivery, WebhookEndpoint
from events.services import events_dispatch
from tests.webhooks.receiver import Receiver
from tests.webhooks.test_webhooks import publish
from webhooks import delivery

pytestmark = pytest.mark.django_db


@pytest.fixture(autouse=True)
def local_receivers_allowed(settings: Any) -> None:
    settings.WEBHOOK_ALLOWED_HOSTS = ["127.0.0.1"]


@pytest.fixture
def target() -> Iterator[Receiver]:
    receiver = Receiver().start()
    yield receiver
    receiver.stop()


def api(user: Any) -> APIClient:
    client = APIClient()
    client.force_authenticate(user)
    return client


def create(client: APIClient, url: str, event_types: list[str] | None = None) -> Any:
    return client.post(
        "/api/v1/webhooks/",
        {"url": url, "event_types": event_types or ["*"], "description": "CRM sync"},
        format="json",
    )


def test_an_admin_subscribes_and_sees_the_secret_once(admin_ada, target) -> None:
    client = api(admin_ada)
    response = create(client, target.url, ["conversation.resolved", "note.added"])
    assert response.status_code == 201, response.content
    body = response.json()
    secret = body["secret"]
    assert secret.startswith("whsec_") and len(base64.b64decode(secret.removeprefix("whsec_"))) == 32
    assert body["event_types"] == ["conversation.resolved", "note.added"] and body["active"] is True
    assert body["created_by"] == admin_ada.pk
    listed = client.get("/api/v1/webhooks/").json()
    detail = client.get(f"/api/v1/webhooks/{body['id']}/").json()
    assert secret not in str(listed) and secret not in str(detail) and "secret" not in detail
    # Stored encrypted: the database column does not hold it in clear.
    from django.db import connection

    with connection.cursor() as cursor:
        cursor.execute("SELECT secret FROM events_webhookendpoint WHERE id = %s", [body["id"]])
        assert secret not in cursor.fetchone()[0]


def test_managers_may_subscribe_agents_may_not(manager_maria, agent_alice, target) -> None:
    assert create(api(manager_maria), target.url).status_code == 201
    refused = create(api(agent_alice), target.url)
    assert refused.status_code == 403 and "admins and managers" in refused.json()["detail"]
    assert api(agent_alice).get("/api/v1/webhooks/").status_code == 403
    assert WebhookEndpoint.objects.count() == 1


@pytest.mark.parametrize(
    "url,says",
    [
        ("https://user:pass@hooks.example.com/in", "user name and password"),
        ("https://token@hooks.example.com/in", "user name and password"),
        ("ftp://hooks.example.com/in", "only http:// and https://"),
        ("javascript:alert(1)", "only http:// and https://"),
        ("file:///etc/passwd", "only http:// and https://"),
        ("http://169.254.169.254/latest/meta-data/", "cloud metadata"),
        ("http://10.0.0.5/hooks", "not on the public internet"),
        ("http://localhost:8000/hooks", "not on the public internet"),
        ("http://[::1]/hooks", "not on the public internet"),
        ("http://0x7f000001/hooks", "not on the public internet"),
        ("https://evil.example\\@hooks.example.com/", "backslashes"),
        ("", "url"),
    ],
)
def test_a_url_the_hub_must_not_call_is_refused_when_saved(admin_ada, settings, url, says) -> None:
    settings.WEBHOOK_ALLOWED_HOSTS = []
    response = create(api(admin_ada), url)
    assert response.status_code == 400, response.content
    assert says in str(response.json())
    assert WebhookEndpoint.objects.count() == 0


def test_a_private_receiver_named_in_webhook_allowed_hosts_is_accepted(admin_ada, settings) -> None:
    settings.WEBHOOK_ALLOWED_HOSTS = ["10.0.0.5"]
    assert create(api(admin_ada), "http://10.0.0.5/hooks").status_code == 201
    # ...but never a metadata address, even when listed.
    settings.WEBHOOK_ALLOWED_HOSTS = ["169.254.169.254"]
    assert create(api(admin_ada), "http://169.254.169.254/").status_code == 400


def test_an_event_type_that_does_not_exist_is_refused_with_the_list(admin_ada, target) -> None:
    response = create(api(admin_ada), target.url, ["conversation.resolved", "conversation.exploded"])
    assert response.status_code == 400
    detail = response.json()["detail"]
    assert "conversation.exploded" in detail and "message.received" in detail and '"*"' in detail
    empty = api(admin_ada).post("/api/v1/webhooks/", {"url": target.url, "event_types": []}, format="json")
    assert empty.status_code == 400
    assert create(api(admin_ada), target.url, ["*", "note.added"]).json()["event_types"] == ["*"]


def test_patch_validates_like_create_and_switches_on_and_off(admin_ada, target) -> None:
    client = api(admin_ada)
    pk = create(client, target.url).json()["id"]
    assert client.patch(f"/api/v1/webhooks/{pk}/", {"url": "gopher://x"}, format="json").status_code == 400
    off = client.patch(f"/api/v1/webhooks/{pk}/", {"active": False}, format="json").json()
    assert off["active"] is False and "admin_ada" in off["disabled_reason"]
    on = client.patch(
        f"/api/v1/webhooks/{pk}/", {"active": True, "event_types": ["note.added"]}, format="json"
    ).json()
    assert on["active"] is True and on["disabled_reason"] == "" and on["event_types"] == ["note.added"]
    assert client.delete(f"/api/v1/webhooks/{pk}/").status_code == 204
    assert client.get(f"/api/v1/webhooks/{pk}/").status_code == 404


def test_rotating_returns_the_new_secret_once_and_keeps_the_old_one_signing(admin_ada, target) -> None:
    client = api(admin_ada)
    created = create(client, target.url).json()
    rotated = client.post(f"/api/v1/webhooks/{created['id']}/rotate-secret/", {}, format="json")
    assert rotated.status_code == 200
    new = rotated.json()["secret"]
    assert new.startswith("whsec_") and new != created["secret"]
    detail = client.get(f"/api/v1/webhooks/{created['id']}/").json()
    assert detail["previous_secret_until"] is not None and new not in str(detail)
    endpoint = WebhookEndpoint.objects.get()
    assert (endpoint.secret, endpoint.previous_secret) == (new, created["secret"])
    bad = client.post(
        f"/api/v1/webhooks/{created['id']}/rotate-secret/", {"overlap_hours": -1}, format="json"
    )
    assert bad.status_code == 400


def test_deliveries_are_listed_with_their_attempts_and_redelivered_by_hand(admin_ada, target) -> None:
    client = api(admin_ada)
    created = create(client, target.url).json()
    target.secrets.append(created["secret"])
    (event,) = publish("conversation.resolved")
    events_dispatch()
    delivery.webhooks_deliver_due()
    page = client.get(f"/api/v1/webhooks/{created['id']}/deliveries/").json()
    (row,) = page["results"]
    assert (
        row["event"] == event.uid and row["type"] == "conversation.resolved" and row["state"] == "succeeded"
    )
    assert row["recent_attempts"][0]["status_code"] == 204
    assert client.get(f"/api/v1/webhooks/{created['id']}/deliveries/?state=failed").json()["results"] == []
    assert client.get(f"/api/v1/webhooks/{created['id']}/deliveries/?state=nope").status_code == 400

    again = client.post(f"/api/v1/webhook-deliveries/{row['id']}/redeliver/")
    assert again.status_code == 202 and again.json()["state"] == "pending"
    delivery.webhooks_deliver_due()
    assert target.ids(answered=204) == [event.uid, event.uid]  # the same webhook-id: receivers deduplicate

    client.patch(f"/api/v1/webhooks/{created['id']}/", {"active": False}, format="json")
    refused = client.post(f"/api/v1/webhook-deliveries/{row['id']}/redeliver/")
    assert refused.status_code == 409 and "switched off" in refused.json()["detail"]
    assert client.post("/api/v1/webhook-deliveries/999999/redeliver/").status_code == 404


def test_the_django_admin_lists_deliveries_with_attempts_and_redelivers(admin_ada, target, settings) -> None:
    admin_ada.is_staff = admin_ada.is_superuser = True
    admin_ada.save()
    client = Client()
    client.force_login(admin_ada)
    response = client.post(
        "/admin/events/webhookendpoint/add/",
        {"url": target.url, "description": "CRM", "event_types": '["*"]', "active": "on"},
    )
    assert response.status_code == 302, response.content[:2000]
    endpoint = WebhookEndpoint.objects.get()
    target.secrets.append(endpoint.secret)
    refused = client.post(
        "/admin/events/webhookendpoint/add/",
        {"url": "http://user:pw@hooks.example.com/", "event_types": '["*"]', "active": "on"},
    )
    assert refused.status_code == 200 and b"user name and password" in refused.content
    publish("conversation.resolved")
    events_dispatch()
    delivery.webhooks_deliver_due()
    row = WebhookDelivery.objects.get()
    assert client.get("/admin/events/webhookdelivery/").status_code == 200
    page = client.get(f"/admin/events/webhookdelivery/{row.pk}/change/")
    assert page.status_code == 200 and b"204" in page.content
    client.post("/admin/events/webhookdelivery/", {"action": "redeliver", "_selected_action": [str(row.pk)]})
    delivery.webhooks_deliver_due()
    assert len(target.ids(answered=204)) == 2


def test_the_settings_page_subscribes_shows_the_secret_once_and_redelivers(
    admin_ada, agent_alice, target
) -> None:
    client = Client()
    client.force_login(agent_alice)
    assert client.get("/inbox/settings/webhooks/").status_code == 403
    assert (
        client.post("/inbox/settings/webhooks/", {"action": "create", "url": target.url}).status_code == 403
    )

    client.force_login(admin_ada)
    refused = client.post(
        "/inbox/settings/webhooks/",
        {"action": "create", "url": "http://169.254.169.254/", "event_types": ["*"]},
    )
    assert refused.status_code == 400 and b"cloud metadata" in refused.content
    made = client.post(
        "/inbox/settings/webhooks/",
        {"action": "create", "url": target.url, "event_types": ["note.added", "conversation.resolved"]},
    )
    endpoint = WebhookEndpoint.objects.get()
    assert made.status_code == 200 and endpoint.secret.encode() in made.content
    assert endpoint.event_types == ["conversation.resolved", "note.added"]
    page = client.get("/inbox/settings/webhooks/")
    assert target.url.encode() in page.content and endpoint.secret.encode() not in page.content

    target.secrets.append(endpoint.secret)
    publish("conversation.resolved")
    events_dispatch()
    delivery.webhooks_deliver_due()
    row = WebhookDelivery.objects.get()
    listed = client.get(f"/inbox/settings/webhooks/?endpoint={endpoint.pk}")
    assert row.event.uid.encode() in listed.content and b"204" in listed.content
    assert (
        client.post("/inbox/settings/webhooks/", {"action": "redeliver", "delivery": row.pk}).status_code
        == 302
    )
    delivery.webhooks_deliver_due()
    assert target.ids(answered=204) == [row.event.uid, row.event.uid]

    rotated = client.post("/inbox/settings/webhooks/", {"action": "rotate", "endpoint": endpoint.pk})
    endpoint.refresh_from_db()
    assert endpoint.secret.encode() in rotated.content and endpoint.previous_secret == target.secrets[0]
    client.post("/inbox/settings/webhooks/", {"action": "off", "endpoint": endpoint.pk})
    endpoint.refresh_from_db()
    assert not endpoint.active
    assert (
        client.post("/inbox/settings/webhooks/", {"action": "delete", "endpoint": endpoint.pk}).status_code
        == 302
    )
    assert WebhookEndpoint.objects.count() == 0

"""Web Push end to end without the internet: the hub sends through pywebpush to a push service on 127.0.0.1
that checks the VAPID JWT (RFC 8292) against the key the hub serves and decrypts the payload (RFC 8291) with
the browser's key made here, so a test reads exactly what the agent's phone would show."""

from __future__ import annotations

import asyncio
import json
import time
from pathlib import Path
from typing import Any

import pytest
from django.contrib.staticfiles import finders
from django.test import Client

from contacts.models import Contact
from conversations.models import AgentProfile, Conversation
from conversations.presence import agent_socket_gone, agent_socket_mark
from conversations.services import conversation_assign, note_add
from events.models import DomainEvent
from push.models import PushSubscription, VapidKey
from push.services import push_events_take, vapid_key_get
from tests.conftest import sms_in
from tests.push.conftest import subscribe
from tests.push.receiver import Browser, PushService, vapid_verify

pytestmark = pytest.mark.django_db


@pytest.fixture
def dana_thread(inbox_support, agent_alice, django_capture_on_commit_callbacks) -> Conversation:
    """Dana's thread on the support line, assigned to Alice (its events already dispatched)."""
    with django_capture_on_commit_callbacks(execute=True):
        conversation = sms_in(inbox_support, "Hello?", phone="+14155550142").conversation
        Contact.objects.filter(pk=conversation.contact_id).update(name="Dana Scully")
        conversation_assign(conversation=conversation, assignee=agent_alice, by=None)
    return conversation


def opened(service: PushService, browser: Browser) -> list[dict[str, Any]]:
    """Every push the service got, verified and decrypted as the browser would."""
    key = vapid_key_get().public_key
    payloads = []
    for pushed in service.received:
        claims, signed_with = vapid_verify(pushed.headers["authorization"], audience=service.origin)
        assert signed_with == key  # the key the hub serves to browsers
        assert claims["sub"] == "mailto:ops@hub.example.test"
        assert pushed.headers["content-encoding"] == "aes128gcm"
        assert int(pushed.headers["ttl"]) > 0
        payloads.append(json.loads(browser.decrypt(pushed.body)))
    return payloads


def write(conversation: Conversation, text: str, inbox: Any, capture: Any) -> None:
    with capture(execute=True):
        sms_in(inbox, text, conversation=conversation)


# --- what the phone shows ---------------------------------------------------------------------------------
def test_a_customers_message_on_my_thread_reaches_my_phone_without_its_text(
    push_service, dana_thread, agent_alice, inbox_support, django_capture_on_commit_callbacks
) -> None:
    service = push_service()
    browser = subscribe(agent_alice, service)

    write(dana_thread, "My order 4411 never arrived", inbox_support, django_capture_on_commit_callbacks)

    [payload] = opened(service, browser)
    assert payload == {
        "title": "Dana Scully",
        "body": "New message",
        "url": payload["url"],
        "tag": f"conversation-{dana_thread.pk}",
    }
    assert payload["url"].startswith(f"/inbox/{dana_thread.pk}/#entry-")
    assert "4411" not in json.dumps(payload)  # previews are off until the agent turns them on
    assert PushSubscription.objects.get().last_sent_at is not None


def test_with_previews_on_the_phone_shows_the_text(
    push_service, dana_thread, agent_alice, inbox_support, django_capture_on_commit_callbacks
) -> None:
    service = push_service()
    browser = subscribe(agent_alice, service)
    client = Client()
    client.force_login(agent_alice)
    assert client.post("/inbox/push/previews/", {"previews": "1"}).status_code == 302
    assert b"Message previews are <strong>shown</strong>" in client.get("/inbox/profile/").content

    write(dana_thread, "My order 4411 never arrived", inbox_support, django_capture_on_commit_callbacks)

    [payload] = opened(service, browser)
    assert payload["title"] == "Dana Scully" and payload["body"] == "My order 4411 never arrived"


def test_a_mention_reaches_the_mentioned_agents_phone(
    push_service, dana_thread, agent_alice, manager_maria, django_capture_on_commit_callbacks
) -> None:
    service = push_service()
    browser = subscribe(agent_alice, service)

    with django_capture_on_commit_callbacks(execute=True):
        note_add(conversation=dana_thread, author=manager_maria, body="@agent_alice refund her, VIP")

    [payload] = opened(service, browser)
    assert payload["title"].endswith("mentioned you") and "refund" not in payload["body"]
    assert payload["body"] == "In the conversation with Dana Scully"


def test_no_push_for_threads_that_are_not_mine(
    push_service, dana_thread, agent_alice, inbox_support, django_capture_on_commit_callbacks
) -> None:
    service = push_service()
    subscribe(agent_alice, service)
    with django_capture_on_commit_callbacks(execute=True):
        conversation_assign(conversation=dana_thread, assignee=None, by=None)

    write(dana_thread, "anyone there?", inbox_support, django_capture_on_commit_callbacks)

    assert service.received == []


def test_an_agent_with_a_tab_open_gets_no_push(
    push_service, dana_thread, agent_alice, inbox_support, django_capture_on_commit_callbacks
) -> None:
    service = push_service()
    browser = subscribe(agent_alice, service)
    asyncio.run(agent_socket_mark(user_id=agent_alice.pk, socket="tab-1"))
    try:
        write(dana_thread, "while you look", inbox_support, django_capture_on_commit_callbacks)
        assert service.received == []
    finally:
        asyncio.run(agent_socket_gone(user_id=agent_alice.pk, socket="tab-1"))

    write(dana_thread, "after you closed it", inbox_support, django_capture_on_commit_callbacks)
    assert len(opened(service, browser)) == 1


def test_an_agent_removed_from_the_team_stops_getting_its_pushes_at_once(
    push_service, dana_thread, agent_alice, team_support, inbox_support, django_capture_on_commit_callbacks
) -> None:
    service = push_service()
    subscribe(agent_alice, service)
    AgentProfile.objects.get(user=agent_alice).teams.remove(team_support)

    # Still the assignee on paper, but no longer able to see the thread.
    write(dana_thread, "secret account details", inbox_support, django_capture_on_commit_callbacks)

    assert service.received == []


# --- a push service that is gone, or hangs ----------------------------------------------------------------
@pytest.mark.parametrize("answer", [404, 410])
def test_a_subscription_the_push_service_says_is_gone_is_deleted_at_once(
    answer, push_service, dana_thread, agent_alice, inbox_support, django_capture_on_commit_callbacks
) -> None:
    service = push_service(answer=answer)
    subscribe(agent_alice, service)

    write(dana_thread, "hello?", inbox_support, django_capture_on_commit_callbacks)
    write(dana_thread, "hello again?", inbox_support, django_capture_on_commit_callbacks)

    assert len(service.received) == 1  # asked once, never again
    assert not PushSubscription.objects.exists()


def test_a_push_service_that_hangs_costs_the_timeout_and_the_task_finishes(
    push_service, dana_thread, agent_alice, inbox_support, django_capture_on_commit_callbacks
) -> None:
    service = push_service(hang_s=30)
    subscribe(agent_alice, service)
    started = time.monotonic()

    write(dana_thread, "are you there?", inbox_support, django_capture_on_commit_callbacks)

    elapsed = time.monotonic() - started
    # One try and three retries (run at once by the eager test worker), each cut at PUSH_TIMEOUT_S = 1 s.
    assert len(service.received) == 4
    assert elapsed < 4 * 1.0 + 4
    device = PushSubscription.objects.get()
    assert device.failures == 1 and device.last_sent_at is None


# --- keys and devices -------------------------------------------------------------------------------------
def test_the_vapid_key_pair_is_made_once_however_many_hosts_ask_at_once(transactional_db) -> None:
    from tests.conftest import run_concurrently

    keys = run_concurrently(lambda: vapid_key_get().public_key, 4)
    assert len(set(keys)) == 1 and VapidKey.objects.count() == 1


def test_a_subscription_for_a_private_address_or_plain_http_is_refused(agent_alice) -> None:
    client = Client()
    client.force_login(agent_alice)
    for endpoint in ("http://push.example.com/x", "https://10.0.0.5/x", "https://127.0.0.1:8443/x"):
        body = Browser().subscription(endpoint)
        response = client.post(
            "/inbox/push/subscriptions/", json.dumps(body), content_type="application/json"
        )
        assert response.status_code == 400, (endpoint, response.content)
    bad_keys = {"endpoint": "https://push.example.com/x", "keys": {"p256dh": "abc", "auth": "def"}}
    response = client.post(
        "/inbox/push/subscriptions/", json.dumps(bad_keys), content_type="application/json"
    )
    assert response.status_code == 400 and b"p256dh" in response.content
    assert not PushSubscription.objects.exists()


def test_my_devices_are_listed_on_my_profile_and_removed_from_there(
    push_service, agent_alice, agent_bob
) -> None:
    service = push_service()
    subscribe(agent_alice, service, "alice-phone")
    subscribe(agent_bob, service, "bob-phone")
    alice = Client()
    alice.force_login(agent_alice)
    page = alice.get("/inbox/profile/").content.decode()
    mine = PushSubscription.objects.get(user=agent_alice)
    bobs = PushSubscription.objects.get(user=agent_bob)
    assert "Chrome on Android" in page and f"/inbox/push/devices/{mine.pk}/remove/" in page
    assert f"/inbox/push/devices/{bobs.pk}/remove/" not in page

    assert alice.post(f"/inbox/push/devices/{bobs.pk}/remove/").status_code == 404
    assert alice.post(f"/inbox/push/devices/{mine.pk}/remove/").status_code == 302
    assert list(PushSubscription.objects.values_list("user_id", flat=True)) == [agent_bob.pk]


def test_this_device_unsubscribes_itself(push_service, agent_alice) -> None:
    service = push_service()
    subscribe(agent_alice, service)
    client = Client()
    client.force_login(agent_alice)
    body = json.dumps({"endpoint": service.endpoint("phone")})
    response = client.delete("/inbox/push/subscriptions/", body, content_type="application/json")
    assert response.json() == {"removed": 1} and not PushSubscription.objects.exists()


# --- the installable app ----------------------------------------------------------------------------------
def test_the_manifest_service_worker_and_offline_page_are_served_to_anyone(client) -> None:
    manifest = client.get("/manifest.webmanifest")
    assert manifest["Content-Type"] == "application/manifest+json"
    data = manifest.json()
    assert data["display"] == "standalone" and data["start_url"] == "/inbox/"
    sizes = {icon["sizes"] for icon in data["icons"]}
    assert {"192x192", "512x512"} <= sizes
    for icon in data["icons"]:
        found = finders.find(icon["src"].removeprefix("/static/"))
        assert isinstance(found, str) and Path(found).read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"

    worker = client.get("/sw.js")
    assert worker["Service-Worker-Allowed"] == "/" and "javascript" in worker["Content-Type"]
    script = worker.content.decode()
    assert '"/offline/"' in script and "/api/" not in script.split("const SHELL")[1].split(";")[0]
    assert "showNotification" in script and "notificationclick" in script

    offline = client.get("/offline/")
    assert offline.status_code == 200 and b"You are offline" in offline.content


def test_an_event_offered_twice_buzzes_the_phone_once(
    push_service, dana_thread, agent_alice, inbox_support, django_capture_on_commit_callbacks
) -> None:
    service = push_service()
    subscribe(agent_alice, service)
    write(dana_thread, "just once please", inbox_support, django_capture_on_commit_callbacks)
    event = DomainEvent.objects.filter(type="message.received").latest("id")

    # The outbox offers it again (another consumer failed on it): at least once for the outbox, once for the phone.
    with django_capture_on_commit_callbacks(execute=True):
        push_events_take([event])

    assert len(service.received) == 1


def test_a_cross_site_page_cannot_subscribe_its_own_endpoint_for_an_agent(push_service, agent_alice) -> None:
    service = push_service()
    client = Client(enforce_csrf_checks=True)
    client.force_login(agent_alice)
    body = json.dumps(Browser().subscription(service.endpoint("attacker")))
    response = client.post("/inbox/push/subscriptions/", body, content_type="application/json")
    assert response.status_code == 403 and not PushSubscription.objects.exists()

"""The agents' inbox pages and their small JSON endpoints."""

from __future__ import annotations

import pytest
from django.test import Client

from conversations.models import Entry
from tests.conftest import sms_in, thread_of, twilio_fixture


@pytest.mark.django_db
def test_the_inbox_needs_a_login(client) -> None:
    response = client.get("/inbox/")
    assert response.status_code == 302
    assert response["Location"].startswith("/accounts/login/")


@pytest.mark.django_db
def test_login_with_the_form_leads_to_the_inbox(agent_alice) -> None:
    client = Client()
    response = client.post(
        "/accounts/login/", {"username": "agent_alice", "password": "correct horse battery staple"}
    )
    assert response.status_code == 302
    assert response["Location"] == "/inbox/"


@pytest.mark.django_db
def test_the_list_shows_threads_latest_first_with_unanswered_marked(
    alice_client, sms_thread, deliver_inbound
) -> None:
    deliver_inbound(
        twilio_fixture("inbound_sms", From="+14155550143", MessageSid="SM" + "7" * 32, Body="Newest question")
    )
    page = alice_client.get("/inbox/").content.decode()
    assert page.index("Newest question") < page.index("blue trail runner")
    assert page.count("unanswered-badge") >= 2


@pytest.mark.django_db
def test_the_thread_shows_channel_direction_author_time_and_delivery(
    alice_client, sms_thread, agent_alice
) -> None:
    response = alice_client.post(f"/inbox/{sms_thread.pk}/reply/", {"body": "On its way!", "channel": "sms"})
    assert response.status_code == 201
    html = response.json()["entry"]["html"]
    assert "On its way!" in html and "SMS" in html and "Outbound" in html and "Alice" in html
    assert "status-queued" in html or "status-sent" in html
    page = alice_client.get(f"/inbox/{sms_thread.pk}/").content.decode()
    assert "blue trail runner" in page and "On its way!" in page
    assert 'name="channel"' in page and 'value="sms" selected' in page


@pytest.mark.django_db
def test_a_refused_reply_says_why(alice_client, deliver_inbound, inbox_support) -> None:
    deliver_inbound(twilio_fixture("inbound_sms", Body="STOP"))
    sms_thread = thread_of("+14155550142")
    response = alice_client.post(f"/inbox/{sms_thread.pk}/reply/", {"body": "Hello?", "channel": "sms"})
    assert response.status_code == 409
    assert "texted STOP" in response.json()["error"]


@pytest.mark.django_db
def test_a_private_note_from_the_composer(alice_client, sms_thread) -> None:
    response = alice_client.post(
        f"/inbox/{sms_thread.pk}/reply/", {"body": "Call back after 3pm", "kind": "note"}
    )
    assert response.status_code == 201
    assert Entry.objects.get(kind="note").body == "Call back after 3pm"


@pytest.mark.django_db
def test_status_and_assignment_from_the_thread(alice_client, sms_thread, agent_alice) -> None:
    assert (
        alice_client.post(f"/inbox/{sms_thread.pk}/status/", {"status": "resolved"}).json()["status"]
        == "resolved"
    )
    assert (
        alice_client.post(f"/inbox/{sms_thread.pk}/assign/", {"assignee": "me"}).json()["assignee"]
        == agent_alice.pk
    )
    assert alice_client.post(f"/inbox/{sms_thread.pk}/status/", {"status": "nonsense"}).status_code == 400


@pytest.mark.django_db
def test_older_entries_load_by_cursor(alice_client, sms_thread, inbox_support) -> None:
    for n in range(60):
        sms_in(inbox_support, f"message number {n:02d}", conversation=sms_thread)
    page = alice_client.get(f"/inbox/{sms_thread.pk}/").content.decode()
    assert "message number 59" in page and "message number 05" not in page
    cursor = page.split('data-url="')[1].split('"')[0].replace("&amp;", "&")
    older = alice_client.get(cursor).content.decode()
    assert "message number 05" in older and "message number 59" not in older


@pytest.mark.django_db
def test_the_sandbox_page_lists_what_would_have_been_sent(
    alice_client, sms_thread, settings, django_capture_on_commit_callbacks
) -> None:
    settings.TWILIO_ACCOUNT_SID = settings.TWILIO_AUTH_TOKEN = ""
    with django_capture_on_commit_callbacks(execute=True):
        alice_client.post(f"/inbox/{sms_thread.pk}/reply/", {"body": "Sandboxed hello"})
    assert "Sandboxed hello" in alice_client.get("/inbox/sandbox/").content.decode()


@pytest.mark.django_db
def test_the_inbox_settings_show_the_urls_to_paste(admin_ada, inbox_support) -> None:
    client = Client()
    client.force_login(admin_ada)
    page = client.get("/inbox/settings/").content.decode()
    assert "https://hub.example.test/webhooks/twilio/messaging/" in page
    assert "https://hub.example.test/webhooks/twilio/messaging/status/" in page

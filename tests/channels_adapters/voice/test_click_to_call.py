"""Call back from the thread: Twilio rings the agent's own phone, then bridges to the customer."""

from __future__ import annotations

import json

import pytest

from conversations.models import AgentProfile, Entry
from tests.channels_adapters.voice.conftest import ALICE_PHONE, CUSTOMER, twiml, verbs
from tests.conftest import PUBLIC_BASE_URL, SUPPORT_NUMBER, sms_in, thread_of


@pytest.fixture
def waiting_thread(inbox_support, agent_alice):
    sms_in(inbox_support, "Please call me", phone=CUSTOMER)
    AgentProfile.objects.filter(user=agent_alice).update(phone=ALICE_PHONE)
    conversation = thread_of(CUSTOMER)
    assert conversation.is_unanswered
    return conversation


def call_back(client, conversation, django_capture_on_commit_callbacks):
    with django_capture_on_commit_callbacks(execute=True):
        return client.post(f"/inbox/{conversation.pk}/call/")


@pytest.mark.django_db
def test_call_back_reaches_twilio_rings_the_agent_and_bridges_to_the_customer(
    waiting_thread, alice_client, fake_twilio, voice_post, django_capture_on_commit_callbacks
) -> None:
    response = call_back(alice_client, waiting_thread, django_capture_on_commit_callbacks)
    assert response.status_code == 201, response.content
    [placed] = fake_twilio.calls
    assert (placed["to"], placed["from"]) == (ALICE_PHONE, SUPPORT_NUMBER)
    entry = Entry.objects.get(kind="call")
    assert (entry.direction, entry.channel, entry.author.username) == ("outbound", "voice", "agent_alice")
    assert (entry.to_address, entry.from_address) == (CUSTOMER, SUPPORT_NUMBER)
    assert entry.provider_id == placed["sid"] and entry.delivery_status == "sent"
    assert placed["url"] == f"{PUBLIC_BASE_URL}/webhooks/twilio/voice/bridge/?entry={entry.pk}"
    assert placed["status_callback"] == (
        f"{PUBLIC_BASE_URL}/webhooks/twilio/voice/status/?entry={entry.pk}&direction=outbound"
    )
    assert set(placed["status_callback_event"]) == {"initiated", "ringing", "answered", "completed"}
    assert not thread_of(CUSTOMER).is_unanswered  # calling back is answering

    # Alice picks up: Twilio fetches the bridge, which dials the customer from the business number.
    leg = {
        "AccountSid": placed["account_sid"],
        "CallSid": placed["sid"],
        "CallStatus": "in-progress",
        "Direction": "outbound-api",
        "From": SUPPORT_NUMBER,
        "To": ALICE_PHONE,
    }
    root = twiml(voice_post(placed["url"], leg))
    assert verbs(root) == ["Say", "Dial"]
    dial = root.find("Dial")
    assert dial is not None and dial.get("callerId") == SUPPORT_NUMBER
    [number] = dial.findall("Number")
    assert number.text == CUSTOMER

    # The call's life reaches the entry: ringing, the customer answers, completed.
    voice_post(placed["status_callback"], {**leg, "CallStatus": "ringing"})
    assert Entry.objects.get(pk=entry.pk).data["call_label"] == "Ringing your phone…"
    customer_leg = {**leg, "CallSid": "CAcustomerleg", "ParentCallSid": placed["sid"], "To": CUSTOMER}
    voice_post(number.get("statusCallback", ""), customer_leg)
    assert Entry.objects.get(pk=entry.pk).data["call_label"] == "Connected to the customer"
    voice_post(placed["status_callback"], {**leg, "CallStatus": "completed", "CallDuration": "64"})
    assert Entry.objects.get(pk=entry.pk).data["call_label"] == "Call completed · 1:04"
    assert Entry.objects.filter(kind="call").count() == 1


@pytest.mark.django_db
def test_in_the_sandbox_the_call_is_recorded_not_placed(
    waiting_thread, alice_client, settings, django_capture_on_commit_callbacks
) -> None:
    settings.TWILIO_ACCOUNT_SID = ""
    settings.TWILIO_AUTH_TOKEN = ""
    response = call_back(alice_client, waiting_thread, django_capture_on_commit_callbacks)
    assert response.status_code == 201
    entry = Entry.objects.get(kind="call")
    assert entry.data["sandbox"] is True and entry.provider_id.startswith("CA")
    [record] = [
        json.loads(line) for line in (settings.SANDBOX_DIR / "outbound.jsonl").read_text().splitlines()
    ]
    assert (record["channel"], record["to"], record["agent_phone"]) == ("voice", CUSTOMER, ALICE_PHONE)
    assert record["reference"] == str(entry.pk)
    page = alice_client.get("/inbox/sandbox/").content.decode()
    assert f"then bridge to {CUSTOMER}" in page


@pytest.mark.django_db
def test_without_a_phone_in_the_profile_the_agent_is_told_what_to_do(
    inbox_support, agent_alice, alice_client
) -> None:
    conversation = sms_in(inbox_support, "Please call me", phone=CUSTOMER).conversation
    response = alice_client.post(f"/inbox/{conversation.pk}/call/")
    assert response.status_code == 400
    assert "Add your phone number to your profile" in response.json()["error"]
    assert not Entry.objects.filter(kind="call").exists()


@pytest.mark.django_db
def test_a_thread_of_another_team_cannot_be_called(inbox_sales, agent_alice, alice_client) -> None:
    AgentProfile.objects.filter(user=agent_alice).update(phone=ALICE_PHONE)
    conversation = sms_in(inbox_sales, "Hi", phone="+12125550187").conversation
    assert alice_client.post(f"/inbox/{conversation.pk}/call/").status_code == 404
    assert not Entry.objects.filter(kind="call").exists()


@pytest.mark.django_db
def test_the_bridge_for_an_unknown_entry_hangs_up(voice_post, inbox_support) -> None:
    root = twiml(
        voice_post(
            "/webhooks/twilio/voice/bridge/",
            {"AccountSid": "ACaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaa", "CallSid": "CAx"},
            query="entry=999999",
        )
    )
    assert verbs(root) == ["Say", "Hangup"]


@pytest.mark.django_db
def test_the_profile_page_keeps_the_agents_phone_and_availability(agent_alice, alice_client) -> None:
    page = alice_client.get("/inbox/profile/")
    assert page.status_code == 200 and b'name="phone"' in page.content
    response = alice_client.post("/inbox/profile/", {"phone": "(415) 555-0111", "availability": "away"})
    assert response.status_code == 200 and b"Saved." in response.content
    profile = AgentProfile.objects.get(user=agent_alice)
    assert (profile.phone, profile.availability) == (ALICE_PHONE, "away")
    refused = alice_client.post("/inbox/profile/", {"phone": "call me maybe", "availability": "online"})
    assert refused.status_code == 400 and b"not a phone number" in refused.content
    assert AgentProfile.objects.get(user=agent_alice).phone == ALICE_PHONE
    assert alice_client.post("/inbox/profile/", {"phone": "", "availability": "busy"}).status_code == 400


@pytest.mark.django_db
def test_the_sandbox_call_says_so_in_the_thread(
    waiting_thread, alice_client, settings, django_capture_on_commit_callbacks
) -> None:
    settings.TWILIO_ACCOUNT_SID = ""
    settings.TWILIO_AUTH_TOKEN = ""
    call_back(alice_client, waiting_thread, django_capture_on_commit_callbacks)
    page = alice_client.get(f"/inbox/{waiting_thread.pk}/").content.decode()
    assert f"Recorded in the sandbox: Twilio would ring your phone ({ALICE_PHONE}), then the customer" in page


@pytest.mark.django_db
def test_a_call_twilio_refuses_says_why_and_is_not_retried(
    waiting_thread, alice_client, fake_twilio, django_capture_on_commit_callbacks
) -> None:
    fake_twilio.state.failures[ALICE_PHONE] = (400, 21215, "Account not authorized to call +14155550111")
    call_back(alice_client, waiting_thread, django_capture_on_commit_callbacks)
    entry = Entry.objects.get(kind="call")
    assert entry.delivery_status == "failed" and entry.attempts == 1
    assert "geo permissions" in entry.status_reason
    page = alice_client.get(f"/inbox/{waiting_thread.pk}/").content.decode()
    assert "Could not place the call" in page and "geo permissions" in page

"""What Twilio is told to do with a call, parsed as XML and checked verb by verb."""

from __future__ import annotations

from urllib.parse import parse_qs, urlsplit
from zoneinfo import ZoneInfo

import pytest
from django.utils import timezone

from channels_adapters.models import InboundEvent
from conversations.services import conversation_assign
from tests.channels_adapters.voice.conftest import ALICE_PHONE, CALL_SID, CAROL_PHONE, CUSTOMER, twiml, verbs
from tests.conftest import PUBLIC_BASE_URL, SUPPORT_NUMBER, sms_in, twilio_fixture

PATH = "/webhooks/twilio/voice/"


def _query(url: str) -> dict[str, str]:
    return {key: values[0] for key, values in parse_qs(urlsplit(url).query).items()}


@pytest.mark.django_db
def test_within_hours_the_available_agents_of_the_team_ring_at_once_from_the_business_number(
    voice_post, inbox_support, phones, agent_bob
) -> None:
    inbox_support.voice_greeting = "Thanks for calling Trailhead support."
    inbox_support.save()
    root = twiml(voice_post(PATH, twilio_fixture("voice_incoming")))
    assert verbs(root) == ["Say", "Dial"]
    assert root[0].text == "Thanks for calling Trailhead support."
    dial = root.find("Dial")
    assert dial is not None
    assert dial.get("callerId") == SUPPORT_NUMBER
    assert dial.get("timeout") == "20"
    assert dial.get("method") == "POST"
    action = dial.get("action", "")
    assert action.startswith(f"{PUBLIC_BASE_URL}/webhooks/twilio/voice/dial/?")
    assert _query(action) == {"stage": "team", "call": CALL_SID, "caller": CUSTOMER, "called": SUPPORT_NUMBER}
    numbers = dial.findall("Number")
    # Olga is offline; Bob is on another team: neither rings.
    assert [n.text for n in numbers] == [ALICE_PHONE, CAROL_PHONE]
    for number, agent in zip(numbers, (phones["alice"], phones["carol"]), strict=True):
        callback = number.get("statusCallback", "")
        assert callback.startswith(f"{PUBLIC_BASE_URL}/webhooks/twilio/voice/status/?")
        assert _query(callback)["agent"] == str(agent.pk)
        assert _query(callback)["leg"] == "agent"
        assert number.get("statusCallbackEvent") == "answered completed"
    # The call itself was stored before the answer went out.
    assert InboundEvent.objects.get().idempotency_key == f"twilio:call:{CALL_SID}:incoming"


@pytest.mark.django_db
def test_a_known_caller_is_greeted_by_name_and_their_assigned_agent_rings_first(
    voice_post, inbox_support, phones
) -> None:
    conversation = sms_in(inbox_support, "Hi", phone=CUSTOMER).conversation
    conversation.contact.name = "Dana Whitfield"
    conversation.contact.save()
    conversation_assign(conversation=conversation, assignee=phones["carol"], by=None)
    root = twiml(voice_post(PATH, twilio_fixture("voice_incoming")))
    assert verbs(root) == ["Say", "Say", "Dial"]
    assert root[0].text == "Hello Dana."
    dial = root.find("Dial")
    assert dial is not None
    assert [n.text for n in dial.findall("Number")] == [CAROL_PHONE]
    assert _query(dial.get("action", ""))["stage"] == "assigned"

    # Carol does not answer: the rest of the team rings, without her.
    root = twiml(voice_post(dial.get("action", ""), twilio_fixture("voice_dial_no_answer")))
    assert verbs(root) == ["Dial"]
    second = root.find("Dial")
    assert second is not None
    assert [n.text for n in second.findall("Number")] == [ALICE_PHONE]

    # Nobody answers: voicemail.
    root = twiml(voice_post(second.get("action", ""), twilio_fixture("voice_dial_no_answer")))
    assert verbs(root) == ["Say", "Record", "Hangup"]


@pytest.mark.django_db
def test_voicemail_records_with_a_maximum_length_a_status_callback_and_a_transcription(
    voice_post, inbox_support
) -> None:
    inbox_support.voicemail_max_s = 90
    inbox_support.save()
    # No agent has a phone: straight to voicemail.
    root = twiml(voice_post(PATH, twilio_fixture("voice_incoming")))
    assert verbs(root) == ["Say", "Say", "Record", "Hangup"]
    record = root.find("Record")
    assert record is not None
    assert record.get("maxLength") == "90"
    assert record.get("playBeep") == "true"
    assert record.get("transcribe") == "true"
    context = {"call": CALL_SID, "caller": CUSTOMER, "called": SUPPORT_NUMBER}
    for attribute, path in (
        ("recordingStatusCallback", "/webhooks/twilio/voice/recording/"),
        ("transcribeCallback", "/webhooks/twilio/voice/transcription/"),
        ("action", "/webhooks/twilio/voice/dial/"),
    ):
        url = record.get(attribute, "")
        assert url.startswith(PUBLIC_BASE_URL + path + "?"), (attribute, url)
        assert context.items() <= _query(url).items()
    assert record.get("recordingStatusCallbackEvent") == "completed absent"
    # The Record action only says goodbye.
    done = twiml(voice_post(record.get("action", ""), twilio_fixture("voice_dial_no_answer")))
    assert verbs(done) == ["Say", "Hangup"]


@pytest.mark.django_db
def test_on_a_holiday_the_call_goes_to_voicemail_even_with_agents_online(
    voice_post, inbox_support, phones
) -> None:
    zone = ZoneInfo("America/Los_Angeles")
    inbox_support.time_zone = "America/Los_Angeles"
    inbox_support.holidays = [timezone.now().astimezone(zone).date().isoformat()]
    inbox_support.save()
    root = twiml(voice_post(PATH, twilio_fixture("voice_incoming")))
    assert verbs(root) == ["Say", "Say", "Record", "Hangup"]
    assert (root[1].text or "").startswith("We are closed right now.")


@pytest.mark.django_db
def test_an_answered_dial_ends_the_call(voice_post, inbox_support, phones) -> None:
    root = twiml(voice_post(PATH, twilio_fixture("voice_incoming")))
    dial = root.find("Dial")
    assert dial is not None
    done = twiml(voice_post(dial.get("action", ""), twilio_fixture("voice_dial_completed")))
    assert verbs(done) == ["Hangup"]


@pytest.mark.django_db
def test_names_and_greetings_cannot_inject_twiml(voice_post, inbox_support, phones) -> None:
    """A contact's name and an inbox's greeting are text in <Say>, never verbs."""
    injected = "</Say><Dial><Number>+19005550100</Number></Dial><Say>"
    conversation = sms_in(inbox_support, "Hi", phone=CUSTOMER).conversation
    conversation.contact.name = injected
    conversation.contact.save()
    inbox_support.voice_greeting = "Welcome & <Hangup/> goodbye"
    inbox_support.save()
    root = twiml(voice_post(PATH, twilio_fixture("voice_incoming")))
    assert verbs(root) == ["Say", "Say", "Dial"]
    assert root[0].text == "Hello </Say><Dial><Number>+19005550100</Number></Dial><Say>."
    assert root[1].text == "Welcome & <Hangup/> goodbye"
    assert "+19005550100" not in [n.text for n in root.iter("Number")]

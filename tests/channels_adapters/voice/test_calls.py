"""One call, one entry in the caller's lifetime thread, live through its life, whatever order Twilio calls in."""

from __future__ import annotations

import itertools

import pytest

from channels_adapters.inbound import inbound_event_process
from channels_adapters.models import InboundEvent
from contacts.models import Contact, Identity
from conversations.models import Attachment, Conversation, Entry, RealtimeEvent
from tests.channels_adapters.voice.conftest import ALICE_PHONE, CALL_SID, CUSTOMER, twiml
from tests.conftest import ACCOUNT_SID, sms_in, thread_of, twilio_fixture

INCOMING = "/webhooks/twilio/voice/"
STATUS = "/webhooks/twilio/voice/status/"
RECORDING = "/webhooks/twilio/voice/recording/"
TRANSCRIPTION = "/webhooks/twilio/voice/transcription/"
CONTEXT = f"call={CALL_SID}&caller=%2B14155550142&called=%2B14155550100"
MP3 = b"ID3\x04\x00\x00\x00\x00\x00\x00" + b"\xff\xfb\x90\x00" * 64
REC = "RE7d6c5b4a39281706f5e4d3c2b1a0f9e8"


def call_entry() -> Entry:
    return Entry.objects.get(kind="call", provider_id=CALL_SID)


def recording_fixture(fake_twilio, **overrides) -> dict[str, str]:
    """The recording callback, its RecordingUrl on the local fake Twilio media server (which serves the MP3)."""
    path = f"/2010-04-01/Accounts/{ACCOUNT_SID}/Recordings/{REC}"
    fake_twilio.state.media[path + ".mp3"] = (MP3, "audio/mpeg")
    return twilio_fixture("voice_recording_completed", RecordingUrl=fake_twilio.url + path, **overrides)


def transcription_fixture(fake_twilio, name: str = "voice_transcription_completed") -> dict[str, str]:
    path = f"/2010-04-01/Accounts/{ACCOUNT_SID}/Recordings/{REC}"
    return twilio_fixture(name, RecordingUrl=fake_twilio.url + path)


@pytest.mark.django_db
def test_the_full_life_of_a_missed_call_with_voicemail_ends_as_one_entry_with_transcript_and_recording(
    voice_post, inbox_support, agent_alice, alice_client, fake_twilio
) -> None:
    twiml(voice_post(INCOMING, twilio_fixture("voice_incoming")))
    entry = call_entry()
    assert (entry.kind, entry.channel, entry.direction) == ("call", "voice", "inbound")
    assert entry.data["call_label"] == "Ringing…"
    assert entry.inbox == inbox_support
    assert not thread_of(CUSTOMER).is_unanswered  # a ringing call is not yet work

    voice_post(STATUS, twilio_fixture("voice_status_completed", CallStatus="in-progress"))
    assert call_entry().data["call_label"] == "In progress"
    voice_post(STATUS, twilio_fixture("voice_status_completed"))
    assert call_entry().data["call_label"] == "Missed call"
    assert thread_of(CUSTOMER).is_unanswered
    voice_post(RECORDING, recording_fixture(fake_twilio), query=CONTEXT)
    assert call_entry().data["call_label"] == "Voicemail (0:17)"
    voice_post(TRANSCRIPTION, transcription_fixture(fake_twilio), query=CONTEXT)

    entry = Entry.objects.get()  # one entry, nothing else in the thread
    assert entry.body == "Hi, it's Dana. My order 4471 arrived with the wrong size; please call me back."
    assert entry.data["call_outcome"] == "voicemail"
    conversation = thread_of(CUSTOMER)
    assert conversation.is_unanswered and conversation.status == "open"
    assert conversation.last_preview.startswith("Voicemail")
    attachment = Attachment.objects.get(entry=entry)
    assert attachment.state == "stored" and attachment.content_type == "audio/mpeg"
    # Fetched with the account's credentials from the fake Twilio media server.
    assert fake_twilio.state.media_requests[-1]["auth"].startswith("Basic ")

    # The recording plays from our own authenticated URL; the thread shows it with its transcript.
    response = alice_client.get(f"/attachments/{attachment.pk}/")
    assert response.status_code == 200
    assert response["Content-Type"] == "audio/mpeg"
    assert b"".join(response.streaming_content) == MP3
    page = alice_client.get(f"/inbox/{conversation.pk}/").content.decode()
    assert f'<audio controls preload="none" src="/attachments/{attachment.pk}/">' in page
    assert "please call me back" in page and "Voicemail (0:17)" in page
    assert ACCOUNT_SID not in page and fake_twilio.url not in page
    from django.test import Client

    assert Client().get(f"/attachments/{attachment.pk}/").status_code == 302  # to the login page

    # Searchable like a message: the API's timeline has the transcript as the entry's text.
    timeline = alice_client.get(f"/api/v1/contacts/{conversation.contact_id}/timeline/").json()
    [item] = timeline["results"]
    assert (item["kind"], item["channel"], item["body"]) == ("call", "voice", entry.body)


ORDERINGS = list(itertools.permutations(["incoming", "status", "recording", "transcription"]))


@pytest.mark.django_db
@pytest.mark.parametrize("order", [*ORDERINGS[::5], ("transcription", "status", "incoming", "recording")])
def test_callbacks_in_any_order_end_the_same(order, voice_post, inbox_support, fake_twilio) -> None:
    posts = {
        "incoming": (INCOMING, twilio_fixture("voice_incoming"), ""),
        "status": (STATUS, twilio_fixture("voice_status_completed"), ""),
        "recording": (RECORDING, recording_fixture(fake_twilio), CONTEXT),
        "transcription": (TRANSCRIPTION, transcription_fixture(fake_twilio), CONTEXT),
    }
    for name in order:
        path, params, query = posts[name]
        assert voice_post(path, params, query=query).status_code in (200, 204)
    entry = call_entry()
    assert Entry.objects.count() == 1
    assert entry.data["call_outcome"] == "voicemail"
    assert entry.body.startswith("Hi, it's Dana.")
    assert entry.from_address == CUSTOMER
    assert Attachment.objects.get().state == "stored"
    assert thread_of(CUSTOMER).is_unanswered
    assert InboundEvent.objects.filter(state="done").count() == 4


@pytest.mark.django_db
def test_the_same_callback_three_times_changes_nothing_after_the_first(
    voice_post, inbox_support, fake_twilio
) -> None:
    voice_post(INCOMING, twilio_fixture("voice_incoming"))
    for path, params, query in [
        (STATUS, twilio_fixture("voice_status_completed"), ""),
        (RECORDING, recording_fixture(fake_twilio), CONTEXT),
        (TRANSCRIPTION, transcription_fixture(fake_twilio), CONTEXT),
    ]:
        answers = [voice_post(path, params, query=query).status_code for _ in range(3)]
        assert answers == [204, 204, 204]
    for _ in range(3):
        twiml(voice_post(INCOMING, twilio_fixture("voice_incoming")))
    assert InboundEvent.objects.count() == 4
    assert Entry.objects.count() == 1 and Attachment.objects.count() == 1
    version = call_entry().version
    for event in InboundEvent.objects.all():
        assert inbound_event_process(event_id=event.pk) is None  # done already
    assert call_entry().version == version


@pytest.mark.django_db
def test_a_callback_for_a_call_nobody_heard_of_is_stored_and_answered_but_makes_no_entry(
    voice_post, inbox_support
) -> None:
    # Twilio's recording callback alone carries no caller and no number: nothing to attach it to.
    response = voice_post(RECORDING, twilio_fixture("voice_recording_completed", CallSid="CAunknown"))
    assert response.status_code == 204
    event = InboundEvent.objects.get()
    assert event.state == "failed" and "never heard of" in event.last_error
    assert event.payload["CallSid"] == "CAunknown"  # kept for an admin
    assert not Entry.objects.exists()


@pytest.mark.django_db
def test_a_status_callback_for_an_unknown_call_with_its_numbers_makes_the_entry(
    voice_post, inbox_support
) -> None:
    """The incoming webhook was lost (or pointed elsewhere): the completed call still shows as missed."""
    voice_post(STATUS, twilio_fixture("voice_status_completed"))
    entry = call_entry()
    assert entry.data["call_label"] == "Missed call"
    assert thread_of(CUSTOMER).is_unanswered


@pytest.mark.django_db
@pytest.mark.parametrize("withheld", ["+266696687", "anonymous", "", "Anonymous"])
def test_a_withheld_caller_id_is_an_unknown_caller_of_its_own_never_merged(
    withheld, voice_post, inbox_support
) -> None:
    sms_in(inbox_support, "an earlier text", phone=CUSTOMER)
    for n in range(2):
        params = twilio_fixture("voice_incoming", From=withheld, Caller=withheld, CallSid=f"CAwithheld{n}")
        root = twiml(voice_post(INCOMING, params))
        assert "Hello" not in "".join(say.text or "" for say in root.iter("Say"))
        voice_post(STATUS, {**params, "CallStatus": "completed", "CallDuration": "3"})
    calls = list(Entry.objects.filter(kind="call").select_related("conversation__contact"))
    assert len(calls) == 2
    contacts = {call.conversation.contact_id for call in calls}
    assert len(contacts) == 2  # one unknown caller each, never one another's
    assert thread_of(CUSTOMER).contact_id not in contacts
    for call in calls:
        assert call.conversation.contact.name == "Unknown caller"
        assert call.data["withheld_caller"] is True
        assert call.data["call_label"] == "Missed call"
    assert not Identity.objects.filter(contact_id__in=contacts).exists()
    assert Contact.objects.count() == 3


@pytest.mark.django_db
def test_an_answered_call_says_by_whom_and_leaves_no_work_behind(
    voice_post, inbox_support, phones, alice_client
) -> None:
    sms_in(inbox_support, "Can you call me?", phone=CUSTOMER)
    assert thread_of(CUSTOMER).is_unanswered
    root = twiml(voice_post(INCOMING, twilio_fixture("voice_incoming")))
    dial = root.find("Dial")
    assert dial is not None
    alice_leg = next(n for n in dial.findall("Number") if n.text == ALICE_PHONE)
    voice_post(alice_leg.get("statusCallback", ""), twilio_fixture("voice_agent_answered"))
    assert call_entry().data["call_label"] == "In progress · answered by Alice"
    voice_post(dial.get("action", ""), twilio_fixture("voice_dial_completed"))
    voice_post(STATUS, twilio_fixture("voice_status_completed", CallDuration="95"))
    entry = call_entry()
    assert entry.data["call_label"] == "Answered by Alice · 1:35"
    assert entry.data["answered_by"] == phones["alice"].pk
    assert not thread_of(CUSTOMER).is_unanswered


@pytest.mark.django_db
def test_a_failed_transcription_says_so(voice_post, inbox_support, alice_client, fake_twilio) -> None:
    voice_post(INCOMING, twilio_fixture("voice_incoming"))
    voice_post(RECORDING, recording_fixture(fake_twilio), query=CONTEXT)
    voice_post(TRANSCRIPTION, transcription_fixture(fake_twilio, "voice_transcription_failed"), query=CONTEXT)
    entry = call_entry()
    assert entry.body == "" and entry.data["transcription_status"] == "failed"
    page = alice_client.get(f"/inbox/{entry.conversation_id}/").content.decode()
    assert "The transcription failed: listen to the recording." in page


@pytest.mark.django_db
def test_an_empty_voicemail_is_a_missed_call(voice_post, inbox_support) -> None:
    voice_post(INCOMING, twilio_fixture("voice_incoming"))
    absent = twilio_fixture("voice_recording_completed", RecordingStatus="absent", RecordingDuration="0")
    voice_post(RECORDING, absent, query=CONTEXT)
    voice_post(STATUS, twilio_fixture("voice_status_completed"))
    assert call_entry().data["call_label"] == "Missed call"
    assert not Attachment.objects.exists()


@pytest.mark.django_db
def test_a_missed_call_waits_until_an_agent_writes_and_reopens_a_resolved_thread(
    voice_post, inbox_support, agent_alice, fake_twilio
) -> None:
    from channels_adapters.outbound import message_send
    from conversations.services import conversation_set_status

    conversation = sms_in(inbox_support, "Hello", phone=CUSTOMER).conversation
    conversation_set_status(conversation=conversation, status="resolved", by=agent_alice)
    voice_post(INCOMING, twilio_fixture("voice_incoming"))
    voice_post(STATUS, twilio_fixture("voice_status_completed"))
    conversation = thread_of(CUSTOMER)
    assert conversation.status == "open" and conversation.is_unanswered
    assert conversation.waiting_since == call_entry().created_at
    message_send(
        conversation=conversation, body="Sorry we missed you! Calling back in 5.", author=agent_alice
    )
    assert not thread_of(CUSTOMER).is_unanswered


@pytest.mark.django_db
def test_a_blocked_callers_missed_call_is_recorded_but_reopens_nothing(
    voice_post, inbox_support, agent_alice
) -> None:
    from conversations.services import conversation_block, conversation_set_status

    conversation = sms_in(inbox_support, "Hello", phone=CUSTOMER).conversation
    conversation_set_status(conversation=conversation, status="resolved", by=agent_alice)
    conversation_block(conversation=conversation, blocked=True, by=agent_alice)
    voice_post(INCOMING, twilio_fixture("voice_incoming"))
    voice_post(STATUS, twilio_fixture("voice_status_completed"))
    assert call_entry().data["call_label"] == "Missed call"
    conversation = thread_of(CUSTOMER)
    assert conversation.status == "resolved" and not conversation.is_unanswered


@pytest.mark.django_db
def test_every_change_of_the_call_is_broadcast_as_the_same_entry(voice_post, inbox_support) -> None:
    voice_post(INCOMING, twilio_fixture("voice_incoming"))
    voice_post(STATUS, twilio_fixture("voice_status_completed"))
    entry = call_entry()
    types = list(RealtimeEvent.objects.filter(entry=entry).order_by("pk").values_list("type", flat=True))
    assert types[0] == "entry.created" and "entry.updated" in types
    assert Conversation.objects.get().version >= len(types)


@pytest.mark.django_db
def test_the_record_action_alone_is_enough_for_the_voicemail(voice_post, inbox_support, fake_twilio) -> None:
    """Should the recording status callback be lost, the <Record> action's own fields make the voicemail."""
    root = twiml(voice_post(INCOMING, twilio_fixture("voice_incoming")))
    record = root.find("Record")
    assert record is not None
    recording = recording_fixture(fake_twilio)
    action_fields = {
        **twilio_fixture("voice_incoming", CallStatus="in-progress"),
        "RecordingSid": recording["RecordingSid"],
        "RecordingUrl": recording["RecordingUrl"],
        "RecordingDuration": "17",
        "Digits": "#",
    }
    twiml(voice_post(record.get("action", ""), action_fields))
    entry = call_entry()
    assert entry.data["call_label"] == "Voicemail (0:17)"
    assert Attachment.objects.get(entry=entry).state == "stored"
    # Then the recording callback arrives after all: nothing twice.
    voice_post(RECORDING, recording, query=CONTEXT)
    assert Attachment.objects.count() == 1 and Entry.objects.count() == 1


def _stored(source: str, key: str, params: dict[str, str], query: str = "") -> InboundEvent:
    from urllib.parse import parse_qsl

    from django.utils import timezone

    payload = {**params, "_source": source, "_query": dict(parse_qsl(query))}
    return InboundEvent.objects.create(
        kind="twilio_voice", idempotency_key=key, payload=payload, received_at=timezone.now()
    )


@pytest.mark.django_db(transaction=True)
@pytest.mark.parametrize("caller", [CUSTOMER, "anonymous"])
def test_workers_racing_over_one_new_call_make_one_entry(caller, inbox_support) -> None:
    """Four callbacks of a call nobody has seen yet, taken by four workers at once: one entry, one contact."""
    from tests.conftest import run_concurrently

    context = CONTEXT.replace("%2B14155550142", "" if caller == "anonymous" else "%2B14155550142")
    events = [
        _stored("incoming", "k1", twilio_fixture("voice_incoming", From=caller, Caller=caller)),
        _stored("status", "k2", twilio_fixture("voice_status_completed", From=caller, Caller=caller)),
        _stored("recording", "k3", twilio_fixture("voice_recording_completed"), context),
        _stored("transcription", "k4", twilio_fixture("voice_transcription_completed", From=caller), context),
    ]
    ids = iter(event.pk for event in events)
    lock = __import__("threading").Lock()

    def work() -> object:
        with lock:
            event_id = next(ids)
        return inbound_event_process(event_id=event_id)

    run_concurrently(work, times=4)
    # A worker that lost the race for the new entry retried: nothing is left pending.
    for event in InboundEvent.objects.filter(state="pending"):
        inbound_event_process(event_id=event.pk)
    assert InboundEvent.objects.filter(state="done").count() == 4
    entry = call_entry()
    assert Entry.objects.count() == 1
    assert entry.data["call_outcome"] == "voicemail" and entry.body.startswith("Hi, it's Dana.")
    assert Contact.objects.count() == 1
    assert Conversation.objects.get().waiting_since is not None


@pytest.mark.django_db
def test_a_missed_call_lists_the_thread_as_unanswered_in_its_inbox_until_called_back(
    voice_post, inbox_support, agent_alice, django_capture_on_commit_callbacks
) -> None:
    from channels_adapters.voice.services import call_place
    from conversations.selectors import conversation_list

    def unanswered() -> list[int]:
        return [
            c.pk for c in conversation_list(user=agent_alice, view="unanswered", inbox_id=inbox_support.pk)
        ] + [-c.pk for c in conversation_list(user=agent_alice, view="unanswered")]

    voice_post(INCOMING, twilio_fixture("voice_incoming"))
    assert unanswered() == []  # ringing is not yet work
    voice_post(STATUS, twilio_fixture("voice_status_completed"))
    conversation = thread_of(CUSTOMER)
    assert unanswered() == [conversation.pk, -conversation.pk]
    agent_alice.agent.phone = "+14155550111"
    agent_alice.agent.save()
    with django_capture_on_commit_callbacks(execute=True):
        call_place(conversation=conversation, agent=agent_alice)
    assert unanswered() == []

"""Voice callbacks when things break: never 200 (nor TwiML) for a callback not stored, and a stored one is
never lost: the sweeper delivers what a dead broker or a killed worker left pending, once."""

from __future__ import annotations

import pytest

from channels_adapters.inbound import inbound_event_process, inbound_events_sweep
from channels_adapters.models import InboundEvent
from conversations.models import Entry
from tests.channels_adapters.test_faults import broker_at, closed_port, database_unreachable
from tests.channels_adapters.voice.conftest import CALL_SID, twiml
from tests.conftest import thread_of, twilio_fixture

CONTEXT = f"call={CALL_SID}&caller=%2B14155550142&called=%2B14155550100"
CALLBACKS = [
    ("/webhooks/twilio/voice/", "voice_incoming", ""),
    ("/webhooks/twilio/voice/dial/", "voice_dial_no_answer", "stage=team&" + CONTEXT),
    ("/webhooks/twilio/voice/status/", "voice_status_completed", ""),
    ("/webhooks/twilio/voice/recording/", "voice_recording_completed", CONTEXT),
    ("/webhooks/twilio/voice/transcription/", "voice_transcription_completed", CONTEXT),
]


@pytest.mark.django_db(transaction=True)
@pytest.mark.parametrize("path,fixture,query", CALLBACKS, ids=[p for p, _, _ in CALLBACKS])
def test_database_unreachable_answers_5xx_so_twilio_retries(
    path, fixture, query, twilio_post, inbox_support
) -> None:
    params = twilio_fixture(fixture)
    with database_unreachable():
        response = twilio_post(path, params, query=query)
    assert response.status_code == 503
    assert b"<Response" not in response.content
    assert InboundEvent.objects.count() == 0
    assert twilio_post(path, params, query=query).status_code in (200, 204)
    assert InboundEvent.objects.count() == 1


@pytest.mark.django_db(transaction=True)
def test_broker_unreachable_still_answers_the_call_and_the_sweeper_builds_the_entry(
    twilio_post, inbox_support, settings
) -> None:
    with broker_at(f"redis://127.0.0.1:{closed_port()}/0"):
        answers = [
            twilio_post(path, twilio_fixture(fixture), query=query) for path, fixture, query in CALLBACKS
        ]
    assert [a.status_code for a in answers] == [200, 200, 204, 204, 204]
    assert twiml(answers[0]).find("Record") is not None  # the caller heard the voicemail prompt all the same
    assert InboundEvent.objects.filter(state="pending").count() == 5
    assert not Entry.objects.exists()
    settings.INBOUND_SWEEP_AFTER_S = 0
    assert inbound_events_sweep() == 5
    entry = Entry.objects.get()
    assert entry.data["call_outcome"] == "voicemail" and entry.body.startswith("Hi, it's Dana.")
    assert InboundEvent.objects.filter(state="done").count() == 5
    assert thread_of("+14155550142").is_unanswered


@pytest.mark.django_db(transaction=True)
def test_a_worker_killed_mid_callback_leaves_it_pending_and_the_retry_applies_it_once(
    twilio_post, inbox_support, monkeypatch, settings
) -> None:
    from channels_adapters.voice import services

    settings.INBOUND_BATCH = 1  # one event per transaction, so the first is done before the second is tried
    with broker_at(f"redis://127.0.0.1:{closed_port()}/0"):
        twilio_post("/webhooks/twilio/voice/", twilio_fixture("voice_incoming"))
        twilio_post("/webhooks/twilio/voice/status/", twilio_fixture("voice_status_completed"))
    incoming, status = InboundEvent.objects.order_by("pk")
    assert inbound_event_process(event_id=incoming.pk) is not None

    real = services._thread_work_update

    def killed(*args, **kwargs):
        raise SystemExit("worker killed")  # not an Exception: nothing records a failed attempt

    monkeypatch.setattr(services, "_thread_work_update", killed)
    with pytest.raises(SystemExit):
        inbound_event_process(event_id=status.pk)
    status.refresh_from_db()
    assert status.state == "pending"
    entry = Entry.objects.get()
    assert entry.data["call_label"] == "Ringing…"  # the half-applied callback was rolled back
    assert not thread_of("+14155550142").is_unanswered

    monkeypatch.setattr(services, "_thread_work_update", real)
    settings.INBOUND_SWEEP_AFTER_S = 0
    assert inbound_events_sweep() == 1
    entry.refresh_from_db()
    assert entry.data["call_label"] == "Missed call"
    assert thread_of("+14155550142").is_unanswered
    assert Entry.objects.count() == 1

"""Sequences as a customer and an agent notice them: the messages that go out (as the hub, at the right time,
once), the waits, the tasks, and the customer leaving when they answer, move on, opt out or are merged."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from typing import Any

import pytest
from django.utils import timezone

from config.errors import ValidationError
from contacts.models import Contact
from contacts.services import identity_set_opt_out
from conversations.customers import contact_merge
from conversations.models import Conversation, Entry, Episode, Inbox
from events.models import DomainEvent
from lifecycle.models import ContactOwner, Stage
from lifecycle.services import stage_move
from sequences.models import Enrollment, Sequence, StepRun
from sequences.services import sequence_enroll, sequence_save, sequence_steps_run_due
from sequences.steps import steps_parse, steps_text
from sequences.timing import quiet_hours_shift, wait_until
from tests.conftest import run_concurrently, sms_in, twilio_fixture

# A Wednesday, 15:00 in New York (the support line's zone below): within the day, not a quiet hour.
WEDNESDAY_3PM_NY = datetime(2026, 12, 9, 20, 0, tzinfo=UTC)


@pytest.fixture
def ny_inbox(inbox_support: Inbox) -> Inbox:
    inbox_support.time_zone = "America/New_York"
    inbox_support.save(update_fields=["time_zone"])
    return inbox_support


@pytest.fixture
def nurture(db: Any) -> Sequence:
    return sequence_save(
        by=None,
        name="New lead nurture",
        steps=steps_parse(
            "message: Hi {{contact.first_name}}, thanks for getting in touch!\n"
            "wait 2 days\n"
            "task: Call them\n"
            "message sms: Anything else we can help with?"
        ),
    )


def _thread(inbox: Inbox, phone: str = "+14155550142", name: str = "Dana Scully") -> Conversation:
    entry = sms_in(inbox, "Hello, do you ship to Canada?", phone=phone)
    contact = entry.conversation.contact
    contact.name = name
    contact.save(update_fields=["name"])
    return Conversation.objects.get(pk=entry.conversation_id)


def _outbound(conversation: Conversation) -> list[Entry]:
    return list(
        Entry.objects.filter(
            conversation=conversation, direction=Entry.OUTBOUND, kind=Entry.MESSAGE
        ).order_by("pk")
    )


def _events(kind: str) -> list[dict[str, Any]]:
    return [e.payload for e in DomainEvent.objects.filter(type=kind).order_by("pk")]


def test_an_enrolled_customer_gets_each_step_on_time_as_the_hub(ny_inbox: Inbox, nurture: Sequence) -> None:
    conversation = _thread(ny_inbox)
    enrollment = sequence_enroll(sequence=nurture, contact=conversation.contact, by=None, source="api")

    assert sequence_steps_run_due(now=WEDNESDAY_3PM_NY) == 2  # the first message, then the wait begins

    [first] = _outbound(conversation)
    assert first.body == "Hi Dana, thanks for getting in touch!"
    assert (first.author, first.channel, first.inbox, first.delivery_status) == (
        None,
        "sms",
        ny_inbox,
        "queued",
    )
    # The hub's message answers nobody: the customer still waits for a person, and no first response is counted.
    conversation.refresh_from_db()
    assert conversation.waiting_since is not None
    assert Episode.objects.get(conversation=conversation).first_response_at is None
    enrollment.refresh_from_db()
    assert (enrollment.step, enrollment.next_run_at) == (2, WEDNESDAY_3PM_NY + timedelta(days=2))

    assert sequence_steps_run_due(now=WEDNESDAY_3PM_NY + timedelta(days=1)) == 0  # nothing before its time
    assert sequence_steps_run_due(now=WEDNESDAY_3PM_NY + timedelta(days=2)) == 2  # the task, the last message
    assert [e.body for e in _outbound(conversation)][-1] == "Anything else we can help with?"
    enrollment.refresh_from_db()
    assert (enrollment.state, enrollment.exit_reason) == (Enrollment.COMPLETED, "completed")

    events = list(
        Entry.objects.filter(conversation=conversation, kind=Entry.EVENT, event_type__startswith="sequence.")
        .order_by("pk")
        .values_list("body", flat=True)
    )
    assert events[0] == "The API enrolled Dana Scully in the sequence “New lead nurture” (4 steps)"
    assert events[1] == "Sequence “New lead nurture”, step 1 of 4: sent a message on sms"
    assert events[2].startswith(
        "Sequence “New lead nurture”, step 2 of 4: wait 2 days, until Fri 11 Dec 15:00"
    )
    assert "step 3 of 4: a task for the team" in events[3]
    assert events[-1] == "Finished the sequence “New lead nurture”"
    assert [p["step_type"] for p in _events("sequence.step_sent")] == ["message", "wait", "task", "message"]
    assert [p["reason"] for p in _events("sequence.exited")] == ["completed"]


def test_a_task_is_a_note_for_the_customers_owner_who_is_notified(
    ny_inbox: Inbox, agent_alice: Any, nurture: Sequence
) -> None:
    conversation = _thread(ny_inbox)
    ContactOwner.objects.create(contact=conversation.contact, owner=agent_alice, since=timezone.now())
    sequence = sequence_save(by=None, name="Call", steps=[{"type": "task", "text": "Ring about the order"}])
    sequence_enroll(sequence=sequence, contact=conversation.contact, by=agent_alice, source="agent")

    sequence_steps_run_due(now=WEDNESDAY_3PM_NY)

    note = Entry.objects.get(conversation=conversation, kind=Entry.NOTE)
    assert note.body == "@agent_alice Task from the sequence “Call”: Ring about the order"
    assert agent_alice.notifications.filter(entry=note).exists()


def test_business_days_skip_the_weekend_and_the_inboxs_holidays(ny_inbox: Inbox) -> None:
    friday_10am = datetime(2026, 12, 11, 15, 0, tzinfo=UTC)  # 10:00 in New York
    assert wait_until(start=friday_10am, days=2, business_days=True, inbox=ny_inbox) == datetime(
        2026, 12, 15, 15, 0, tzinfo=UTC
    )  # Tuesday
    ny_inbox.holidays = ["2026-12-14"]
    assert wait_until(start=friday_10am, days=2, business_days=True, inbox=ny_inbox) == datetime(
        2026, 12, 16, 15, 0, tzinfo=UTC
    )  # Monday off: Wednesday
    ny_inbox.business_hours = {"sat": [["10:00", "14:00"]]}
    assert wait_until(start=friday_10am, days=2, business_days=True, inbox=ny_inbox) == datetime(
        2026, 12, 19, 15, 0, tzinfo=UTC
    )  # open only on Saturdays: the second Saturday
    assert wait_until(
        start=friday_10am, days=2, business_days=False, inbox=ny_inbox
    ) == friday_10am + timedelta(days=2)


def test_a_message_due_at_night_waits_for_the_customers_morning(ny_inbox: Inbox, nurture: Sequence) -> None:
    conversation = _thread(ny_inbox)
    contact = conversation.contact
    contact.attributes = {"time_zone": "Europe/Paris"}
    contact.save(update_fields=["attributes"])
    enrollment = sequence_enroll(sequence=nurture, contact=contact, by=None, source="api")
    paris_11pm = datetime(2026, 12, 9, 22, 0, tzinfo=UTC)  # 17:00 at the New York inbox, night in Paris

    sequence_steps_run_due(now=paris_11pm)

    assert _outbound(conversation) == []
    enrollment.refresh_from_db()
    assert enrollment.next_run_at == datetime(2026, 12, 10, 8, 0, tzinfo=UTC)  # 9:00 in Paris
    assert sequence_steps_run_due(now=enrollment.next_run_at) == 2
    assert len(_outbound(conversation)) == 1
    # Without a known zone the inbox's decides: 02:00 in New York waits until 9:00 there.
    ny_night = datetime(2026, 12, 10, 7, 0, tzinfo=UTC)
    assert quiet_hours_shift(ny_night, ny_inbox_zone()) == datetime(2026, 12, 10, 14, 0, tzinfo=UTC)


def ny_inbox_zone() -> Any:
    from zoneinfo import ZoneInfo

    return ZoneInfo("America/New_York")


def test_a_reply_ends_the_enrolment_and_nothing_more_goes_out(ny_inbox: Inbox, nurture: Sequence) -> None:
    conversation = _thread(ny_inbox)
    enrollment = sequence_enroll(sequence=nurture, contact=conversation.contact, by=None, source="api")
    sequence_steps_run_due(now=WEDNESDAY_3PM_NY)

    sms_in(ny_inbox, "Yes please, call me tomorrow", conversation=conversation)
    sequence_steps_run_due(now=WEDNESDAY_3PM_NY + timedelta(days=3))

    enrollment.refresh_from_db()
    assert (enrollment.state, enrollment.exit_reason) == (Enrollment.EXITED, "replied")
    assert len(_outbound(conversation)) == 1
    last = Entry.objects.filter(conversation=conversation, event_type="sequence.exited").get()
    assert last.body == "Left the sequence “New lead nurture” after step 2 of 4: the customer replied"


def test_moving_a_stage_ends_it_unless_the_sequence_says_otherwise(
    ny_inbox: Inbox, nurture: Sequence
) -> None:
    conversation = _thread(ny_inbox)
    stays = sequence_save(
        by=None, name="Onboarding", steps=[{"type": "task", "text": "Check in"}], exit_on_stage_change=False
    )
    leaves = sequence_enroll(sequence=nurture, contact=conversation.contact, by=None, source="api")
    kept = sequence_enroll(sequence=stays, contact=conversation.contact, by=None, source="api")

    stage_move(contact=conversation.contact, stage=Stage.objects.get(key="customer"), by=None, reason="paid")

    leaves.refresh_from_db()
    kept.refresh_from_db()
    assert (leaves.state, leaves.exit_reason) == (Enrollment.EXITED, "stage_changed")
    assert kept.state == Enrollment.ACTIVE


def test_stop_ends_it_as_an_opt_out(
    deliver_inbound: Any, inbox_support: Inbox, nurture: Sequence, django_capture_on_commit_callbacks: Any
) -> None:
    deliver_inbound(twilio_fixture("inbound_sms"))
    conversation = Conversation.objects.get(contact__identities__address="+14155550142")
    enrollment = sequence_enroll(sequence=nurture, contact=conversation.contact, by=None, source="api")

    deliver_inbound(
        twilio_fixture("inbound_sms", Body="STOP", MessageSid="SM" + "2" * 32, SmsSid="SM" + "2" * 32)
    )

    enrollment.refresh_from_db()
    assert (enrollment.state, enrollment.exit_reason) == (Enrollment.EXITED, "opted_out")


def test_an_opted_out_number_is_never_messaged_by_a_step(ny_inbox: Inbox, nurture: Sequence) -> None:
    conversation = _thread(ny_inbox)
    identity_set_opt_out(identity=conversation.contact.identities.get(), opted_out=True)
    enrollment = sequence_enroll(sequence=nurture, contact=conversation.contact, by=None, source="api")

    sequence_steps_run_due(now=WEDNESDAY_3PM_NY)

    enrollment.refresh_from_db()
    assert (enrollment.state, enrollment.exit_reason) == (Enrollment.EXITED, "opted_out")
    assert _outbound(conversation) == []


def test_a_failing_step_marks_that_enrolment_and_the_others_go_on(ny_inbox: Inbox, nurture: Sequence) -> None:
    reachable = _thread(ny_inbox)
    unreachable = Contact.objects.create(name="No Number")  # no phone, never wrote: nothing to send to
    broken = sequence_enroll(sequence=nurture, contact=unreachable, by=None, source="api")
    fine = sequence_enroll(sequence=nurture, contact=reachable.contact, by=None, source="api")

    sequence_steps_run_due(now=WEDNESDAY_3PM_NY)

    broken.refresh_from_db()
    fine.refresh_from_db()
    assert (broken.state, broken.exit_reason) == (Enrollment.FAILED, "step_failed")
    assert "step 1:" in broken.exit_detail
    assert fine.state == Enrollment.ACTIVE and len(_outbound(reachable)) == 1


def test_one_active_enrolment_per_customer_and_sequence(ny_inbox: Inbox, nurture: Sequence) -> None:
    conversation = _thread(ny_inbox)
    sequence_enroll(sequence=nurture, contact=conversation.contact, by=None, source="api")
    with pytest.raises(ValidationError, match="already in the sequence “New lead nurture”"):
        sequence_enroll(sequence=nurture, contact=conversation.contact, by=None, source="api")


def test_whatsapp_with_the_window_closed_sends_the_approved_template(
    inbox_support: Inbox, nurture: Sequence
) -> None:
    from channels_adapters.models import MessageTemplate

    entry = sms_in(inbox_support, "hi", phone="+14155550142")
    Entry.objects.filter(pk=entry.pk).update(
        channel="whatsapp", created_at=timezone.now() - timedelta(days=3)
    )
    conversation = Conversation.objects.get(pk=entry.conversation_id)
    conversation.last_inbound_channel = "whatsapp"
    conversation.save(update_fields=["last_inbound_channel"])
    MessageTemplate.objects.create(
        account_sid="ACaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaa",
        content_sid="HX" + "1" * 32,
        name="follow_up",
        language="en",
        body="Hi {{1}}, this is {{2}} following up.",
        whatsapp_status=MessageTemplate.APPROVED,
        synced_at=timezone.now(),
    )
    sequence = sequence_save(by=None, name="WA", steps=[{"type": "message", "text": "Free text"}])
    sequence_enroll(sequence=sequence, contact=conversation.contact, by=None, source="api")

    sequence_steps_run_due(now=WEDNESDAY_3PM_NY)

    [sent] = _outbound(conversation)
    assert sent.channel == "whatsapp" and sent.data["template"]["sid"] == "HX" + "1" * 32


def test_a_merge_keeps_one_enrolment_per_sequence(ny_inbox: Inbox, nurture: Sequence) -> None:
    dana = _thread(ny_inbox).contact
    other = _thread(ny_inbox, phone="+14155550177", name="Dana S").contact
    win_back = sequence_save(by=None, name="Win back", steps=[{"type": "task", "text": "Call"}])
    kept = sequence_enroll(sequence=nurture, contact=dana, by=None, source="api")
    doubled = sequence_enroll(sequence=nurture, contact=other, by=None, source="api")
    moved = sequence_enroll(sequence=win_back, contact=other, by=None, source="api")

    contact_merge(source=other, into=dana)

    for enrollment in (kept, doubled, moved):
        enrollment.refresh_from_db()
    assert (kept.state, kept.contact_id) == (Enrollment.ACTIVE, dana.pk)
    assert (doubled.state, doubled.exit_reason) == (Enrollment.EXITED, "merged")
    assert (moved.state, moved.contact_id) == (Enrollment.ACTIVE, dana.pk)


@pytest.mark.django_db(transaction=True)
def test_two_workers_claiming_at_once_send_each_step_once(inbox_support: Inbox) -> None:
    sequence = sequence_save(by=None, name="Once", steps=[{"type": "message", "text": "Only once, please"}])
    conversations = [_thread(inbox_support, phone=f"+1415555{n:04d}") for n in range(200, 206)]
    for conversation in conversations:
        sequence_enroll(sequence=sequence, contact=conversation.contact, by=None, source="api")

    taken = run_concurrently(lambda: sequence_steps_run_due(now=WEDNESDAY_3PM_NY), times=3)

    assert sum(taken) == 6  # whichever worker took each
    for conversation in conversations:
        assert [e.body for e in _outbound(conversation)] == ["Only once, please"]
    assert StepRun.objects.count() == 6
    assert set(Enrollment.objects.values_list("state", flat=True)) == {Enrollment.COMPLETED}


def test_the_settings_text_reads_back_to_the_same_steps() -> None:
    text = "message: Hi\nmessage whatsapp: Hola\nwait 1 day\nwait 3 business days\ntask: Call"
    assert steps_text(steps_parse(text)) == text
    with pytest.raises(ValidationError, match="Line 2"):
        steps_parse("message: Hi\nsend a postcard")


def test_an_erased_customer_leaves_every_sequence(ny_inbox: Inbox, nurture: Sequence, admin_ada: Any) -> None:
    from privacy.services import contact_erase

    conversation = _thread(ny_inbox)
    enrollment = sequence_enroll(sequence=nurture, contact=conversation.contact, by=None, source="api")

    contact_erase(contact=conversation.contact, by=admin_ada, reason="The customer asked")
    sequence_steps_run_due(now=WEDNESDAY_3PM_NY)

    enrollment.refresh_from_db()
    assert (enrollment.state, enrollment.exit_reason) == (Enrollment.EXITED, "erased")
    assert _outbound(conversation) == []


def test_a_step_that_dies_midway_leaves_nothing_sent_and_is_taken_once_later(
    ny_inbox: Inbox, nurture: Sequence, monkeypatch: pytest.MonkeyPatch
) -> None:
    from sequences import services

    conversation = _thread(ny_inbox)
    enrollment = sequence_enroll(sequence=nurture, contact=conversation.contact, by=None, source="api")
    real_publish = services.event_publish

    def dies_after_queueing(**kwargs: Any) -> None:
        if kwargs["type"] == "sequence.step_sent":
            raise RuntimeError("worker killed")  # after the message was queued, before the step was recorded
        real_publish(**kwargs)

    monkeypatch.setattr(services, "event_publish", dies_after_queueing)
    assert sequence_steps_run_due(now=WEDNESDAY_3PM_NY) == 0
    assert _outbound(conversation) == [] and not StepRun.objects.exists()
    enrollment.refresh_from_db()
    assert (enrollment.state, enrollment.step) == (Enrollment.ACTIVE, 0)  # still due

    monkeypatch.setattr(services, "event_publish", real_publish)
    sequence_steps_run_due(now=WEDNESDAY_3PM_NY + timedelta(minutes=1))
    assert len(_outbound(conversation)) == 1

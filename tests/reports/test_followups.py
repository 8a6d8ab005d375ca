"""Follow-ups: scheduled from the thread, sent by beat at their time, cancelled when the customer writes first."""

from __future__ import annotations

from datetime import timedelta

import pytest
from django.utils import timezone

from config.errors import ValidationError
from conversations.models import Entry
from reports.models import ScheduledFollowUp
from reports.services import followup_schedule, followup_thank_you_prompt, followups_send_due
from tests.conftest import run_concurrently, twilio_fixture


def later(minutes: int = 60):
    return timezone.now() + timedelta(minutes=minutes)


@pytest.mark.django_db
def test_scheduling_a_follow_up_in_the_past_is_refused_and_nothing_is_kept(sms_thread, agent_alice) -> None:
    with pytest.raises(ValidationError, match="in the past"):
        followup_schedule(
            conversation=sms_thread,
            by=agent_alice,
            kind="message",
            due_at=timezone.now() - timedelta(minutes=1),
            body="Any news?",
        )
    assert not ScheduledFollowUp.objects.exists()


@pytest.mark.django_db
def test_the_thread_form_schedules_and_refuses_the_past(sms_thread, alice_client) -> None:
    response = alice_client.post(
        "/reports/followups/",
        {"conversation": sms_thread.pk, "kind": "message", "due_at": "2020-01-01T09:00", "body": "Hello"},
    )
    assert response.status_code == 400 and "in the past" in response.json()["error"]
    due = timezone.localtime(later(90)).strftime("%Y-%m-%dT%H:%M")
    response = alice_client.post(
        "/reports/followups/",
        {"conversation": sms_thread.pk, "kind": "message", "due_at": due, "body": "Did the shoes fit?"},
    )
    assert response.status_code == 201, response.content
    assert "scheduled a follow-up SMS message" in response.json()["entry"]["html"]
    page = alice_client.get(f"/inbox/{sms_thread.pk}/").content.decode()
    assert "Did the shoes fit?" in page and "Schedule a follow-up" in page


@pytest.mark.django_db
def test_another_teams_agent_cannot_schedule_on_a_thread_they_cannot_see(sms_thread, agent_bob) -> None:
    from django.test import Client

    client = Client()
    client.force_login(agent_bob)
    due = timezone.localtime(later()).strftime("%Y-%m-%dT%H:%M")
    response = client.post(
        "/reports/followups/", {"conversation": sms_thread.pk, "kind": "reminder", "due_at": due, "body": "x"}
    )
    assert response.status_code == 404


@pytest.mark.django_db
def test_a_due_follow_up_goes_out_on_the_customers_channel_once(sms_thread, agent_alice) -> None:
    followup = followup_schedule(
        conversation=sms_thread, by=agent_alice, kind="message", due_at=later(), body="Did the shoes fit?"
    )
    assert followups_send_due() == 0  # not due yet
    assert followups_send_due(now=later(61)) == 1
    assert followups_send_due(now=later(120)) == 0
    followup.refresh_from_db()
    assert followup.state == "sent"
    sent = Entry.objects.get(conversation=sms_thread, direction="outbound")
    assert (sent.body, sent.channel, sent.author, sent.to_address) == (
        "Did the shoes fit?",
        "sms",
        agent_alice,
        "+14155550142",
    )
    assert followup.entry == sent


@pytest.mark.django_db
def test_a_reminder_is_an_event_for_the_agent_in_the_thread(sms_thread, agent_alice) -> None:
    followup_schedule(
        conversation=sms_thread, by=agent_alice, kind="reminder", due_at=later(), body="Call her"
    )
    followups_send_due(now=later(61))
    assert Entry.objects.filter(
        conversation=sms_thread, event_type="followup.reminder", body="Reminder for Alice: Call her"
    ).exists()
    assert not Entry.objects.filter(conversation=sms_thread, direction="outbound").exists()


@pytest.mark.django_db
def test_the_customer_writing_first_cancels_the_follow_up_with_an_event(
    sms_thread, agent_alice, deliver_inbound
) -> None:
    followup = followup_schedule(
        conversation=sms_thread, by=agent_alice, kind="message", due_at=later(), body="Did the shoes fit?"
    )
    deliver_inbound(twilio_fixture("inbound_sms", MessageSid="SM" + "d4" * 16, Body="They fit, thanks!"))
    followup.refresh_from_db()
    assert (followup.state, followup.reason) == ("cancelled", "the customer wrote first")
    event = Entry.objects.get(conversation=sms_thread, event_type="followup.cancelled")
    assert "the customer wrote first" in event.body
    assert followups_send_due(now=later(61)) == 0
    assert not Entry.objects.filter(conversation=sms_thread, direction="outbound").exists()


@pytest.mark.django_db
def test_a_failed_send_is_recorded_with_its_reason(sms_thread, agent_alice) -> None:
    from contacts.services import suppression_set

    followup_schedule(
        conversation=sms_thread, by=agent_alice, kind="message", due_at=later(), body="Did the shoes fit?"
    )
    suppression_set(channel="sms", address="+14155550142", suppressed=True)
    followups_send_due(now=later(61))
    followup = ScheduledFollowUp.objects.get()
    assert followup.state == "failed" and "STOP" in followup.reason
    assert Entry.objects.filter(conversation=sms_thread, event_type="followup.failed").exists()


@pytest.mark.django_db(transaction=True)
def test_two_beats_at_once_send_a_follow_up_once(inbox_support, agent_alice) -> None:
    from tests.conftest import sms_in

    conversation = sms_in(inbox_support).conversation
    for n in range(5):
        followup_schedule(
            conversation=conversation, by=agent_alice, kind="message", due_at=later(), body=f"Follow-up {n}"
        )
    counts = run_concurrently(lambda: followups_send_due(now=later(61)), 4)
    assert sum(counts) == 5
    bodies = list(Entry.objects.filter(direction="outbound").values_list("body", flat=True))
    assert sorted(bodies) == [f"Follow-up {n}" for n in range(5)]


@pytest.mark.django_db
def test_a_new_customer_gets_a_suggested_thank_you_an_agent_can_send(sms_thread, alice_client) -> None:
    followup = followup_thank_you_prompt(contact=sms_thread.contact)
    assert followup is not None and followup.state == "suggested" and followup.channel == "sms"
    assert followup_thank_you_prompt(contact=sms_thread.contact) is None  # one at a time
    page = alice_client.get(f"/inbox/{sms_thread.pk}/").content.decode()
    assert "Suggested SMS message" in page and "Thank you for choosing us" in page
    response = alice_client.post(f"/reports/followups/{followup.pk}/send/", {"body": ""})
    assert response.status_code == 201, response.content
    sent = Entry.objects.get(conversation=sms_thread, direction="outbound")
    assert sent.body.startswith("Thank you for choosing us")
    followup.refresh_from_db()
    assert followup.state == "sent"
    assert alice_client.post(f"/reports/followups/{followup.pk}/send/").status_code == 400


@pytest.mark.django_db
def test_the_api_schedules_a_follow_up_and_refuses_the_past(sms_thread, alice_client) -> None:
    url = "/api/v1/reports/followups/"
    past = alice_client.post(
        url,
        {"conversation": sms_thread.pk, "due_at": "2020-01-01T09:00:00Z", "body": "Hi"},
        content_type="application/json",
    )
    assert past.status_code == 400 and "in the past" in past.json()["detail"]
    due = later(30).isoformat()
    created = alice_client.post(
        url,
        {"conversation": sms_thread.pk, "kind": "reminder", "due_at": due, "body": "Check the stock"},
        content_type="application/json",
    )
    assert created.status_code == 201 and created.json()["state"] == "scheduled"
    assert ScheduledFollowUp.objects.get().kind == "reminder"


@pytest.mark.django_db(transaction=True)
def test_a_customer_writing_while_beat_sends_the_follow_up_waits_for_nothing(
    inbox_support, agent_alice
) -> None:
    """Beat holds the follow-up (then wants the thread); the inbound path holds the thread: it must not wait
    for the follow-up, or the two would deadlock. The follow-up beat holds is going out anyway."""
    import threading

    from django.db import connection, transaction

    from reports.services import customer_message_recorded
    from tests.conftest import sms_in

    conversation = sms_in(inbox_support).conversation
    followup = followup_schedule(
        conversation=conversation, by=agent_alice, kind="message", due_at=later(), body="Any news?"
    )
    held, release = threading.Event(), threading.Event()

    def beat() -> None:
        try:
            with transaction.atomic():
                ScheduledFollowUp.objects.select_for_update().get(pk=followup.pk)
                held.set()
                release.wait(10)
        finally:
            connection.close()

    thread = threading.Thread(target=beat)
    thread.start()
    try:
        assert held.wait(10)
        with transaction.atomic():
            with connection.cursor() as cursor:
                cursor.execute("SET LOCAL lock_timeout = '2s'")
            entry = sms_in(inbox_support, "Hello again", conversation=conversation)
            customer_message_recorded(entry=entry)
    finally:
        release.set()
        thread.join()
    followup.refresh_from_db()
    assert followup.state == "scheduled"  # left to beat, which finds the customer wrote and cancels it
    assert followups_send_due(now=later(61)) == 1
    followup.refresh_from_db()
    assert (followup.state, followup.reason) == ("cancelled", "the customer wrote first")
    assert not Entry.objects.filter(conversation=conversation, direction="outbound").exists()

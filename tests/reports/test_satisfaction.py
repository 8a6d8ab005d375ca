"""The satisfaction question after a resolution, and answers that land in the thread without reopening it."""

from __future__ import annotations

from typing import Any

import pytest
from django.utils import timezone

from conversations.models import Conversation, Entry, Episode
from conversations.services import conversation_set_status, entry_append
from events.models import DomainEvent
from reports.models import EpisodeMetrics, SatisfactionResponse, SatisfactionSurvey
from reports.selectors import performance_report, period_parse
from reports.services import satisfaction_rating_parse
from tests.conftest import twilio_fixture


@pytest.mark.parametrize(
    "text,rating",
    [
        ("4", 4),
        (" 4 stars", 4),
        ("5!", 5),
        ("1 star.", 1),
        ("3/5", 3),
        ("five", 5),  # words are read: a customer who spells it out has answered
        ("Two", 2),
        ("7", None),  # not on the scale: an ordinary message
        ("0", None),
        ("10", None),
        ("45", None),
        ("", None),
        ("Thanks, the shoes arrived but one is a size 4, can you help?", None),
        ("4 of them were broken", None),
    ],
)
def test_what_counts_as_a_rating(text: str, rating: int | None) -> None:
    assert satisfaction_rating_parse(text) == rating


def text_in(deliver_inbound: Any, body: str, n: int) -> None:
    deliver_inbound(twilio_fixture("inbound_sms", MessageSid=f"SM{n:032d}", SmsSid=f"SM{n:032d}", Body=body))


@pytest.fixture
def resolved_thread(
    sms_thread: Conversation, agent_alice: Any, fake_twilio: Any, django_capture_on_commit_callbacks: Any
) -> Conversation:
    """Dana texted, Alice answered and resolved: the question goes out by SMS from the support number."""
    with django_capture_on_commit_callbacks(execute=True):
        entry_append(
            conversation=sms_thread,
            kind="message",
            direction="outbound",
            channel="sms",
            inbox=sms_thread.last_inbound_inbox,
            body="Yes, size 9 is back!",
            author=agent_alice,
        )
        conversation_set_status(conversation=sms_thread, status="resolved", by=agent_alice)
    [question] = fake_twilio.wait_for_messages(1)
    assert (question["to"], question["from"]) == ("+14155550142", "+14155550100")
    assert "1 (poor) to 5 (great)" in question["body"]
    survey = SatisfactionSurvey.objects.get()
    assert survey.state == "asked"
    # The hub asks, not Alice: the question is no agent's reply and nobody's first response.
    assert survey.question.author is None and survey.question.data.get("automatic") is True
    return sms_thread


@pytest.mark.django_db
def test_an_sms_rating_lands_in_the_thread_and_the_report_without_reopening(
    resolved_thread: Conversation, deliver_inbound: Any
) -> None:
    episodes_before = Episode.objects.count()
    text_in(deliver_inbound, "4 stars", 1)
    resolved_thread.refresh_from_db()
    assert resolved_thread.status == "resolved"
    assert resolved_thread.waiting_since is None
    assert Episode.objects.count() == episodes_before
    answer = Entry.objects.get(conversation=resolved_thread, direction="inbound", body="4 stars")
    response = SatisfactionResponse.objects.get()
    assert (response.rating, response.entry, response.channel) == (4, answer, "sms")
    assert Entry.objects.filter(
        conversation=resolved_thread, event_type="satisfaction.answered", body__contains="4 out of 5"
    ).exists()
    assert not Entry.objects.filter(
        conversation=resolved_thread, event_type="conversation.status_changed", data__to="open"
    ).exists()
    assert EpisodeMetrics.objects.get(episode=response.episode).rating == 4
    # Webhook receivers and the reports' subscriber read the same fact from the message.received event.
    received = DomainEvent.objects.get(type="message.received", payload__entry=answer.pk)
    assert (received.payload["rating"], received.payload["automatic"]) == (4, False)
    today = timezone.localdate().isoformat()
    report = performance_report(period=period_parse(start=today, end=today))
    assert (report.overall.ratings, report.overall.satisfaction) == (1, 4.0)
    # The question is answered: a second "5" is an ordinary message, which reopens.
    text_in(deliver_inbound, "5", 2)
    resolved_thread.refresh_from_db()
    assert resolved_thread.status == "open"
    assert SatisfactionResponse.objects.count() == 1


@pytest.mark.django_db
def test_seven_is_not_a_rating_it_reopens_and_closes_the_question(
    resolved_thread: Conversation, deliver_inbound: Any
) -> None:
    text_in(deliver_inbound, "7", 1)
    resolved_thread.refresh_from_db()
    assert resolved_thread.status == "open" and resolved_thread.waiting_since is not None
    assert not SatisfactionResponse.objects.exists()
    assert SatisfactionSurvey.objects.get().state == "closed"


@pytest.mark.django_db
def test_five_spelled_out_is_a_rating(resolved_thread: Conversation, deliver_inbound: Any) -> None:
    text_in(deliver_inbound, "five", 1)
    resolved_thread.refresh_from_db()
    assert resolved_thread.status == "resolved"
    assert SatisfactionResponse.objects.get().rating == 5


@pytest.mark.django_db
def test_a_paragraph_is_an_ordinary_message(resolved_thread: Conversation, deliver_inbound: Any) -> None:
    text_in(
        deliver_inbound, "Actually the left shoe is a size 4. Can you swap it? Thanks, 5 stars otherwise", 1
    )
    resolved_thread.refresh_from_db()
    assert resolved_thread.status == "open"
    assert not SatisfactionResponse.objects.exists()


@pytest.mark.django_db
def test_a_number_without_a_pending_question_is_an_ordinary_message(
    sms_thread: Conversation, agent_alice: Any, deliver_inbound: Any, settings: Any
) -> None:
    settings.SATISFACTION_SURVEY_ENABLED = False
    conversation_set_status(conversation=sms_thread, status="resolved", by=agent_alice)
    text_in(deliver_inbound, "4", 1)
    sms_thread.refresh_from_db()
    assert sms_thread.status == "open"
    assert not SatisfactionResponse.objects.exists()


@pytest.mark.django_db
def test_an_opted_out_number_gets_no_question(
    sms_thread: Conversation,
    agent_alice: Any,
    deliver_inbound: Any,
    fake_twilio: Any,
    django_capture_on_commit_callbacks: Any,
) -> None:
    text_in(deliver_inbound, "STOP", 1)
    with django_capture_on_commit_callbacks(execute=True):
        conversation_set_status(conversation=sms_thread, status="resolved", by=agent_alice)
    survey = SatisfactionSurvey.objects.get()
    assert survey.state == "skipped" and "STOP" in survey.reason
    assert not Entry.objects.filter(conversation=sms_thread, direction="outbound").exists()
    assert fake_twilio.messages == []


@pytest.mark.django_db
def test_the_question_waits_for_business_hours(
    sms_thread: Conversation, agent_alice: Any, django_capture_on_commit_callbacks: Any
) -> None:
    from reports.services import surveys_send_due

    inbox = sms_thread.last_inbound_inbox
    assert inbox is not None
    inbox.business_hours = {
        day: [["09:00", "17:00"]] for day in ("mon", "tue", "wed", "thu", "fri", "sat", "sun")
    }
    # Closed all day today (a holiday): the question is due when the inbox opens tomorrow.
    inbox.holidays = [timezone.now().astimezone(timezone.get_current_timezone()).date().isoformat()]
    inbox.save()
    with django_capture_on_commit_callbacks(execute=True):
        conversation_set_status(conversation=sms_thread, status="resolved", by=agent_alice)
    survey = SatisfactionSurvey.objects.get()
    assert survey.state == "scheduled" and survey.due_at > timezone.now()
    assert surveys_send_due() == 0
    assert not Entry.objects.filter(conversation=sms_thread, direction="outbound").exists()

"""Automation rules on the event stream: what an admin sets up, a customer's message sets off, and the
thread explains; the loop guard; bad rules refused with the reason."""

from __future__ import annotations

from typing import Any

import pytest
from django.utils import timezone

from config.errors import ValidationError
from contacts.models import Label
from conversations.models import Conversation, Entry
from conversations.services import conversation_set_priority, conversation_set_status, entry_append
from events import services as events_services
from events.models import DomainEvent
from events.services import events_dispatch
from rules.models import Rule, RuleRun
from rules.services import out_of_hours_rule, rule_runs_process, rule_save
from tests.conftest import thread_of, twilio_fixture

pytestmark = pytest.mark.django_db


def settle() -> None:
    """What a worker does after commit: dispatch the stream, then apply the rules' runs."""
    events_dispatch()
    rule_runs_process()


@pytest.fixture
def hot(db: Any) -> Label:
    return Label.objects.create(name="hot", color="#dc2626")


@pytest.fixture
def hot_whatsapp_leads(admin_ada: Any, hot: Label, team_sales: Any) -> Rule:
    return rule_save(
        by=admin_ada,
        name="Hot WhatsApp leads",
        event_type="message.received",
        conditions=[
            {"field": "channel", "op": "is", "value": "whatsapp"},
            {"field": "stage", "op": "is", "value": "lead"},
        ],
        actions=[
            {"type": "add_label", "label": hot.pk},
            {"type": "set_priority", "priority": "urgent"},
        ],
    )


def test_a_whatsapp_lead_is_labelled_hot_made_urgent_and_the_thread_says_why(
    deliver_inbound: Any, inbox_support: Any, hot_whatsapp_leads: Rule, hot: Label
) -> None:
    deliver_inbound(twilio_fixture("inbound_whatsapp"))
    settle()

    thread = Conversation.objects.get(entries__channel="whatsapp")
    assert thread.priority == "urgent"
    assert list(thread.contact.labels.values_list("name", flat=True)) == ["hot"]
    why = Entry.objects.get(conversation=thread, event_type="rule.applied")
    assert "Hot WhatsApp leads" in why.body and "message.received" in why.body
    assert "labelled hot" in why.body and "priority to urgent" in why.body
    run = RuleRun.objects.get(rule=hot_whatsapp_leads)
    assert run.state == "applied" and run.event_uid.startswith("evt_")
    # What the rule changed carries its cause, one step deeper than the customer's message.
    changed = DomainEvent.objects.get(type="conversation.priority_changed")
    assert (changed.cause, changed.depth) == (f"rule:{hot_whatsapp_leads.pk}", 1)


def test_an_sms_does_not_meet_a_whatsapp_rule_and_costs_no_run(
    deliver_inbound: Any, inbox_support: Any, hot_whatsapp_leads: Rule
) -> None:
    deliver_inbound(twilio_fixture("inbound_sms"))
    settle()
    assert thread_of("+14155550142").priority == "normal"
    # The event says its channel: the rule is ruled out without a run, a row or a worker.
    assert not RuleRun.objects.exists()
    assert not Entry.objects.filter(event_type="rule.applied").exists()


def test_a_thread_that_changed_before_the_worker_acted_is_skipped_and_the_log_says_which_condition(
    sms_thread: Conversation, deliver_inbound: Any, admin_ada: Any
) -> None:
    rule = rule_save(
        by=admin_ada,
        name="Urgent threads get a note",
        event_type="message.received",
        conditions=[{"field": "priority", "op": "is", "value": "urgent"}],
        actions=[{"type": "add_note", "text": "Urgent customer wrote again"}],
    )
    conversation_set_priority(conversation=sms_thread, priority="urgent", by=admin_ada)
    deliver_inbound(twilio_fixture("inbound_sms", MessageSid="SM" + "6" * 32, SmsSid="SM" + "6" * 32))
    events_dispatch()  # the rule matches now and is queued...
    conversation_set_priority(conversation=sms_thread, priority="low", by=admin_ada)  # ...then it changes
    rule_runs_process()
    run = RuleRun.objects.get(rule=rule)
    assert run.state == "skipped" and run.detail == "not met: priority is urgent"
    assert not Entry.objects.filter(kind="note").exists()


def test_in_one_dispatch_each_thread_is_judged_by_its_own_replies_even_one_sent_after_the_message(
    sms_thread: Conversation, deliver_inbound: Any, admin_ada: Any, monkeypatch: Any
) -> None:
    """Several customers' messages are dispatched together, their threads read in one statement: Dana's,
    answered two minutes ago, meets the rule; Ben's, answered only after he wrote, does not."""
    rule = rule_save(
        by=admin_ada,
        name="Quick follow-ups",
        event_type="message.received",
        conditions=[{"field": "minutes_since_agent_reply", "op": "less_than", "value": 5}],
        actions=[{"type": "add_note", "text": "Writing back within minutes of our answer"}],
    )
    events_dispatch()  # Dana's first text, before any answer: ruled out
    monkeypatch.setattr(events_services, "_dispatch_after_commit", lambda: None)  # a busy dispatcher
    now = timezone.now()

    def agent_answer(thread: Conversation, at: Any) -> None:
        Entry.objects.create(
            conversation=thread,
            kind="message",
            direction="outbound",
            channel="sms",
            body="On it",
            author=admin_ada,
            created_at=at,
            delivery_status="delivered",
        )

    agent_answer(sms_thread, now - timezone.timedelta(minutes=2))
    deliver_inbound(twilio_fixture("inbound_sms", MessageSid="SM" + "7" * 32, SmsSid="SM" + "7" * 32))
    deliver_inbound(
        twilio_fixture("inbound_sms", From="+14155550199", MessageSid="SM" + "8" * 32, SmsSid="SM" + "8" * 32)
    )
    ben = thread_of("+14155550199")
    agent_answer(ben, timezone.now() + timezone.timedelta(seconds=5))  # after his message, before dispatch
    assert DomainEvent.objects.filter(dispatched_at__isnull=True, type="message.received").count() == 2
    settle()

    runs = RuleRun.objects.filter(rule=rule)
    assert [(run.conversation_id, run.state) for run in runs] == [(sms_thread.pk, "applied")]
    assert Entry.objects.get(kind="note").conversation == sms_thread


def test_a_second_dispatch_of_the_same_event_never_applies_a_rule_twice(
    deliver_inbound: Any, inbox_support: Any, admin_ada: Any
) -> None:
    rule_save(
        by=admin_ada,
        name="Note every SMS",
        event_type="message.received",
        conditions=[{"field": "channel", "op": "is", "value": "sms"}],
        actions=[{"type": "add_note", "text": "Seen by the rules"}],
    )
    deliver_inbound(twilio_fixture("inbound_sms"))
    settle()
    DomainEvent.objects.update(dispatched_at=None)  # as if a dispatcher died before marking them
    settle()
    assert Entry.objects.filter(kind="note", body="Seen by the rules").count() == 1


def test_out_of_hours_the_customer_is_answered_once_by_the_hub_and_still_waits_for_a_person(
    deliver_inbound: Any, inbox_support: Any, admin_ada: Any, fake_twilio: Any
) -> None:
    inbox_support.holidays = [timezone.localdate().isoformat()]  # closed all day today
    inbox_support.save()
    out_of_hours_rule(
        by=admin_ada, inbox=inbox_support, text="Thanks {{contact.first_name}}! We open at nine."
    )

    deliver_inbound(twilio_fixture("inbound_sms"))
    settle()
    deliver_inbound(
        twilio_fixture("inbound_sms", MessageSid="SM" + "8" * 32, SmsSid="SM" + "8" * 32, Body="?")
    )
    settle()

    thread = thread_of("+14155550142")
    replies = Entry.objects.filter(conversation=thread, direction="outbound", kind="message")
    assert replies.count() == 1  # once per stretch of work, not per message
    reply = replies.get()
    assert reply.author is None and reply.data.get("automatic") is True and "We open at nine" in reply.body
    thread.refresh_from_db()
    assert thread.waiting_since is not None  # an automatic answer is nobody's response


def test_out_of_hours_replies_never_answer_during_business_hours(
    deliver_inbound: Any, inbox_support: Any, admin_ada: Any
) -> None:
    out_of_hours_rule(by=admin_ada, inbox=inbox_support, text="We open at nine.")  # no hours: always open
    deliver_inbound(twilio_fixture("inbound_sms"))
    settle()
    assert not Entry.objects.filter(direction="outbound").exists()
    assert not RuleRun.objects.exists()  # ruled out when the event was dispatched


def test_rules_reacting_to_each_other_stop_at_the_depth_limit_and_say_so(
    sms_thread: Conversation, admin_ada: Any, settings: Any
) -> None:
    settings.RULES_MAX_DEPTH = 3
    # Each rule undoes the other's priority: left alone they would run forever.
    rule_save(
        by=admin_ada,
        name="Urgent to high",
        event_type="conversation.priority_changed",
        conditions=[{"field": "priority", "op": "is", "value": "urgent"}],
        actions=[{"type": "set_priority", "priority": "high"}],
    )
    rule_save(
        by=admin_ada,
        name="High to urgent",
        event_type="conversation.priority_changed",
        conditions=[{"field": "priority", "op": "is", "value": "high"}],
        actions=[{"type": "set_priority", "priority": "urgent"}],
    )
    conversation_set_priority(conversation=sms_thread, priority="urgent", by=admin_ada)
    for _ in range(6):
        settle()

    assert RuleRun.objects.filter(state="applied").count() == 3
    stopped = Entry.objects.get(conversation=sms_thread, event_type="rule.stopped")
    assert "RULES_MAX_DEPTH" in stopped.body
    assert not RuleRun.objects.filter(state="pending").exists()


def test_a_rule_that_stops_the_chain_keeps_the_later_rules_from_acting(
    sms_thread: Conversation, admin_ada: Any
) -> None:
    first = rule_save(
        by=admin_ada,
        name="VIP first",
        event_type="conversation.priority_changed",
        conditions=[],
        actions=[{"type": "add_note", "text": "first"}],
        stop_after=True,
    )
    rule_save(
        by=admin_ada,
        name="Everyone else",
        event_type="conversation.priority_changed",
        conditions=[],
        actions=[{"type": "add_note", "text": "second"}],
    )
    conversation_set_priority(conversation=sms_thread, priority="high", by=admin_ada)
    settle()
    assert list(Entry.objects.filter(kind="note").values_list("body", flat=True)) == ["first"]
    skipped = RuleRun.objects.get(state="skipped")
    assert first.name in skipped.detail


@pytest.mark.parametrize(
    ("change", "reason"),
    [
        ({"event_type": "message.recieved"}, "not an event a rule can start from"),
        ({"conditions": [{"field": "mood", "op": "is", "value": "x"}]}, "No condition on 'mood'"),
        ({"conditions": [{"field": "text", "op": "matches", "value": "(a+)+\\1"}]}, "cannot be used"),
        ({"actions": []}, "at least one action"),
        ({"actions": [{"type": "set_priority", "priority": "asap"}]}, "urgent, high, normal or low"),
        ({"conditions": []}, "every message every customer sends"),
    ],
)
def test_a_rule_that_cannot_work_is_refused_with_the_reason(
    admin_ada: Any, change: dict[str, Any], reason: str
) -> None:
    rule: dict[str, Any] = {
        "name": "Broken",
        "event_type": "message.received",
        "conditions": [{"field": "channel", "op": "is", "value": "sms"}],
        "actions": [{"type": "add_note", "text": "x"}],
    }
    with pytest.raises(ValidationError, match=reason):
        rule_save(by=admin_ada, **{**rule, **change})
    assert not Rule.objects.exists()


def test_an_agent_deactivated_after_the_rule_was_saved_is_skipped_and_logged(
    sms_thread: Conversation, admin_ada: Any, agent_alice: Any
) -> None:
    rule = rule_save(
        by=admin_ada,
        name="Alice takes priorities",
        event_type="conversation.priority_changed",
        conditions=[],
        actions=[{"type": "assign_agent", "agent": agent_alice.pk}, {"type": "add_note", "text": "noted"}],
    )
    agent_alice.is_active = False
    agent_alice.save()
    conversation_set_priority(conversation=sms_thread, priority="low", by=admin_ada)
    settle()
    run = RuleRun.objects.get(rule=rule)
    assert run.state == "applied" and run.errors == 1 and "deactivated" in run.detail
    sms_thread.refresh_from_db()
    assert sms_thread.assignee_id is None
    assert Entry.objects.filter(kind="note", body="noted").exists()


def test_a_pattern_runs_in_linear_time_on_a_hostile_text(sms_thread: Conversation, admin_ada: Any) -> None:
    rule_save(
        by=admin_ada,
        name="Order numbers",
        event_type="message.received",
        conditions=[{"field": "text", "op": "matches", "value": "(a|aa)+$"}],
        actions=[{"type": "add_note", "text": "matched"}],
    )
    entry_append(
        conversation=sms_thread,
        kind="message",
        direction="inbound",
        channel="sms",
        inbox=sms_thread.last_inbound_inbox,
        body="a" * 50_000 + "!",  # catastrophic for a backtracking engine
    )
    settle()  # a backtracking engine would spend minutes here; RE2 answers in linear time
    assert not Entry.objects.filter(kind="note", body="matched").exists()
    assert not RuleRun.objects.exists()


def test_resolved_threads_are_sent_to_the_crm_once_even_when_it_subscribes_too(
    sms_thread: Conversation, admin_ada: Any
) -> None:
    from events.models import WebhookDelivery, WebhookEndpoint

    crm = WebhookEndpoint.objects.create(
        url="https://crm.example.com/hook", event_types=["conversation.resolved"]
    )
    rule_save(
        by=admin_ada,
        name="Resolved to the CRM",
        event_type="conversation.resolved",
        conditions=[],
        actions=[{"type": "webhook", "endpoint": crm.pk}],
    )
    conversation_set_status(conversation=sms_thread, status="resolved", by=admin_ada)
    settle()
    delivery = WebhookDelivery.objects.get()
    assert (delivery.endpoint, delivery.event.type) == (crm, "conversation.resolved")
    assert "sent the event to a webhook" in Entry.objects.get(event_type="rule.applied").body


def test_two_rules_that_assign_differently_apply_in_order_and_the_thread_says_which_won(
    sms_thread: Conversation, admin_ada: Any, agent_alice: Any
) -> None:
    for name, agent in (("Alice first", agent_alice), ("Then Ada", admin_ada)):
        rule_save(
            by=admin_ada,
            name=name,
            event_type="conversation.priority_changed",
            conditions=[],
            actions=[{"type": "assign_agent", "agent": agent.pk}],
        )
    conversation_set_priority(conversation=sms_thread, priority="high", by=admin_ada)
    settle()
    sms_thread.refresh_from_db()
    assert sms_thread.assignee == admin_ada
    last = Entry.objects.filter(event_type="rule.applied").latest("id")
    assert "Then Ada" in last.body and "after “Alice first”" in last.body


def test_a_rule_schedules_a_reminder_for_the_team(sms_thread: Conversation, admin_ada: Any) -> None:
    from reports.models import ScheduledFollowUp

    rule_save(
        by=admin_ada,
        name="Chase urgent threads",
        event_type="conversation.priority_changed",
        conditions=[{"field": "priority", "op": "is", "value": "urgent"}],
        actions=[{"type": "follow_up", "minutes": 60, "text": "Has anyone called them back?"}],
    )
    conversation_set_priority(conversation=sms_thread, priority="urgent", by=admin_ada)
    settle()
    reminder = ScheduledFollowUp.objects.get(conversation=sms_thread)
    assert reminder.kind == "reminder" and reminder.created_by is None
    assert 59 <= (reminder.due_at - timezone.now()).total_seconds() / 60 <= 60
    assert "Has anyone called them back?" in reminder.body and "Chase urgent threads" in reminder.body
    assert "scheduled a reminder in 60 minutes" in Entry.objects.get(event_type="rule.applied").body


def test_a_rule_notifies_every_agent_of_a_team_who_can_see_the_thread(
    sms_thread: Conversation, admin_ada: Any, agent_alice: Any, agent_bob: Any, team_support: Any
) -> None:
    from conversations.models import Notification

    rule_save(
        by=admin_ada,
        name="Tell support about urgent threads",
        event_type="conversation.priority_changed",
        conditions=[{"field": "priority", "op": "is", "value": "urgent"}],
        actions=[{"type": "notify", "team": team_support.pk, "text": "An urgent thread needs you"}],
    )
    conversation_set_priority(conversation=sms_thread, priority="urgent", by=admin_ada)
    settle()
    assert list(Notification.objects.values_list("recipient__username", flat=True)) == ["agent_alice"]
    assert "notified the Support team" in Entry.objects.get(event_type="rule.applied").body


def test_out_of_hours_a_stop_is_never_answered(
    deliver_inbound: Any, inbox_support: Any, admin_ada: Any
) -> None:
    inbox_support.holidays = [timezone.localdate().isoformat()]
    inbox_support.save()
    out_of_hours_rule(by=admin_ada, inbox=inbox_support, text="We open at nine.")
    deliver_inbound(twilio_fixture("inbound_sms", Body="STOP"))
    settle()
    assert not Entry.objects.filter(direction="outbound", kind="message").exists()
    run = RuleRun.objects.get()  # the channel refused it, and the run log says why
    assert run.state == "failed" and "texted STOP" in run.detail

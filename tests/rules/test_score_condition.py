"""A rule on the lead score: the same conditions code path as the others, read as the customer's score now."""

from __future__ import annotations

from typing import Any

import pytest

from config.errors import ValidationError
from contacts.models import Contact
from conversations.models import Conversation, Entry
from lifecycle.scores import lead_score_weights_seed
from lifecycle.services import touchpoint_record
from rules.models import Rule, RuleRun
from rules.services import rule_save
from tests.conftest import thread_of, twilio_fixture
from tests.rules.test_rules import settle

pytestmark = pytest.mark.django_db


@pytest.fixture(autouse=True)
def weights(db: Any) -> None:
    lead_score_weights_seed()  # reply +5, demo booked +30...


@pytest.fixture
def hot_leads_note(admin_ada: Any) -> Rule:
    return rule_save(
        by=admin_ada,
        name="Hot lead wrote",
        event_type="message.received",
        conditions=[{"field": "lead_score", "op": "more_than", "value": 30}],
        actions=[{"type": "add_note", "text": "A hot lead: answer first"}],
    )


def notes(thread: Conversation) -> list[str]:
    return list(Entry.objects.filter(conversation=thread, kind="note").values_list("body", flat=True))


def test_a_hot_lead_meets_the_rule_and_a_cold_one_does_not(
    deliver_inbound: Any, inbox_support: Any, hot_leads_note: Rule
) -> None:
    deliver_inbound(twilio_fixture("inbound_sms"))  # a first text: 5 points
    settle()
    thread = thread_of("+14155550142")
    assert notes(thread) == []
    run = RuleRun.objects.filter(rule=hot_leads_note).first()
    assert run is None or run.detail == "not met: lead_score more than 30"

    contact = Contact.objects.get(pk=thread.contact_id)
    touchpoint_record(contact=contact, type="demo_booked", client_key="demo-1")  # 35 now
    deliver_inbound(twilio_fixture("inbound_sms", MessageSid="SM" + "7" * 32, SmsSid="SM" + "7" * 32))  # 40
    settle()
    assert notes(thread) == ["A hot lead: answer first"]
    assert RuleRun.objects.filter(rule=hot_leads_note, state="applied").count() == 1


def test_less_than_counts_a_customer_without_a_score_as_zero(
    deliver_inbound: Any, inbox_support: Any, admin_ada: Any
) -> None:
    rule_save(
        by=admin_ada,
        name="Cold lead",
        event_type="conversation.priority_changed",
        conditions=[{"field": "lead_score", "op": "less_than", "value": 1}],
        actions=[{"type": "add_note", "text": "cold"}],
    )
    from conversations.services import conversation_get_or_create, conversation_set_priority

    nobody = conversation_get_or_create(contact=Contact.objects.create(name="Quiet"))
    conversation_set_priority(conversation=nobody, priority="high", by=admin_ada)
    settle()
    assert notes(nobody) == ["cold"]


@pytest.mark.parametrize("value", ["thirty", 10_001, True, None])
def test_a_score_condition_needs_a_whole_number(admin_ada: Any, value: Any) -> None:
    with pytest.raises(ValidationError, match="whole number from -10000 to 10000"):
        rule_save(
            by=admin_ada,
            name="Broken",
            event_type="message.received",
            conditions=[{"field": "lead_score", "op": "more_than", "value": value}],
            actions=[{"type": "add_note", "text": "x"}],
        )
    assert not Rule.objects.exists()

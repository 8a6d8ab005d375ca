"""The rules' `enroll_in_sequence` action: a new lead's first message enrols them, the thread says which rule did,
a second message from a customer already in it enrols nobody twice, and a rule naming no sequence is refused."""

from __future__ import annotations

from typing import Any

import pytest

from config.errors import ValidationError
from conversations.models import Entry
from events.services import events_dispatch
from rules.models import RuleRun
from rules.services import rule_runs_process, rule_save
from sequences.models import Enrollment, Sequence
from sequences.services import sequence_save
from tests.conftest import thread_of, twilio_fixture

pytestmark = pytest.mark.django_db


def settle() -> None:
    events_dispatch()
    rule_runs_process()


@pytest.fixture
def nurture(db: Any) -> Sequence:
    steps = [
        {"type": "task", "text": "Call them"},
        {"type": "wait", "days": 2},
        {"type": "task", "text": "Again"},
    ]
    return sequence_save(by=None, name="New lead nurture", steps=steps)


def test_a_rule_enrols_a_new_lead_and_the_thread_says_which_rule(
    deliver_inbound: Any, inbox_support: Any, admin_ada: Any, nurture: Sequence
) -> None:
    rule = rule_save(
        by=admin_ada,
        name="Nurture new leads",
        event_type="message.received",
        conditions=[{"field": "stage", "op": "is", "value": "lead"}],
        actions=[{"type": "enroll_in_sequence", "sequence": nurture.pk}],
    )
    deliver_inbound(twilio_fixture("inbound_sms"))
    settle()

    thread = thread_of("+14155550142")
    enrollment = Enrollment.objects.get(contact=thread.contact)
    assert (enrollment.sequence, enrollment.state, enrollment.source) == (nurture, "active", "rule")
    enrolled = Entry.objects.get(conversation=thread, event_type="sequence.enrolled")
    assert (
        enrolled.body
        == "Rule “Nurture new leads” enrolled +14155550142 in the sequence “New lead nurture” (3 steps)"
    )
    # The first step is taken right after the enrolment commits, not at the next round of the periodic job.
    assert enrollment.step == 2 and Entry.objects.filter(conversation=thread, kind="note").count() == 1
    applied = Entry.objects.get(conversation=thread, event_type="rule.applied")
    assert "enrolled the customer in the sequence “New lead nurture”" in applied.body

    # Their next message ends the enrolment (a reply); a rule run on it enrols them afresh, once.
    deliver_inbound(
        twilio_fixture("inbound_sms", Body="Still there?", MessageSid="SM" + "3" * 32, SmsSid="SM" + "3" * 32)
    )
    settle()
    states = sorted(Enrollment.objects.filter(contact=thread.contact).values_list("state", "exit_reason"))
    assert states == [("active", ""), ("exited", "replied")]
    assert RuleRun.objects.filter(rule=rule, state="applied").count() == 2


def test_a_customer_already_in_the_sequence_is_an_error_of_the_run_not_a_second_enrolment(
    deliver_inbound: Any, inbox_support: Any, admin_ada: Any, nurture: Sequence
) -> None:
    rule_save(
        by=admin_ada,
        name="Twice",
        event_type="message.received",
        conditions=[{"field": "stage", "op": "is", "value": "lead"}],
        actions=[
            {"type": "enroll_in_sequence", "sequence": nurture.pk},
            {"type": "enroll_in_sequence", "sequence": nurture.pk},
        ],
    )
    deliver_inbound(twilio_fixture("inbound_sms"))
    settle()

    assert Enrollment.objects.count() == 1
    run = RuleRun.objects.get()
    assert "already in the sequence “New lead nurture”" in run.detail


def test_a_rule_naming_no_sequence_is_refused(admin_ada: Any) -> None:
    with pytest.raises(ValidationError, match="No such sequence"):
        rule_save(
            by=admin_ada,
            name="Broken",
            event_type="stage.changed",
            conditions=[],
            actions=[{"type": "enroll_in_sequence", "sequence": 999}],
        )

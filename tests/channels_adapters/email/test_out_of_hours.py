"""The out-of-hours reply on email: answered once, marked as an auto-reply (RFC 3834), and never sent to a
machine's mail, which would start two robots answering each other."""

from __future__ import annotations

import email
from email import policy
from typing import Any

import pytest
from django.utils import timezone

from conversations.models import Entry
from events.services import events_dispatch
from rules.models import RuleRun
from rules.services import out_of_hours_rule, rule_runs_process
from tests.channels_adapters.email.conftest import eml

pytestmark = pytest.mark.django_db


@pytest.fixture
def closed_today(inbox_email: Any, admin_ada: Any) -> Any:
    inbox_email.holidays = [timezone.localdate().isoformat()]
    inbox_email.save()
    out_of_hours_rule(by=admin_ada, inbox=inbox_email, text="We're closed today; We answer tomorrow at nine.")
    return inbox_email


def settle(capture: Any) -> None:
    with capture(execute=True):
        events_dispatch()
        rule_runs_process()


def test_a_customer_who_emails_out_of_hours_gets_one_reply_marked_auto_replied(
    closed_today: Any, deliver_email: Any, smtp_server: Any, django_capture_on_commit_callbacks: Any
) -> None:
    deliver_email(eml("outlook"))
    settle(django_capture_on_commit_callbacks)

    reply = Entry.objects.get(direction="outbound", kind="message")
    assert reply.author is None and reply.channel == "email"
    [sent] = smtp_server.envelopes
    arrived = email.message_from_bytes(sent.content, policy=policy.default)
    assert arrived["Auto-Submitted"] == "auto-replied"
    assert "We answer tomorrow at nine" in arrived.get_body(("plain",)).get_content()


def test_an_auto_reply_from_the_customer_is_never_answered(
    closed_today: Any, deliver_email: Any, smtp_server: Any, django_capture_on_commit_callbacks: Any
) -> None:
    deliver_email(eml("auto_reply"))
    settle(django_capture_on_commit_callbacks)

    assert not Entry.objects.filter(direction="outbound").exists()
    assert smtp_server.envelopes == []
    assert not RuleRun.objects.exists()  # the message's own event says it is automatic: no run at all

"""Rules on the real stream: a signed WhatsApp message reaches the ASGI server, the inbound worker records it,
the dispatcher hands its event to the rules and the worker applies them, on PostgreSQL with a real Celery
worker. No browser: what an admin's rule did is read from the database, as the thread shows it."""

from __future__ import annotations

import time
from typing import Any

import pytest

from contacts.models import Label
from conversations.models import Conversation, Entry
from rules.models import RuleRun
from rules.services import rule_save
from tests import factories
from tests.conftest import ACCOUNT_SID, AUTH_TOKEN, SUPPORT_NUMBER
from tests.live import post_signed_sms

pytestmark = pytest.mark.integration


def wait_for(check: Any, timeout: float = 20.0) -> Any:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        found = check()
        if found:
            return found
        time.sleep(0.2)
    raise AssertionError("timed out")


def test_a_whatsapp_lead_is_labelled_hot_and_made_urgent_by_the_worker(live_hub: Any) -> None:
    admin = factories.agent("ada_admin", role="admin")
    hot = Label.objects.create(name="hot")
    rule = rule_save(
        by=admin,
        name="WhatsApp leads are hot",
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
    response = post_signed_sms(
        live_hub.url,
        ACCOUNT_SID,
        AUTH_TOKEN,
        sender="whatsapp:+14155550142",
        to=f"whatsapp:{SUPPORT_NUMBER}",
        body="Hi! Do you ship to Canada?",
        sid="SM" + "c3" * 16,
    )
    assert response.status_code == 200, response.text

    run = wait_for(lambda: RuleRun.objects.filter(rule=rule, state="applied").first())
    thread = Conversation.objects.get(pk=run.conversation_id)
    assert thread.priority == "urgent"
    assert list(thread.contact.labels.values_list("name", flat=True)) == ["hot"]
    why = Entry.objects.get(conversation=thread, event_type="rule.applied")
    assert "WhatsApp leads are hot" in why.body and "labelled hot" in why.body

"""WhatsApp templates: synced from Twilio's Content API (a local fake, so the SDK's own paging runs), offered in
the composer when the 24-hour window is closed, sent with ContentSid and ContentVariables, and shown in the
thread as the customer read them."""

from __future__ import annotations

from datetime import timedelta
from typing import Any

import pytest
from django.test import Client
from django.utils import timezone
from rest_framework.test import APIClient

from channels_adapters.models import MessageTemplate
from channels_adapters.sandbox import sandbox_records
from channels_adapters.whatsapp_templates import templates_sync_all
from conversations.models import Conversation, Entry
from tests.conftest import ACCOUNT_SID, thread_of, twilio_fixture

pytestmark = pytest.mark.django_db
CUSTOMER = "+14155550142"


def content(sid: int, name: str, body: str, status: str = "approved", **approval: str) -> dict[str, Any]:
    """One template as Twilio's ContentAndApprovals lists it."""
    return {
        "sid": f"HX{sid:032x}",
        "friendly_name": name,
        "language": "en",
        "variables": {"1": "Dana", "2": "Support"},
        "types": {"twilio/text": {"body": body}},
        "approval_requests": {"name": name, "category": "UTILITY", "status": status, **approval},
        "date_created": "2026-11-01T10:00:00Z",
        "date_updated": "2026-11-02T10:00:00Z",
    }


FOLLOW_UP = "Hi {{1}}, this is {{2}} following up. Anything else we can help with?"


@pytest.fixture
def templates(fake_twilio: Any, inbox_support: Any) -> dict[str, MessageTemplate]:
    fake_twilio.state.templates = [
        content(1, "follow_up", FOLLOW_UP),
        content(2, "spring_sale", "Hi {{1}}, 20% off this week", "rejected", rejection_reason="Promotional"),
        content(3, "order_update", "Hi {{1}}, your order has shipped", "pending"),
    ]
    assert templates_sync_all() == {ACCOUNT_SID: 3}
    return {t.name: t for t in MessageTemplate.objects.all()}


@pytest.fixture
def closed_window(deliver_inbound: Any, inbox_support: Any) -> Conversation:
    """Dana wrote on WhatsApp two days ago: free text can no longer reach her there."""
    deliver_inbound(twilio_fixture("inbound_whatsapp"))
    Entry.objects.filter(channel="whatsapp").update(created_at=timezone.now() - timedelta(days=2))
    return thread_of(CUSTOMER)


def test_templates_and_their_approval_are_synced_and_one_deleted_at_twilio_goes(
    templates: dict[str, MessageTemplate], fake_twilio: Any
) -> None:
    follow_up, rejected = templates["follow_up"], templates["spring_sale"]
    assert (follow_up.whatsapp_status, follow_up.body, follow_up.variables) == (
        "approved",
        FOLLOW_UP,
        {"1": "Dana", "2": "Support"},
    )
    assert (rejected.whatsapp_status, rejected.rejection_reason) == ("rejected", "Promotional")
    assert templates["order_update"].whatsapp_status == "pending"
    # More than a page of them, one of the old ones gone: the SDK follows Twilio's pages to the end.
    fake_twilio.state.templates = [content(n, f"t{n}", "Hi {{1}}") for n in range(10, 130)]
    assert templates_sync_all() == {ACCOUNT_SID: 120}
    assert not MessageTemplate.objects.filter(name="follow_up").exists()


def test_outside_the_window_the_agent_sends_an_approved_template_and_the_thread_shows_what_dana_read(
    templates: dict[str, MessageTemplate],
    closed_window: Conversation,
    alice_client: Client,
    fake_twilio: Any,
    django_capture_on_commit_callbacks: Any,
) -> None:
    page = alice_client.get(f"/inbox/{closed_window.pk}/").content.decode()
    assert 'id="template-picker" data-window="closed"' in page and "the 24-hour window is closed" in page
    assert "follow_up" in page and "spring_sale" not in page and "order_update" not in page  # approved only
    assert 'name="var_1" value="Dana"' in page  # filled in from the thread: the customer's first name

    free_text = alice_client.post(f"/inbox/{closed_window.pk}/reply/", {"body": "Hi!", "channel": "whatsapp"})
    assert free_text.status_code == 409 and "template" in free_text.json()["error"]

    with django_capture_on_commit_callbacks(execute=True):
        answer = alice_client.post(
            f"/inbox/{closed_window.pk}/reply/",
            {"template": templates["follow_up"].pk, "var_1": "Dana", "var_2": "Alice"},
        )
    assert answer.status_code == 201, answer.content
    [sent] = fake_twilio.wait_for_messages(1)
    assert sent["content_sid"] == templates["follow_up"].content_sid
    assert sent["content_variables"] == {"1": "Dana", "2": "Alice"}
    assert sent["to"] == f"whatsapp:{CUSTOMER}" and sent["body"] == ""  # no free text alongside
    entry = Entry.objects.get(direction="outbound")
    assert entry.body == "Hi Dana, this is Alice following up. Anything else we can help with?"
    assert (entry.channel, entry.delivery_status) == ("whatsapp", "sent")
    assert entry.data["template"]["name"] == "follow_up"


@pytest.mark.parametrize(
    "values,reason",
    [
        ({"var_1": "Dana"}, "needs a value for {{2}}"),
        ({"var_1": "Dana", "var_2": "   "}, "needs a value for {{2}}"),
        ({"var_1": "Dana", "var_2": "Alice\nSupport"}, "line break"),
        ({"var_1": "Dana", "var_2": "Alice\tSupport"}, "a tab"),
        ({"var_1": "Dana", "var_2": "Alice     Support"}, "more than four spaces"),
    ],
)
def test_values_whatsapp_would_refuse_are_refused_with_the_reason_and_nothing_is_sent(
    templates: dict[str, MessageTemplate],
    closed_window: Conversation,
    alice_client: Client,
    fake_twilio: Any,
    values: dict[str, str],
    reason: str,
) -> None:
    answer = alice_client.post(
        f"/inbox/{closed_window.pk}/reply/", {"template": templates["follow_up"].pk, **values}
    )
    assert answer.status_code == 400 and reason in answer.json()["error"]
    assert not Entry.objects.filter(direction="outbound").exists()
    assert fake_twilio.messages == []


def test_a_template_whatsapp_did_not_approve_cannot_be_sent(
    templates: dict[str, MessageTemplate], closed_window: Conversation, alice_client: Client
) -> None:
    for name in ("spring_sale", "order_update"):
        answer = alice_client.post(
            f"/inbox/{closed_window.pk}/reply/", {"template": templates[name].pk, "var_1": "Dana"}
        )
        assert answer.status_code == 404
    assert not Entry.objects.filter(direction="outbound").exists()


def test_meta_declining_a_marketing_template_fails_that_message_at_once_without_a_retry(
    templates: dict[str, MessageTemplate],
    closed_window: Conversation,
    alice_client: Client,
    fake_twilio: Any,
    django_capture_on_commit_callbacks: Any,
) -> None:
    fake_twilio.state.failures[f"whatsapp:{CUSTOMER}"] = (400, 63049, "Meta chose not to deliver")
    with django_capture_on_commit_callbacks(execute=True):
        alice_client.post(
            f"/inbox/{closed_window.pk}/reply/",
            {"template": templates["follow_up"].pk, "var_1": "Dana", "var_2": "Alice"},
        )
    entry = Entry.objects.get(direction="outbound")
    assert (entry.delivery_status, entry.attempts) == ("failed", 1)
    assert "Meta chose not to deliver this marketing template" in entry.status_reason


def test_the_api_lists_the_templates_an_inbox_can_send_and_sends_one(
    templates: dict[str, MessageTemplate],
    closed_window: Conversation,
    agent_alice: Any,
    inbox_support: Any,
    fake_twilio: Any,
    django_capture_on_commit_callbacks: Any,
) -> None:
    api = APIClient()
    api.force_login(agent_alice)
    listed = api.get("/api/v1/templates/", {"inbox": inbox_support.pk}).json()
    assert [(t["name"], t["placeholders"]) for t in listed] == [("follow_up", ["1", "2"])]
    with django_capture_on_commit_callbacks(execute=True):
        sent = api.post(
            f"/api/v1/contacts/{closed_window.contact_id}/messages/",
            {"template": listed[0]["id"], "variables": {"1": "Dana", "2": "Alice"}},
            format="json",
        )
    assert sent.status_code == 201, sent.content
    assert sent.json()["body"].startswith("Hi Dana, this is Alice")
    assert fake_twilio.wait_for_messages(1)[0]["content_sid"] == templates["follow_up"].content_sid
    # Syncing on demand is for managers and admins.
    assert api.post("/api/v1/templates/sync/").status_code == 403


def test_the_sandbox_offers_demo_templates_and_records_the_template_it_would_send(
    settings: Any,
    inbox_support: Any,
    closed_window: Conversation,
    alice_client: Client,
    django_capture_on_commit_callbacks: Any,
) -> None:
    settings.TWILIO_ACCOUNT_SID = settings.TWILIO_AUTH_TOKEN = ""
    assert templates_sync_all() == {"sandbox": 3}
    follow_up = MessageTemplate.objects.get(name="follow_up")
    with django_capture_on_commit_callbacks(execute=True):
        answer = alice_client.post(
            f"/inbox/{closed_window.pk}/reply/", {"template": follow_up.pk, "var_1": "Dana", "var_2": "Alice"}
        )
    assert answer.status_code == 201, answer.content
    [record] = sandbox_records()
    assert record["content_sid"] == follow_up.content_sid and record["body"].startswith(
        "Hi Dana, this is Alice"
    )


def test_a_follow_up_due_after_the_window_closed_goes_out_as_the_approved_template(
    templates: dict[str, MessageTemplate],
    closed_window: Conversation,
    agent_alice: Any,
    fake_twilio: Any,
    django_capture_on_commit_callbacks: Any,
) -> None:
    from reports.services import followup_schedule, followups_send_due

    agent_alice.first_name = "Alice"
    agent_alice.save(update_fields=["first_name"])
    followup = followup_schedule(
        conversation=closed_window,
        by=agent_alice,
        kind="message",
        due_at=timezone.now() + timedelta(minutes=60),
        body="Did the new address work out?",
        channel="whatsapp",
    )
    with django_capture_on_commit_callbacks(execute=True):
        assert followups_send_due(now=timezone.now() + timedelta(minutes=61)) == 1
    followup.refresh_from_db()
    assert followup.state == "sent", followup.reason
    [sent] = fake_twilio.wait_for_messages(1)
    assert (sent["content_sid"], sent["content_variables"]) == (
        templates["follow_up"].content_sid,
        {"1": "Dana", "2": "Alice"},
    )
    assert followup.entry.body == "Hi Dana, this is Alice following up. Anything else we can help with?"


def test_with_no_template_for_it_the_follow_up_fails_and_says_which_template_was_missing(
    fake_twilio: Any, inbox_support: Any, closed_window: Conversation, agent_alice: Any
) -> None:
    from reports.services import followup_schedule, followups_send_due

    followup = followup_schedule(
        conversation=closed_window,
        by=agent_alice,
        kind="message",
        due_at=timezone.now() + timedelta(minutes=60),
        body="Did the new address work out?",
        channel="whatsapp",
    )
    followups_send_due(now=timezone.now() + timedelta(minutes=61))
    followup.refresh_from_db()
    assert followup.state == "failed"
    assert "24 hours" in followup.reason and "No approved template named “follow_up”" in followup.reason

"""Starting a conversation: the agent writes first, within each channel's rules, and a refusal leaves nothing."""

from __future__ import annotations

from typing import Any

import pytest
from django.test import Client
from rest_framework.test import APIClient

from channels_adapters.start import conversation_start
from config.errors import ChannelRuleError, ValidationError
from contacts.models import Contact
from contacts.services import suppression_set
from conversations.models import Entry
from tests.conftest import sms_in

pytestmark = pytest.mark.django_db


def test_an_sms_to_a_new_number_makes_the_customer_and_queues_the_message(
    inbox_support: Any, agent_alice: Any, django_capture_on_commit_callbacks: Any
) -> None:
    with django_capture_on_commit_callbacks(execute=False):
        entry = conversation_start(
            by=agent_alice,
            channel="sms",
            address="(415) 555-0177",
            name="Rita  Moreno",
            body="Your order shipped!",
        )
    assert (entry.direction, entry.channel, entry.delivery_status) == ("outbound", "sms", "queued")
    assert entry.inbox == inbox_support and entry.to_address == "+14155550177"
    contact = entry.conversation.contact
    assert contact.name == "Rita Moreno"
    assert list(contact.identities.values_list("address", flat=True)) == ["+14155550177"]


def test_an_existing_customer_gets_the_message_in_their_thread(inbox_support: Any, agent_alice: Any) -> None:
    thread = sms_in(inbox_support, "hi", phone="+14155550142").conversation
    entry = conversation_start(by=agent_alice, channel="sms", address="+1 415 555 0142", body="Following up")
    assert entry.conversation_id == thread.pk
    assert Contact.objects.count() == 1


def test_an_opted_out_number_is_refused_and_nothing_changes(inbox_support: Any, agent_alice: Any) -> None:
    sms_in(inbox_support, "STOP", phone="+14155550142")
    suppression_set(channel="sms", address="+14155550142", suppressed=True)  # as STOP records it
    before = Entry.objects.count()
    with pytest.raises(ChannelRuleError, match="texted STOP"):
        conversation_start(by=agent_alice, channel="sms", address="+14155550142", body="Sale!")
    assert Entry.objects.count() == before


def test_a_refused_first_message_leaves_no_customer_behind(inbox_support: Any, agent_alice: Any) -> None:
    with pytest.raises(ChannelRuleError, match="24 hours"):
        conversation_start(by=agent_alice, channel="whatsapp", address="+14155550178", body="Hola")
    with pytest.raises(ValidationError, match="empty"):
        conversation_start(by=agent_alice, channel="sms", address="+14155550179", body="  ")
    with pytest.raises(ValidationError, match="not a phone number"):
        conversation_start(by=agent_alice, channel="sms", address="'; DROP TABLE x; --", body="hi")
    with pytest.raises(ValidationError, match="not an email address"):
        conversation_start(by=agent_alice, channel="email", address="nobody", body="hi")
    with pytest.raises(ValidationError, match="SMS, WhatsApp, email or a call"):
        conversation_start(by=agent_alice, channel="fax", address="+14155550180", body="hi")
    assert not Contact.objects.exists()


def test_another_teams_customer_is_not_opened_to_the_agent(
    inbox_support: Any, inbox_sales: Any, agent_alice: Any
) -> None:
    theirs = sms_in(inbox_sales, "sales secret", phone="+12125550187").conversation
    with pytest.raises(ValidationError, match="not reachable from your inboxes"):
        conversation_start(by=agent_alice, channel="sms", address="+12125550187", body="hello")
    assert not theirs.inbox_links.filter(inbox=inbox_support).exists()


def test_the_page_and_the_api_start_conversations(
    inbox_support: Any, inbox_sales: Any, alice_client: Client, agent_alice: Any
) -> None:
    response = alice_client.post(
        "/inbox/new/", {"channel": "sms", "address": "+14155550181", "body": "Hello from the shop"}
    )
    assert response.status_code == 302
    thread = Entry.objects.get(body="Hello from the shop").conversation
    assert response["Location"] == f"/inbox/{thread.pk}/"
    refused = alice_client.post("/inbox/new/", {"channel": "sms", "address": "not a number", "body": "x"})
    assert refused.status_code == 400 and "not a phone number" in refused.content.decode()
    other_inbox = alice_client.post(
        "/inbox/new/", {"channel": "sms", "address": "+14155550182", "body": "x", "inbox": inbox_sales.pk}
    )
    assert other_inbox.status_code == 400 and "No such inbox" in other_inbox.content.decode()
    api = APIClient()
    api.force_authenticate(agent_alice)
    made = api.post(
        "/api/v1/conversations/", {"channel": "sms", "address": "+14155550183", "body": "API"}, format="json"
    )
    assert made.status_code == 201, made.content
    assert made.json()["entry"]["body"] == "API" and made.json()["conversation"]
    assert (
        api.post(
            "/api/v1/conversations/",
            {"channel": "sms", "address": "+14155550184", "body": "x", "inbox": inbox_sales.pk},
            format="json",
        ).status_code
        == 404
    )

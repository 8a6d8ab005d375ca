"""A STOP survives an erasure as a keyed hash of the number: the erased customer is not messaged again, by an
agent, a follow-up or a rule, until they text START; the hash says nothing of the number."""

from __future__ import annotations

import re
from typing import Any

import pytest
from rest_framework.test import APIClient

from channels_adapters.whatsapp_templates import hub_message_send
from config.errors import ChannelRuleError
from contacts.models import Identity, Suppression
from conversations.models import Conversation, Entry
from tests.conftest import sms_in, thread_of, twilio_fixture

PHONE = "+14155550142"


def _sid(char: str) -> dict[str, str]:
    return {"MessageSid": "SM" + char * 32, "SmsSid": "SM" + char * 32}


def _reply(user: Any, thread: Conversation) -> Any:
    client = APIClient()
    client.force_login(user)
    return client.post(
        f"/api/v1/contacts/{thread.contact_id}/messages/", {"channel": "sms", "body": "Sale!"}, format="json"
    )


@pytest.mark.django_db
def test_an_erased_customer_who_said_stop_is_not_messaged_again_until_start(
    sms_thread: Conversation, deliver_inbound: Any, manager_maria: Any
) -> None:
    deliver_inbound(twilio_fixture("inbound_sms", Body="STOP", **_sid("1")))
    client = APIClient()
    client.force_login(manager_maria)
    erased = client.post(
        f"/api/v1/contacts/{sms_thread.contact_id}/erase/", {"reason": "asked"}, format="json"
    )
    assert erased.status_code == 200, erased.content
    assert not Identity.objects.filter(address=PHONE).exists()
    # What is kept says nothing of the number, in any form.
    suppression = Suppression.objects.get()
    for form in (PHONE, PHONE.lstrip("+"), "5550142"):
        assert form not in f"{suppression.key} {suppression}"
    assert re.fullmatch(r"[0-9a-f]{64}", suppression.key)

    deliver_inbound(twilio_fixture("inbound_sms", Body="Where is my order?", **_sid("2")))
    fresh = thread_of(PHONE)
    assert fresh.contact_id != sms_thread.contact_id
    assert Identity.objects.get(address=PHONE).opted_out_at is not None  # the panel says "opted out of SMS"

    sent_before = Entry.objects.filter(direction="outbound").count()
    refused = _reply(manager_maria, fresh)
    assert refused.status_code == 409
    assert "texted STOP" in refused.json()["detail"] and "START" in refused.json()["detail"]
    for purpose, author in (("followup", manager_maria), ("rule", None)):  # a follow-up, a rule's reply
        with pytest.raises(ChannelRuleError, match="texted STOP"):
            hub_message_send(conversation=fresh, body="Hello", author=author, purpose=purpose)
    assert Entry.objects.filter(direction="outbound").count() == sent_before

    deliver_inbound(twilio_fixture("inbound_sms", Body="START", **_sid("3")))
    assert not Suppression.objects.exists()
    assert _reply(manager_maria, fresh).status_code == 201


@pytest.mark.django_db
def test_a_stop_holds_for_every_customer_sharing_the_number(
    inbox_support: Any, sms_thread: Conversation, deliver_inbound: Any, manager_maria: Any
) -> None:
    """A family line: the suppression is per number, as Twilio's own opt-out is (docs/privacy.md)."""
    other_thread = sms_in(inbox_support, "hi from the family line", phone="+14155550143").conversation
    Identity.objects.filter(contact=other_thread.contact).update(address=PHONE, verified=False)
    deliver_inbound(twilio_fixture("inbound_sms", Body="STOP", **_sid("4")))

    assert all(identity.opted_out_at is not None for identity in Identity.objects.filter(address=PHONE))
    assert _reply(manager_maria, sms_thread).status_code == 409
    assert Identity.objects.filter(address=PHONE).count() == 2


@pytest.mark.django_db
def test_stop_and_start_change_only_the_number_that_sent_them(
    sms_thread: Conversation, deliver_inbound: Any
) -> None:
    deliver_inbound(twilio_fixture("inbound_sms", From="+14155550143", Body="STOP", **_sid("5")))
    assert Identity.objects.get(address="+14155550143").opted_out_at is not None
    assert Identity.objects.get(address=PHONE).opted_out_at is None

"""Erasing a customer: every copy of their data goes, the reports' counts stay, a replayed webhook recreates
nothing, and only managers and admins may do it."""

from __future__ import annotations

import base64
import json
from typing import Any

import pytest
from django.core.files.base import ContentFile
from django.core.files.storage import default_storage
from django.utils import timezone
from rest_framework.test import APIClient

from channels_adapters.models import InboundEvent
from channels_adapters.sandbox import sandbox_record, sandbox_records
from contacts.models import Contact, Identity
from conversations.models import Attachment, Conversation, Entry, RealtimeEvent
from conversations.search import entry_search
from conversations.services import conversation_set_status, note_add
from events.models import DomainEvent, WebhookAttempt, WebhookDelivery, WebhookEndpoint
from lifecycle.selectors import funnel_report
from lifecycle.selectors import period_parse as funnel_period
from privacy.models import ContactErasure
from reports.models import AuditLog
from reports.selectors import performance_report
from reports.selectors import period_parse as report_period
from tests.conftest import twilio_fixture

PHONE = "+14155550142"
PHRASE = "zebracorn-4711"


def _counts() -> tuple[Any, ...]:
    today = timezone.localdate().isoformat()
    funnel = funnel_report(period=funnel_period(start=today, end=today))
    performance = performance_report(period=report_period(start=today, end=today))
    return (
        funnel.total_now,
        [(row.stage.pk, row.now, row.entered, row.reached) for row in funnel.main + funnel.side],
        performance.overall,
        performance.heatmap,
        Contact.objects.count(),
        Entry.objects.filter(kind="message").count(),
    )


@pytest.fixture
def dana(
    sms_thread: Conversation, deliver_inbound: Any, manager_maria: Any, agent_alice: Any
) -> Conversation:
    """Dana's thread: two texts (one with the phrase), a note naming her, an image, an answer, resolved."""
    deliver_inbound(
        twilio_fixture(
            "inbound_sms", Body=f"My code is {PHRASE}", MessageSid="SM" + "b" * 32, SmsSid="SM" + "b" * 32
        )
    )
    note_add(conversation=sms_thread, author=agent_alice, body=f"Dana at {PHONE} said {PHRASE}")
    entry = sms_thread.entries.filter(body__contains=PHRASE, kind="message").get()
    attachment = Attachment.objects.create(
        entry=entry, state="stored", content_type="image/png", filename="a.png"
    )
    attachment.file.save("a.png", ContentFile(b"\x89PNG" + PHRASE.encode()))
    raw = InboundEvent.objects.filter(entry=entry).get()
    raw.raw_file.save("raw.eml", ContentFile(PHRASE.encode()))
    Contact.objects.filter(pk=sms_thread.contact_id).update(
        name="Dana Scully", attributes={"city": "Oakland"}
    )
    conversation_set_status(conversation=sms_thread, status="resolved", by=agent_alice)
    # A webhook receiver that echoed the payload back into the delivery log, and a sandboxed reply.
    endpoint = WebhookEndpoint.objects.create(
        url="https://hooks.example.com/in",
        event_types=["*"],
        secret="whsec_" + "A" * 43,
        created_by=manager_maria,
    )
    event = DomainEvent.objects.filter(contact_id=sms_thread.contact_id, type="message.received").first()
    delivery = WebhookDelivery.objects.create(endpoint=endpoint, event=event, state="succeeded")
    WebhookAttempt.objects.create(
        delivery=delivery, started_at=timezone.now(), status_code=200, response_excerpt=f"ok {PHONE}"
    )
    sandbox_record(channel="sms", prefix="SM", record={"to": PHONE, "body": f"Re: {PHRASE}"})
    sandbox_record(channel="sms", prefix="SM", record={"to": "+14155550199", "body": "someone else"})
    return sms_thread


SECRETS = (PHRASE, PHONE, PHONE.lstrip("+"), "Scully", base64.b64encode(PHONE.encode()).decode())


def _found_in_database(secrets: tuple[str, ...] = SECRETS) -> list[tuple[str, str, str]]:
    from django.db import connection

    found = []
    with connection.cursor() as cursor:
        cursor.execute(
            "SELECT table_name, column_name FROM information_schema.columns WHERE table_schema = 'public' "
            "AND data_type IN ('text', 'character varying', 'jsonb')"
        )
        for table, column in cursor.fetchall():
            for secret in secrets:
                cursor.execute(
                    f'SELECT 1 FROM "{table}" WHERE "{column}"::text ILIKE %s LIMIT 1', [f"%{secret}%"]
                )
                if cursor.fetchone():
                    found.append((table, column, secret))
    return found


def _erase(user: Any, contact_id: int, reason: str = "The customer asked (ticket 42)") -> Any:
    client = APIClient()
    client.force_login(user)
    return client.post(f"/api/v1/contacts/{contact_id}/erase/", {"reason": reason}, format="json")


@pytest.mark.django_db(transaction=False)
def test_erasing_a_customer_removes_every_copy_and_keeps_the_counts(
    fake_twilio: Any, dana: Conversation, manager_maria: Any, django_capture_on_commit_callbacks: Any
) -> None:
    contact_id = dana.contact_id
    files = [a.file.name for a in Attachment.objects.filter(entry__conversation=dana)] + [
        e.raw_file.name for e in InboundEvent.objects.exclude(raw_file="")
    ]
    assert files and all(default_storage.exists(name) for name in files)
    assert entry_search(user=manager_maria, query=PHRASE).hits
    assert RealtimeEvent.objects.filter(conversation=dana).exists()
    assert WebhookAttempt.objects.exists()
    before = _counts()
    assert {secret for _, _, secret in _found_in_database()} >= {PHRASE, PHONE, "Scully"}

    with django_capture_on_commit_callbacks(execute=True):
        response = _erase(manager_maria, contact_id, reason=f"Dana Scully ({PHONE}) asked by phone")

    assert response.status_code == 200, response.content
    assert response.json()["already"] is False
    contact = Contact.objects.get(pk=contact_id)
    assert (contact.name, contact.attributes) == ("", {})
    assert not Identity.objects.filter(contact_id=contact_id).exists()
    assert not Identity.objects.filter(address=PHONE).exists()
    entries = Entry.objects.filter(conversation=dana)
    assert entries.exists()
    assert not entries.exclude(body="").exclude(kind="event").exists()
    for entry in entries:
        assert PHRASE not in json.dumps([entry.body, entry.subject, entry.data, entry.from_address])
        assert PHONE not in json.dumps([entry.body, entry.data, entry.from_address, entry.to_address])
    assert not entry_search(user=manager_maria, query=PHRASE).hits
    assert not Attachment.objects.filter(entry__conversation=dana).exists()
    assert not any(default_storage.exists(name) for name in files)
    # Raw payloads are empty, yet their keys stay.
    raws = InboundEvent.objects.filter(kind="twilio_messaging")
    assert raws.count() == 2
    assert all(raw.payload == {} and not raw.raw_file for raw in raws)
    # The log keeps one frame, with nothing in it, that tells agents watching to redraw the thread.
    assert list(RealtimeEvent.objects.filter(conversation=dana).values_list("type", "payload")) == [
        ("contact.erased", {})
    ]
    assert not WebhookAttempt.objects.exists()
    assert [record["body"] for record in sandbox_records()] == ["someone else"]
    for event in DomainEvent.objects.filter(contact_id=contact_id).exclude(type="contact.erased"):
        assert event.payload == {}, event.type
    erased = DomainEvent.objects.get(type="contact.erased")
    assert erased.payload == {"by": manager_maria.pk}
    assert erased.contact_id == contact_id
    # The whole database: no text column anywhere still holds the phone number, the name or the phrase.
    assert _found_in_database() == []
    # The audit trail names who erased, and nothing of the customer.
    audit = AuditLog.objects.get(action=AuditLog.ERASE)
    assert audit.actor == manager_maria
    assert PHONE not in json.dumps(audit.data) and "Scully" not in audit.description
    assert ContactErasure.objects.get(contact_id=contact_id).reason == "[erased] ([erased]) asked by phone"
    # Twilio was asked to delete its copies of both texts.
    assert set(fake_twilio.state.deleted) == {"SM1f0e8ae6ade43cb3c0ce4525424e404f", "SM" + "b" * 32}
    # The reports count the same.
    assert _counts() == before


@pytest.mark.django_db
def test_a_replayed_webhook_after_erasure_recreates_nothing(
    dana: Conversation, manager_maria: Any, deliver_inbound: Any
) -> None:
    assert _erase(manager_maria, dana.contact_id).status_code == 200
    entries, contacts = Entry.objects.count(), Contact.objects.count()

    deliver_inbound(twilio_fixture("inbound_sms"))

    assert (Entry.objects.count(), Contact.objects.count()) == (entries, contacts)
    assert not Identity.objects.filter(address=PHONE).exists()


@pytest.mark.django_db
def test_erasing_twice_is_a_no_op_that_says_so(dana: Conversation, manager_maria: Any) -> None:
    assert _erase(manager_maria, dana.contact_id).json()["already"] is False
    again = _erase(manager_maria, dana.contact_id)
    assert again.status_code == 200
    assert again.json()["already"] is True
    assert DomainEvent.objects.filter(type="contact.erased").count() == 1


@pytest.mark.django_db
def test_an_agent_is_refused_and_nothing_changes(dana: Conversation, agent_alice: Any) -> None:
    response = _erase(agent_alice, dana.contact_id)
    assert response.status_code == 403
    assert Identity.objects.filter(address=PHONE).exists()
    assert Contact.objects.get(pk=dana.contact_id).name == "Dana Scully"


@pytest.mark.django_db
def test_a_reason_is_required(dana: Conversation, manager_maria: Any) -> None:
    assert _erase(manager_maria, dana.contact_id, reason=" ").status_code == 400
    assert Identity.objects.filter(address=PHONE).exists()


@pytest.mark.django_db
def test_another_customer_sharing_nothing_keeps_everything(
    dana: Conversation, manager_maria: Any, deliver_inbound: Any
) -> None:
    deliver_inbound(
        twilio_fixture("inbound_sms", From="+14155550143", MessageSid="SM" + "c" * 32, SmsSid="SM" + "c" * 32)
    )
    assert _erase(manager_maria, dana.contact_id).status_code == 200
    other = Conversation.objects.get(contact__identities__address="+14155550143")
    assert other.entries.filter(body__contains="blue trail runner").exists()
    assert InboundEvent.objects.exclude(payload={}).count() == 1


@pytest.mark.django_db
def test_a_message_stored_but_not_yet_processed_is_erased_too(
    dana: Conversation, manager_maria: Any, twilio_post: Any, django_capture_on_commit_callbacks: Any
) -> None:
    from channels_adapters.inbound import inbound_event_process

    late = twilio_fixture(
        "inbound_sms", Body=f"Also {PHRASE}", MessageSid="SM" + "d" * 32, SmsSid="SM" + "d" * 32
    )
    assert twilio_post("/webhooks/twilio/messaging/", late).status_code == 200  # stored; its task not run
    pending = InboundEvent.objects.get(state=InboundEvent.PENDING)
    entries = Entry.objects.count()

    assert _erase(manager_maria, dana.contact_id).status_code == 200
    pending.refresh_from_db()
    assert (pending.payload, pending.state) == ({}, InboundEvent.DONE)
    with django_capture_on_commit_callbacks(execute=True):
        inbound_event_process(event_id=pending.pk)
    assert Entry.objects.count() == entries
    assert not Identity.objects.filter(address=PHONE).exists()


@pytest.mark.django_db
def test_a_new_message_after_erasure_starts_a_new_contact(
    dana: Conversation, manager_maria: Any, deliver_inbound: Any
) -> None:
    assert _erase(manager_maria, dana.contact_id).status_code == 200

    deliver_inbound(
        twilio_fixture("inbound_sms", Body="Me again", MessageSid="SM" + "f" * 32, SmsSid="SM" + "f" * 32)
    )

    fresh = Conversation.objects.get(contact__identities__address=PHONE)
    assert fresh.pk != dana.pk and fresh.contact_id != dana.contact_id
    assert [e.body for e in fresh.entries.filter(kind="message")] == ["Me again"]


@pytest.mark.django_db
def test_a_customer_merged_into_the_erased_one_goes_too(
    dana: Conversation, manager_maria: Any, deliver_inbound: Any, django_capture_on_commit_callbacks: Any
) -> None:
    from conversations.customers import contact_merge

    deliver_inbound(
        twilio_fixture(
            "inbound_sms",
            From="+14155550143",
            Body=f"New phone, {PHRASE}",
            MessageSid="SM" + "9" * 32,
            SmsSid="SM" + "9" * 32,
        )
    )
    other = Conversation.objects.get(contact__identities__address="+14155550143")
    Contact.objects.filter(pk=other.contact_id).update(name="Dana S. Scully")
    contact_merge(source=other.contact, into=dana.contact, by=manager_maria)

    with django_capture_on_commit_callbacks(execute=True):
        assert _erase(manager_maria, dana.contact_id).status_code == 200

    assert _found_in_database((PHRASE, "+14155550143", "Scully")) == []

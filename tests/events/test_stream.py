"""The domain event stream: each change writes its typed event in its own transaction, numbered per thread,
with a payload its schema accepts; after commit every consumer gets it, at least once, even when the process
that wrote it died before it could dispatch."""

from __future__ import annotations

from collections.abc import Sequence
from datetime import timedelta
from pathlib import Path
from typing import Any

import jsonschema
import pytest
from django.db import transaction
from django.utils import timezone

from channels_adapters.outbound import entry_deliver, message_send
from contacts.services import contact_resolve
from conversations.customers import contact_merge, contact_unmerge, contact_update
from conversations.models import Conversation, Entry
from conversations.services import conversation_assign, conversation_set_status, note_add
from events import services as events_services
from events.catalog import EVENT_TYPES
from events.models import DomainEvent
from events.services import event_publish, events_dispatch
from lifecycle.services import touchpoint_record
from tests.channels_adapters.voice.conftest import CALL_SID, CUSTOMER, voice_post
from tests.conftest import thread_of, twilio_fixture

pytestmark = pytest.mark.django_db
__all__ = ["voice_post"]  # a fixture

DOCS = Path(__file__).resolve().parents[2] / "docs" / "events.md"


def published(conversation: Conversation | None = None) -> list[str]:
    events = DomainEvent.objects.order_by("id")
    if conversation is not None:
        events = events.filter(conversation_id=conversation.pk)
    return list(events.values_list("type", flat=True))


def assert_valid(events: Sequence[DomainEvent]) -> None:
    for event in events:
        jsonschema.validate(event.payload, EVENT_TYPES[event.type].schema)


def test_a_customers_first_text_and_an_agents_work_on_it_are_published_in_order(
    deliver_inbound, inbox_support, agent_alice, fake_twilio
) -> None:
    deliver_inbound(twilio_fixture("inbound_sms"))
    thread = thread_of("+14155550142")
    assert published() == [
        "contact.created",
        "conversation.opened",
        "message.received",
        "stage.changed",  # the first message makes a lead
    ]
    received = DomainEvent.objects.get(type="message.received")
    assert received.payload["body"] == "Hi, is the blue trail runner back in size 9?"
    assert received.payload["channel"] == "sms" and received.contact_id == thread.contact_id

    note_add(conversation=thread, author=agent_alice, body="VIP, be quick")
    conversation_assign(conversation=thread, assignee=agent_alice, by=agent_alice)
    reply = message_send(conversation=thread, body="Yes, it is!", author=agent_alice, channel="sms")
    entry_deliver(entry_id=reply.pk)  # the sandbox takes it
    conversation_set_status(conversation=thread, status="resolved", by=agent_alice)
    contact_update(contact=thread.contact, by=agent_alice, name="Dana Whitaker")
    touchpoint_record(contact=thread.contact, type="purchase", client_key="order-1")

    assert published(thread)[3:] == [
        "note.added",
        "conversation.assigned",
        "conversation.replied",  # written: the agent answered
        "message.sent",  # the provider took it
        "conversation.status_changed",
        "conversation.resolved",
        "contact.updated",
        "touchpoint.recorded",
        "stage.changed",  # a purchase makes a customer
    ]
    events = list(DomainEvent.objects.filter(conversation_id=thread.pk).order_by("id"))
    assert [e.thread_seq for e in events] == list(range(1, len(events) + 1))
    assert len({e.uid for e in events}) == len(events) and all(e.uid.startswith("evt_") for e in events)
    assert_valid(DomainEvent.objects.all())
    assert DomainEvent.objects.get(type="contact.updated").payload["fields"] == ["name"]
    assert DomainEvent.objects.get(type="conversation.assigned").payload["assignee"] == agent_alice.pk
    replied = DomainEvent.objects.get(type="conversation.replied").payload
    assert replied["first_response"] is True and replied["author"] == agent_alice.pk
    assert replied["waited_s"] is not None and replied["waited_s"] >= 0


def test_a_change_that_rolls_back_publishes_nothing(inbox_support, agent_alice, sms_thread) -> None:
    before = DomainEvent.objects.count()
    with pytest.raises(RuntimeError), transaction.atomic():
        note_add(conversation=sms_thread, author=agent_alice, body="never happened")
        raise RuntimeError
    assert DomainEvent.objects.count() == before


def test_a_missed_call_then_its_voicemail_are_published_once_each(voice_post, inbox_support) -> None:
    voice_post("/webhooks/twilio/voice/", twilio_fixture("voice_incoming"))
    voice_post("/webhooks/twilio/voice/status/", twilio_fixture("voice_status_completed"))
    voice_post("/webhooks/twilio/voice/status/", twilio_fixture("voice_status_completed"))  # a retry
    thread = thread_of(CUSTOMER)
    assert published(thread).count("call.missed") == 1
    call = DomainEvent.objects.get(type="call.missed")
    assert call.payload["entry"] == Entry.objects.get(provider_id=CALL_SID).pk
    assert_valid([call])


def test_merging_and_unmerging_customers_is_published_on_the_surviving_thread(
    inbox_support, agent_alice
) -> None:
    dana, _ = contact_resolve(kind="phone", address="+14155550142")
    twin, _ = contact_resolve(kind="email", address="dana@example.com")
    contact_merge(source=twin, into=dana, by=agent_alice)
    twin.refresh_from_db()
    contact_unmerge(merged=twin, by=agent_alice)
    merged, unmerged = (
        DomainEvent.objects.get(type="contact.merged"),
        DomainEvent.objects.get(type="contact.unmerged"),
    )
    assert (merged.contact_id, merged.payload["merged"]) == (dana.pk, twin.pk)
    assert (unmerged.contact_id, unmerged.payload["restored"]) == (dana.pk, twin.pk)
    assert_valid([merged, unmerged])


def test_an_unknown_event_type_is_refused_where_it_is_written() -> None:
    with pytest.raises(ValueError, match="catalog"):
        event_publish(type="conversation.exploded", conversation_id=None, contact_id=None, payload={})


# --- after commit: at least once, a failing consumer stops nobody ------------------------------------------
@pytest.fixture
def consumers(monkeypatch: pytest.MonkeyPatch) -> dict[str, list[str]]:
    taken: dict[str, list[str]] = {"good": [], "flaky": []}

    def good(events: Sequence[DomainEvent]) -> None:
        taken["good"] += [e.uid for e in events]

    def flaky(events: Sequence[DomainEvent]) -> None:
        if any(e.payload.get("poison") for e in events):
            raise RuntimeError("cannot take this one")
        taken["flaky"] += [e.uid for e in events]

    monkeypatch.setattr(events_services, "CONSUMERS", {"good": good, "flaky": flaky})
    return taken


def _resolved(n: int, **extra: Any) -> None:
    with transaction.atomic():
        event_publish(
            type="leak.plugged", conversation_id=None, contact_id=None, payload={"leak": f"l{n}", **extra}
        )


def test_events_written_by_a_process_that_died_before_dispatching_are_dispatched_by_the_sweep(
    consumers, settings
) -> None:
    # No on-commit hook runs here: exactly what a process killed right after its commit leaves behind.
    _resolved(1)
    _resolved(2)
    assert DomainEvent.objects.filter(dispatched_at__isnull=True).count() == 2
    settings.DOMAIN_EVENTS_SWEEP_AFTER_S = 30
    assert events_dispatch(older_than_s=30) == 0  # too young: the committing process may still dispatch
    DomainEvent.objects.update(occurred_at=timezone.now() - timedelta(seconds=31))
    from events.tasks import sweep_domain_events

    assert sweep_domain_events.apply().get() == 2
    assert len(consumers["good"]) == 2 and consumers["good"] == consumers["flaky"]
    assert events_dispatch() == 0  # once dispatched, not again


def test_a_consumer_that_cannot_take_one_event_holds_back_only_that_one(consumers) -> None:
    _resolved(1)
    _resolved(2, poison=True)
    _resolved(3)
    assert events_dispatch() == 2
    assert len(consumers["good"]) == 3  # the healthy consumer took the batch once
    assert len(consumers["flaky"]) == 2
    poisoned = DomainEvent.objects.get(payload__poison=True)
    assert poisoned.dispatched_at is None  # offered again on the next round
    assert events_dispatch() == 0


def test_one_dispatch_runs_after_the_commit_however_many_events_it_wrote(
    consumers, django_capture_on_commit_callbacks
) -> None:
    with django_capture_on_commit_callbacks(execute=True) as callbacks, transaction.atomic():
        for n in range(5):
            event_publish(
                type="leak.plugged", conversation_id=None, contact_id=None, payload={"leak": str(n)}
            )
    assert len(callbacks) == 1
    assert len(consumers["good"]) == 5
    assert not DomainEvent.objects.filter(dispatched_at__isnull=True).exists()


# --- the catalogue is documented ------------------------------------------------------------------------
def test_docs_events_md_describes_every_event_and_each_payload_field() -> None:
    text = DOCS.read_text()
    for name, event_type in EVENT_TYPES.items():
        assert f"### `{name}`" in text, name
        section = text.split(f"### `{name}`", 1)[1].split("\n### ", 1)[0]
        for field in event_type.properties:
            assert f"`{field}`" in section, (name, field)


def test_admins_see_the_events_no_consumer_has_taken(admin_client) -> None:
    _resolved(1)  # no commit hook runs here: it stays undispatched, as behind a consumer that keeps failing
    waiting = DomainEvent.objects.get()
    _resolved(2)
    DomainEvent.objects.exclude(pk=waiting.pk).update(dispatched_at=timezone.now())

    page = admin_client.get("/admin/events/domainevent/?dispatch=waiting").content.decode()

    assert waiting.uid in page
    assert DomainEvent.objects.exclude(pk=waiting.pk).get().uid not in page

"""Subscribers: what must stay consistent with a change reacts to its event inside the change's transaction.
The app that makes the change does not know them; an error in one undoes the change, as one transaction."""

from __future__ import annotations

from typing import Any

import pytest

from conversations.models import Conversation, Entry
from conversations.services import note_add
from events import services as events_services
from events.models import DomainEvent
from events.services import Published, subscribe

pytestmark = pytest.mark.django_db


def test_a_subscriber_hears_the_event_in_the_transaction_with_the_rows_the_publisher_holds(
    monkeypatch: pytest.MonkeyPatch, sms_thread: Conversation, agent_alice: Any
) -> None:
    heard: list[Published] = []
    monkeypatch.setitem(events_services.SUBSCRIBERS, "note.added", [])
    subscribe("note.added", heard.append)
    subscribe("note.added", heard.append)  # asked twice, registered once

    note = note_add(conversation=sms_thread, author=agent_alice, body="VIP, be quick")

    [event] = heard
    assert event.type == "note.added" and event.conversation_id == sms_thread.pk
    assert event.payload["body"] == "VIP, be quick"
    assert event.rows["entry"] == note  # the row itself: a subscriber reads nothing again


def test_a_subscriber_that_fails_undoes_the_change_and_its_event(
    monkeypatch: pytest.MonkeyPatch, sms_thread: Conversation, agent_alice: Any
) -> None:
    def broken(event: Published) -> None:
        raise RuntimeError("the report facts could not be written")

    monkeypatch.setitem(events_services.SUBSCRIBERS, "note.added", [broken])
    notes, events = Entry.objects.filter(kind="note").count(), DomainEvent.objects.count()

    with pytest.raises(RuntimeError):
        note_add(conversation=sms_thread, author=agent_alice, body="never happened")

    assert Entry.objects.filter(kind="note").count() == notes
    assert DomainEvent.objects.count() == events


def test_an_unknown_event_type_cannot_be_subscribed_to() -> None:
    with pytest.raises(ValueError, match="catalog"):
        subscribe("message.recieved", lambda event: None)


def test_the_lifecycle_and_the_reports_subscribe_to_what_a_customer_says() -> None:
    """The apps register themselves at start (the sequences too); the adapters that record a customer's message
    import none of them."""
    names = {f"{s.__module__}.{s.__name__}" for s in events_services.SUBSCRIBERS.get("message.received", [])}
    assert names == {
        "lifecycle.subscribers.customer_spoke",
        "lifecycle.subscribers.score_customer_spoke",  # the lead score
        "lifecycle.subscribers.targets_customer_spoke",  # the response targets start
        "reports.subscribers.customer_spoke",
        "sequences.subscribers.customer_wrote",  # a reply ends the customer's sequences
    }
    resolved = {f"{s.__module__}.{s.__name__}" for s in events_services.SUBSCRIBERS["conversation.resolved"]}
    assert resolved == {"reports.subscribers.resolved"}

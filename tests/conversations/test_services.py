"""The lifetime thread's bookkeeping: one thread per contact, episodes, events with who made them."""

from __future__ import annotations

import pytest
from django.db import IntegrityError

from config.errors import ValidationError
from conversations.models import Conversation, Entry, Episode
from conversations.services import (
    conversation_assign,
    conversation_get_or_create,
    conversation_set_status,
    entry_append,
    note_add,
)
from tests.conftest import sms_in


@pytest.fixture
def thread(inbox_support):
    return sms_in(inbox_support).conversation


@pytest.mark.django_db
def test_exactly_one_thread_per_contact(thread) -> None:
    assert conversation_get_or_create(contact=thread.contact).pk == thread.pk
    with pytest.raises(IntegrityError):
        Conversation.objects.create(contact=thread.contact, last_activity_at=thread.last_activity_at)


@pytest.mark.django_db
def test_status_changes_are_events_with_who_made_them_and_close_episodes(thread, agent_alice) -> None:
    conversation_set_status(conversation=thread, status="pending", by=agent_alice)
    conversation_set_status(conversation=thread, status="resolved", by=agent_alice)
    events = list(Entry.objects.filter(event_type="conversation.status_changed").order_by("id"))
    assert [e.data["to"] for e in events] == ["pending", "resolved"]
    assert all(e.author == agent_alice for e in events)
    assert events[-1].body == "Alice resolved the conversation"
    episode = Episode.objects.get(conversation=thread)
    assert episode.resolved_at is not None
    assert episode.resolution_seconds is not None
    conversation_set_status(conversation=thread, status="open", by=agent_alice)
    assert Episode.objects.filter(conversation=thread).count() == 2


@pytest.mark.django_db
def test_setting_the_same_status_twice_records_nothing(thread, agent_alice) -> None:
    conversation_set_status(conversation=thread, status="open", by=agent_alice)
    assert not Entry.objects.filter(event_type="conversation.status_changed").exists()


@pytest.mark.django_db
def test_an_unknown_status_is_refused(thread, agent_alice) -> None:
    with pytest.raises(ValidationError):
        conversation_set_status(conversation=thread, status="snoozed-forever", by=agent_alice)


@pytest.mark.django_db
def test_assignment_is_an_event_and_needs_an_agent_who_can_see_the_thread(
    thread, agent_alice, agent_bob
) -> None:
    conversation_assign(conversation=thread, assignee=agent_alice, by=agent_alice)
    thread.refresh_from_db()
    assert thread.assignee == agent_alice
    event = Entry.objects.get(event_type="conversation.assigned")
    assert "took the conversation" in event.body
    assert Episode.objects.get(conversation=thread).assignee == agent_alice
    with pytest.raises(ValidationError, match="cannot see"):
        conversation_assign(conversation=thread, assignee=agent_bob, by=agent_alice)


@pytest.mark.django_db
def test_first_response_time_is_measured_from_the_first_inbound(thread, agent_alice, inbox_support) -> None:
    entry_append(
        conversation=thread,
        kind="message",
        direction="outbound",
        channel="sms",
        inbox=inbox_support,
        body="Hi!",
        author=agent_alice,
        delivery_status="queued",
    )
    episode = Episode.objects.get(conversation=thread)
    assert episode.first_response_seconds is not None and episode.first_response_seconds >= 0
    thread.refresh_from_db()
    assert not thread.is_unanswered


@pytest.mark.django_db
def test_a_note_does_not_answer_the_customer(thread, agent_alice) -> None:
    note_add(conversation=thread, author=agent_alice, body="Checking stock with the warehouse")
    thread.refresh_from_db()
    assert thread.is_unanswered
    assert Episode.objects.get(conversation=thread).first_response_at is None


@pytest.mark.django_db
def test_a_thread_belongs_to_every_inbox_its_entries_came_through(thread, inbox_sales) -> None:
    sms_in(inbox_sales, "Also a sales question", conversation=thread)
    assert set(thread.inboxes.values_list("name", flat=True)) == {"Support line", "Sales line"}


@pytest.mark.django_db
def test_every_logged_event_bumps_the_threads_version_and_frames_carry_it(thread, agent_alice) -> None:
    from conversations.realtime import frames_build

    before = Conversation.objects.get(pk=thread.pk).version
    conversation_set_status(conversation=thread, status="pending", by=agent_alice)
    after = Conversation.objects.get(pk=thread.pk).version
    assert after > before
    row, thread_frames = frames_build(seq=1, type="t", conversation_id=thread.pk, entry_ids=[])
    assert f'data-version="{after}"' in row["row"]
    assert f'data-version="{after}"' in thread_frames[0]["header"]

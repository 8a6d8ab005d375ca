"""A team's working day on one shared inbox: work states and snooze, who owns a thread, mentions, blocking,
deactivation. Services against PostgreSQL; what an agent would notice (status, assignee, events, views)."""

from __future__ import annotations

import asyncio
from datetime import timedelta
from typing import Any

import pytest
from asgiref.sync import async_to_sync
from channels.layers import get_channel_layer
from django.conf import settings
from django.utils import timezone
from rest_framework.test import APIClient

from config.errors import PermissionDenied, ValidationError
from conversations.assignment import (
    agent_availability_set,
    agent_deactivate,
    assignment_handover_absent,
    conversation_assign_team,
    conversation_autoassign,
)
from conversations.models import AgentProfile, Conversation, Entry, Notification
from conversations.notifications import notifications_mark_read
from conversations.selectors import conversation_list, notification_unread_count
from conversations.services import (
    conversation_assign,
    conversation_block,
    conversation_set_status,
    note_add,
)
from conversations.tasks import hand_back_absent_agents_threads, wake_snoozed_conversations
from tests import factories
from tests.conftest import run_concurrently, sms_in, thread_of, twilio_fixture


@pytest.fixture
def channel_listener() -> Any:
    """Join a group on the channel layer; the returned function gives the frames heard so far."""
    layer = get_channel_layer()

    def listen(group: str) -> Any:
        name = async_to_sync(layer.new_channel)()
        async_to_sync(layer.group_add)(group, name)

        async def receive() -> list[dict[str, Any]]:
            heard = []
            while True:
                try:
                    heard.append((await asyncio.wait_for(layer.receive(name), timeout=1))["frame"])
                except TimeoutError:
                    return heard

        return lambda: async_to_sync(receive)()

    return listen


def events(conversation: Conversation) -> list[str]:
    """The thread's events but the lifecycle's (a first message makes the customer a lead)."""
    return list(
        Entry.objects.filter(conversation=conversation, kind=Entry.EVENT)
        .exclude(event_type="contact.stage_changed")
        .order_by("created_at", "id")
        .values_list("body", flat=True)
    )


# --- work states --------------------------------------------------------------------------------------
@pytest.mark.django_db
def test_snoozing_into_the_past_is_refused_with_a_reason_and_changes_nothing(
    agent_alice, inbox_support
) -> None:
    conversation = sms_in(inbox_support, "Where is my order?").conversation
    with pytest.raises(ValidationError, match="already passed"):
        conversation_set_status(
            conversation=conversation,
            status="snoozed",
            by=agent_alice,
            snoozed_until=timezone.now() - timedelta(minutes=5),
        )
    with pytest.raises(ValidationError, match="until when"):
        conversation_set_status(conversation=conversation, status="snoozed", by=agent_alice)
    conversation.refresh_from_db()
    assert (conversation.status, conversation.snoozed_until) == ("open", None)
    assert events(conversation) == []


@pytest.mark.django_db
def test_a_snoozed_thread_leaves_open_and_wakes_by_itself_through_beat(agent_alice, inbox_support) -> None:
    conversation = sms_in(inbox_support, "Call me back next week").conversation
    until = timezone.now() + timedelta(hours=2)
    conversation_set_status(conversation=conversation, status="snoozed", by=agent_alice, snoozed_until=until)
    assert conversation.status == "snoozed" and conversation.snoozed_until == until
    assert [c.pk for c in conversation_list(user=agent_alice, status="snoozed")] == [conversation.pk]
    assert conversation_list(user=agent_alice, status="open") == []
    assert "Alice snoozed the conversation until" in events(conversation)[-1]

    assert wake_snoozed_conversations.delay().get() == 0  # not yet
    Conversation.objects.filter(pk=conversation.pk).update(
        snoozed_until=timezone.now() - timedelta(seconds=1)
    )
    assert wake_snoozed_conversations.delay().get() == 1
    conversation.refresh_from_db()
    assert (conversation.status, conversation.snoozed_until) == ("open", None)
    assert events(conversation)[-1] == "The hub reopened the conversation (the snooze ended)"
    assert [c.pk for c in conversation_list(user=agent_alice, status="open")] == [conversation.pk]
    # Beat runs it (and so does the embedded mode, which runs the same schedule).
    tasks = {spec["task"] for spec in settings.CELERY_BEAT_SCHEDULE.values()}
    assert "conversations.tasks.wake_snoozed_conversations" in tasks


@pytest.mark.django_db
def test_the_customer_writing_wakes_a_snoozed_thread_and_reopens_a_resolved_one(
    deliver_inbound, agent_alice, inbox_support
) -> None:
    deliver_inbound(twilio_fixture("inbound_sms"))
    conversation = thread_of("+14155550142")
    conversation_set_status(
        conversation=conversation,
        status="snoozed",
        by=agent_alice,
        snoozed_until=timezone.now() + timedelta(days=3),
    )
    deliver_inbound(twilio_fixture("inbound_sms", MessageSid="SM" + "e1" * 16, SmsSid="SM" + "e1" * 16))
    conversation.refresh_from_db()
    assert (conversation.status, conversation.snoozed_until) == ("open", None)
    assert "reopened the conversation (new message from the customer)" in events(conversation)[-1]

    conversation_set_status(conversation=conversation, status="resolved", by=agent_alice)
    deliver_inbound(twilio_fixture("inbound_sms", MessageSid="SM" + "e2" * 16, SmsSid="SM" + "e2" * 16))
    conversation.refresh_from_db()
    assert conversation.status == "open"
    assert conversation.waiting_since is not None


@pytest.mark.django_db
def test_pending_waits_for_the_customer_with_an_event_saying_who(agent_alice, inbox_support) -> None:
    conversation = sms_in(inbox_support, "I'll send the photo tonight").conversation
    conversation_set_status(conversation=conversation, status="pending", by=agent_alice)
    assert events(conversation)[-1] == "Alice marked the conversation as pending (waiting for the customer)"
    assert Entry.objects.filter(conversation=conversation, kind="event").last().author == agent_alice


# --- who owns it --------------------------------------------------------------------------------------
@pytest.mark.django_db
def test_assigning_to_an_agent_who_cannot_see_the_thread_is_refused_with_a_reason(
    agent_alice, agent_bob, inbox_support, team_sales
) -> None:
    conversation = sms_in(inbox_support, "Where is my order?").conversation
    with pytest.raises(ValidationError, match="Bob cannot see this conversation"):
        conversation_assign(conversation=conversation, assignee=agent_bob, by=agent_alice)
    with pytest.raises(ValidationError, match="Sales holds none of this conversation's inboxes"):
        conversation_assign_team(conversation=conversation, team=team_sales, by=agent_alice)
    conversation.refresh_from_db()
    assert (conversation.assignee, conversation.team) == (None, None)


def _support_team_with(*names: str, inbox_support: Any, max_open: int = 10) -> list[Any]:
    team = inbox_support.team
    team.auto_assign = True
    team.save()
    agents = [factories.agent(name, teams=(team,)) for name in names]
    AgentProfile.objects.filter(user__in=agents).update(max_open=max_open)
    return agents


@pytest.mark.django_db
def test_new_threads_go_round_robin_to_available_agents_under_their_limit(
    deliver_inbound, inbox_support
) -> None:
    sam, tia = _support_team_with("agent_sam", "agent_tia", inbox_support=inbox_support, max_open=2)
    owners = []
    for n in range(5):
        sid = f"SM{n:032d}"
        deliver_inbound(twilio_fixture("inbound_sms", MessageSid=sid, SmsSid=sid, From=f"+1415555030{n}"))
        owners.append(thread_of(f"+1415555030{n}").assignee)
    # Alternating, two each, and the fifth waits in the queue: both are at their limit.
    assert owners == [sam, tia, sam, tia, None]
    fifth = thread_of("+14155550304")
    assert fifth.team == inbox_support.team
    assert "assigned the conversation to Sam (round-robin)" in events(thread_of("+14155550300"))[-1]

    # Tia resolves one: the next newcomer is hers, as Sam is still full.
    conversation_set_status(conversation=thread_of("+14155550301"), status="resolved", by=tia)
    deliver_inbound(twilio_fixture("inbound_sms", MessageSid="SM" + "9" * 32, From="+14155550399"))
    assert thread_of("+14155550399").assignee == tia


@pytest.mark.django_db
def test_auto_assignment_skips_agents_who_are_away(deliver_inbound, inbox_support) -> None:
    sam, tia = _support_team_with("agent_sam", "agent_tia", inbox_support=inbox_support)
    agent_availability_set(profile=sam.agent, availability="away")
    for n in range(2):
        sid = f"SM{n:032d}"
        deliver_inbound(twilio_fixture("inbound_sms", MessageSid=sid, From=f"+1415555030{n}"))
    assert [thread_of(f"+1415555030{n}").assignee for n in range(2)] == [tia, tia]
    agent_availability_set(profile=tia.agent, availability="offline")
    deliver_inbound(twilio_fixture("inbound_sms", MessageSid="SM" + "7" * 32, From="+14155550377"))
    assert thread_of("+14155550377").assignee is None  # nobody available: it waits in the queue
    # Sam comes back: the waiting thread is his at once.
    agent_availability_set(profile=sam.agent, availability="online")
    assert thread_of("+14155550377").assignee == sam


@pytest.mark.django_db(transaction=True)
def test_concurrent_auto_assignments_never_exceed_an_agents_limit(inbox_support) -> None:
    [sam] = _support_team_with("agent_sam", inbox_support=inbox_support, max_open=2)
    threads = [sms_in(inbox_support, "hi", phone=f"+1415555040{n}").conversation for n in range(6)]
    pending = list(threads)

    def take_one() -> Any:
        return conversation_autoassign(conversation=pending.pop())

    results = run_concurrently(take_one, times=6)
    assert sorted(r is not None for r in results) == [False] * 4 + [True] * 2
    assert Conversation.objects.filter(assignee=sam, status="open").count() == 2


@pytest.mark.django_db
def test_an_agent_away_too_long_hands_their_threads_back_to_the_queue(inbox_support) -> None:
    sam, tia = _support_team_with("agent_sam", "agent_tia", inbox_support=inbox_support)
    conversation = sms_in(inbox_support, "Where is my order?").conversation
    conversation_assign(conversation=conversation, assignee=sam, by=sam)
    agent_availability_set(profile=sam.agent, availability="away")
    assert assignment_handover_absent() == 0  # away for a moment only
    AgentProfile.objects.filter(user=sam).update(
        availability_changed_at=timezone.now() - timedelta(seconds=settings.ASSIGNMENT_HANDOVER_AFTER_S + 1)
    )
    assert hand_back_absent_agents_threads.delay().get() == 1
    conversation.refresh_from_db()
    assert conversation.assignee == tia  # back to the Support queue, and on to who is online
    story = events(conversation)
    assert "went back to the Support queue (Sam has been away for more than 15 min)" in story[-2]
    assert "assigned the conversation to Tia (round-robin)" in story[-1]


@pytest.mark.django_db
def test_deactivating_an_agent_hands_their_open_threads_back_with_events(
    admin_ada, agent_alice, inbox_support
) -> None:
    conversation = sms_in(inbox_support, "Where is my order?").conversation
    conversation_assign(conversation=conversation, assignee=agent_alice, by=agent_alice)
    with pytest.raises(PermissionDenied):
        agent_deactivate(agent=admin_ada, by=agent_alice)
    agent_deactivate(agent=agent_alice, by=admin_ada)
    agent_alice.refresh_from_db()
    conversation.refresh_from_db()
    assert not agent_alice.is_active and agent_alice.agent.availability == "offline"
    assert conversation.assignee is None
    assert "went back to the Support queue (Ada deactivated Alice)" in events(conversation)[-1]
    with pytest.raises(ValidationError, match="deactivated"):
        conversation_assign(conversation=conversation, assignee=agent_alice, by=admin_ada)


# --- mentions and notifications -----------------------------------------------------------------------
@pytest.mark.django_db
def test_a_mention_of_an_agent_who_cannot_see_the_thread_is_refused_and_no_note_is_added(
    agent_alice, agent_bob, inbox_support
) -> None:
    conversation = sms_in(inbox_support, "Where is my order?").conversation
    with pytest.raises(ValidationError, match="@agent_bob cannot see this conversation"):
        note_add(conversation=conversation, author=agent_alice, body="@agent_bob do you know this one?")
    with pytest.raises(ValidationError, match="No agent is called @nobody"):
        note_add(conversation=conversation, author=agent_alice, body="ask @nobody")
    assert not Entry.objects.filter(conversation=conversation, kind="note").exists()
    assert not Notification.objects.exists()


@pytest.mark.django_db
def test_a_mention_notifies_the_agent_live_and_in_their_list(
    agent_alice, team_support, inbox_support, django_capture_on_commit_callbacks, channel_listener
) -> None:
    carl = factories.agent("agent_carl", teams=(team_support,))
    conversation = sms_in(inbox_support, "Where is my order?").conversation
    listen = channel_listener(f"agent.{carl.pk}")
    with django_capture_on_commit_callbacks(execute=True):
        note = note_add(
            conversation=conversation,
            author=agent_alice,
            body="@agent_carl can you check order 4471? (mail me@shop.example, not @ anyone)",
        )
    [notification] = Notification.objects.filter(recipient=carl)
    assert (notification.entry, notification.actor, notification.read_at) == (note, agent_alice, None)
    assert notification_unread_count(carl) == 1
    [frame] = listen()
    assert frame["type"] == "notification.created"
    assert frame["payload"]["text"].startswith("Alice mentioned you: @agent_carl can you check order 4471?")
    assert frame["payload"]["unread"] == 1
    assert [c.pk for c in conversation_list(user=carl, view="mentions", status="all")] == [conversation.pk]
    assert conversation_list(user=agent_alice, view="mentions", status="all") == []
    assert notifications_mark_read(user=carl) == 1
    assert notification_unread_count(carl) == 0


# --- blocking -----------------------------------------------------------------------------------------
@pytest.mark.django_db
def test_a_blocked_senders_messages_are_recorded_hidden_and_never_reopen(
    deliver_inbound, agent_alice, inbox_support
) -> None:
    deliver_inbound(twilio_fixture("inbound_sms"))
    conversation = thread_of("+14155550142")
    conversation_set_status(conversation=conversation, status="resolved", by=agent_alice)
    conversation_block(conversation=conversation, blocked=True, by=agent_alice)
    deliver_inbound(twilio_fixture("inbound_sms", MessageSid="SM" + "b1" * 16, Body="BUY CHEAP WATCHES"))
    conversation.refresh_from_db()
    assert Entry.objects.filter(conversation=conversation, body="BUY CHEAP WATCHES").exists()
    assert conversation.status == "resolved" and conversation.waiting_since is None
    for status in ("open", "resolved", "all"):
        assert conversation_list(user=agent_alice, status=status) == []
        assert conversation_list(user=agent_alice, status=status, inbox_id=inbox_support.pk) == []
    assert "Alice blocked this sender" in events(conversation)[-1]

    conversation_block(conversation=conversation, blocked=False, by=agent_alice)
    assert [c.pk for c in conversation_list(user=agent_alice, status="resolved")] == [conversation.pk]
    deliver_inbound(twilio_fixture("inbound_sms", MessageSid="SM" + "b2" * 16, Body="sorry, real question"))
    conversation.refresh_from_db()
    assert conversation.status == "open"


# --- the API ------------------------------------------------------------------------------------------
@pytest.mark.django_db
def test_the_api_snoozes_assigns_notes_and_lists_notifications(
    agent_alice, agent_bob, team_support, inbox_support
) -> None:
    carl = factories.agent("agent_carl", teams=(team_support,))
    conversation = sms_in(inbox_support, "Where is my order?").conversation
    api = APIClient()
    api.force_authenticate(agent_alice)
    base = f"/api/v1/conversations/{conversation.pk}"

    past = (timezone.now() - timedelta(hours=1)).isoformat()
    refused = api.post(f"{base}/status/", {"status": "snoozed", "snoozed_until": past}, format="json")
    assert refused.status_code == 400 and "already passed" in refused.json()["detail"]
    later = (timezone.now() + timedelta(hours=1)).isoformat()
    snoozed = api.post(f"{base}/status/", {"status": "snoozed", "snoozed_until": later}, format="json")
    assert snoozed.status_code == 200 and snoozed.json()["status"] == "snoozed"

    wrong = api.post(f"{base}/assign/", {"assignee": agent_bob.pk}, format="json")
    assert wrong.status_code == 400 and "cannot see this conversation" in wrong.json()["detail"]
    assigned = api.post(f"{base}/assign/", {"assignee": carl.pk}, format="json")
    assert assigned.status_code == 200 and assigned.json()["assignee"] == carl.pk

    bad_note = api.post(f"{base}/notes/", {"body": "@agent_bob look"}, format="json")
    assert bad_note.status_code == 400 and "cannot see" in bad_note.json()["detail"]
    note = api.post(f"{base}/notes/", {"body": "@agent_carl it's yours"}, format="json")
    assert note.status_code == 201 and note.json()["kind"] == "note"

    api.force_authenticate(carl)
    listed = api.get("/api/v1/notifications/").json()
    assert [n["conversation"] for n in listed] == [conversation.pk]
    assert listed[0]["text"] == "Alice mentioned you: @agent_carl it's yours"
    assert api.post("/api/v1/notifications/read/", {}, format="json").json() == {"read": 1, "unread": 0}

    away = api.post("/api/v1/agents/me/availability/", {"availability": "away"}, format="json")
    assert away.status_code == 200
    assert AgentProfile.objects.get(user=carl).availability == "away"


# --- the pages ----------------------------------------------------------------------------------------
@pytest.mark.django_db
def test_the_thread_page_offers_only_agents_who_can_see_it_and_the_top_bar_counts_mentions(
    alice_client, agent_alice, agent_bob, team_support, inbox_support
) -> None:
    carl = factories.agent("agent_carl", teams=(team_support,))
    conversation = sms_in(inbox_support, "Where is my order?").conversation
    note_add(conversation=conversation, author=carl, body="@agent_alice yours?")
    page = alice_client.get(f"/inbox/{conversation.pk}/").content.decode()
    assert 'id="assign-select"' in page
    assert f'value="{carl.pk}"' in page and "Carl (online)" in page
    offered = page[page.index('id="assign-select"') :]
    offered = offered[: offered.index("</select>")]
    assert f'value="{agent_bob.pk}"' not in offered  # Bob (Sales) cannot see it: not offered
    assert 'id="unread-count" class="unread-count" data-count="1"' in page
    assert 'id="shortcuts"' in page and 'id="presence"' in page
    listed = alice_client.get("/inbox/notifications/").content.decode()
    assert "Carl mentioned you: @agent_alice yours?" in listed
    mentions = alice_client.get("/inbox/?view=mentions&status=all").content.decode()
    assert f'id="conv-{conversation.pk}"' in mentions


@pytest.mark.django_db
def test_snoozing_from_the_page_into_the_past_answers_the_reason(alice_client, inbox_support) -> None:
    conversation = sms_in(inbox_support, "Where is my order?").conversation
    past = (timezone.now() - timedelta(minutes=1)).isoformat()
    refused = alice_client.post(
        f"/inbox/{conversation.pk}/status/", {"status": "snoozed", "snoozed_until": past}
    )
    assert refused.status_code == 400 and "already passed" in refused.json()["error"]
    later = (timezone.now() + timedelta(days=1)).isoformat()
    snoozed = alice_client.post(
        f"/inbox/{conversation.pk}/status/", {"status": "snoozed", "snoozed_until": later}
    )
    assert snoozed.json() == {"ok": True, "status": "snoozed"}


@pytest.mark.django_db
def test_only_admins_reach_the_agents_page_and_deactivate(
    alice_client, admin_ada, agent_alice, agent_bob
) -> None:
    assert alice_client.get("/inbox/agents/").status_code == 403
    assert alice_client.post(f"/inbox/agents/{agent_bob.pk}/active/", {"active": "0"}).status_code == 403
    from django.test import Client

    admin = Client()
    admin.force_login(admin_ada)
    assert "agent_bob" in admin.get("/inbox/agents/").content.decode()
    assert admin.post(f"/inbox/agents/{agent_bob.pk}/active/", {"active": "0"}).status_code == 302
    agent_bob.refresh_from_db()
    assert not agent_bob.is_active

"""The views of one inbox read its links' copy of the list fields: after any change they agree with the thread."""

from __future__ import annotations

from datetime import timedelta

import pytest
from django.utils import timezone

from contacts.models import Contact
from conversations.models import Conversation, ConversationInbox, Entry
from conversations.selectors import STATUSES, VIEWS, conversation_list, conversation_view_counts
from conversations.services import (
    conversation_assign,
    conversation_block,
    conversation_set_status,
    entry_append,
    note_add,
)
from tests.conftest import sms_in


def _expected(user, inbox, view: str, status: str) -> list[int]:
    """Straight from the threads: in the inbox, in the view, latest activity first."""
    threads = Conversation.objects.filter(inbox_links__inbox=inbox, blocked_at__isnull=True)
    if status != "all":
        threads = threads.filter(status=status)
    if view == "mine":
        threads = threads.filter(assignee=user)
    elif view == "unassigned":
        threads = threads.filter(assignee__isnull=True)
    elif view == "unanswered":
        threads = threads.filter(waiting_since__isnull=False)
    elif view == "mentions":
        threads = threads.filter(notifications__recipient=user, notifications__kind="mention").distinct()
    elif view == "owned":
        threads = threads.filter(contact__ownership__owner=user)
    return list(threads.order_by("-last_activity_at", "-id").values_list("pk", flat=True))


def _assert_views_agree(user, *inboxes) -> None:
    for inbox in inboxes:
        for status in STATUSES:
            counts = conversation_view_counts(user=user, status=status, inbox_id=inbox.pk)
            for view in VIEWS:
                expected = _expected(user, inbox, view, status)
                listed = conversation_list(user=user, view=view, status=status, inbox_id=inbox.pk)
                assert [c.pk for c in listed] == expected, (inbox.name, view, status)
                assert counts[view] == len(expected), (inbox.name, view, status)


@pytest.mark.django_db
def test_one_inbox_views_follow_every_change_to_a_thread(
    inbox_support, inbox_sales, manager_maria, admin_ada
) -> None:
    first = sms_in(inbox_support, "Where is my order?", phone="+14155550101").conversation
    second = sms_in(inbox_support, "Do you ship to Canada?", phone="+14155550102").conversation
    _assert_views_agree(manager_maria, inbox_support, inbox_sales)

    conversation_assign(conversation=first, assignee=manager_maria, by=manager_maria)
    _assert_views_agree(manager_maria, inbox_support, inbox_sales)

    from lifecycle.owners import contact_owner_set

    contact_owner_set(contact=second.contact, owner=manager_maria, by=admin_ada, reason="a big account")
    _assert_views_agree(manager_maria, inbox_support, inbox_sales)

    entry_append(
        conversation=first, kind=Entry.MESSAGE, direction=Entry.OUTBOUND, channel="sms", body="Today"
    )
    _assert_views_agree(manager_maria, inbox_support, inbox_sales)

    conversation_set_status(conversation=second, status="resolved", by=manager_maria)
    _assert_views_agree(manager_maria, inbox_support, inbox_sales)

    # The customer writes again, through the other inbox: reopened, waiting, and now in both inboxes.
    sms_in(inbox_sales, "Also, a sales question", conversation=second)
    _assert_views_agree(manager_maria, inbox_support, inbox_sales)
    assert ConversationInbox.objects.filter(conversation=second).count() == 2

    conversation_set_status(conversation=first, status="pending", by=manager_maria)
    conversation_assign(conversation=first, assignee=None, by=manager_maria)
    _assert_views_agree(manager_maria, inbox_support, inbox_sales)

    soon = timezone.now() + timedelta(hours=1)
    conversation_set_status(conversation=second, status="snoozed", by=manager_maria, snoozed_until=soon)
    _assert_views_agree(manager_maria, inbox_support, inbox_sales)

    note_add(conversation=second, author=admin_ada, body="@manager_maria can you look?")
    _assert_views_agree(manager_maria, inbox_support, inbox_sales)

    conversation_block(conversation=first, blocked=True, by=manager_maria)
    _assert_views_agree(manager_maria, inbox_support, inbox_sales)
    sms_in(inbox_support, "spam again", conversation=first)
    _assert_views_agree(manager_maria, inbox_support, inbox_sales)
    conversation_block(conversation=first, blocked=False, by=manager_maria)
    _assert_views_agree(manager_maria, inbox_support, inbox_sales)


@pytest.mark.django_db
def test_an_agent_sees_no_thread_through_an_inbox_they_do_not_hold(agent_alice, inbox_sales) -> None:
    sms_in(inbox_sales, "Sales only")
    assert conversation_list(user=agent_alice, inbox_id=inbox_sales.pk) == []
    assert set(conversation_view_counts(user=agent_alice, inbox_id=inbox_sales.pk).values()) == {0}


@pytest.mark.django_db
def test_a_merged_away_thread_leaves_every_inbox_view_and_the_survivor_shows_both_stories(
    inbox_support, inbox_sales, manager_maria
) -> None:
    from conversations.customers import contact_merge, contact_unmerge

    texted = sms_in(inbox_support, "I texted first", phone="+14155550101").conversation
    other = sms_in(inbox_sales, "Then I wrote from my other phone", phone="+14155550102").conversation
    contact_merge(source=other.contact, into=texted.contact, by=manager_maria)

    for inbox in (inbox_support, inbox_sales):
        for status in STATUSES:
            listed = conversation_list(user=manager_maria, status=status, inbox_id=inbox.pk)
            assert other.pk not in [c.pk for c in listed], (inbox.name, status)
    sales_open = conversation_list(user=manager_maria, status="open", inbox_id=inbox_sales.pk)
    assert [c.pk for c in sales_open] == [texted.pk]  # the survivor now belongs to both inboxes
    assert conversation_view_counts(user=manager_maria, status="all", inbox_id=inbox_sales.pk)["all"] == 1

    contact_unmerge(merged=Contact.objects.get(pk=other.contact_id), by=manager_maria)
    _assert_views_agree(manager_maria, inbox_support, inbox_sales)
    assert other.pk in [
        c.pk for c in conversation_list(user=manager_maria, status="all", inbox_id=inbox_sales.pk)
    ]

"""The list by team, inbox, channel, label and status, its counts, and each agent's saved views."""

from __future__ import annotations

import itertools
from typing import Any

import pytest
from django.test import Client

from config.errors import NotFound, ValidationError
from conversations.customers import contact_update, label_create
from conversations.models import Conversation, SavedView
from conversations.saved_views import saved_view_create, saved_view_delete
from conversations.selectors import STATUSES, VIEWS, ListFilters, conversation_list, conversation_view_counts
from conversations.services import conversation_assign, conversation_set_status, entry_append
from tests.conftest import sms_in

pytestmark = pytest.mark.django_db


@pytest.fixture
def threads(inbox_support: Any, inbox_sales: Any, agent_alice: Any, admin_ada: Any, team_support: Any) -> Any:
    vip = label_create(name="VIP", by=admin_ada)
    sms = sms_in(inbox_support, "text", phone="+14155550142").conversation
    whatsapp = sms_in(inbox_support, "hola", phone="+14155550143").conversation
    entry_append(
        conversation=whatsapp,
        kind="message",
        direction="inbound",
        channel="whatsapp",
        inbox=inbox_support,
        body="wa",
    )
    email = entry_append(
        conversation=sms_in(inbox_support, "x", phone="+14155550144").conversation,
        kind="message",
        direction="inbound",
        channel="email",
        inbox=inbox_support,
        body="mail",
    ).conversation
    sales = sms_in(inbox_sales, "sales", phone="+12125550187").conversation
    contact_update(contact=sms.contact, by=agent_alice, labels=[vip.pk])
    contact_update(contact=sales.contact, by=admin_ada, labels=[vip.pk])
    Conversation.objects.filter(pk__in=[sms.pk, email.pk]).update(team=team_support)
    conversation_assign(conversation=email, assignee=agent_alice, by=agent_alice)
    conversation_set_status(conversation=whatsapp, status="pending", by=agent_alice)
    return {"sms": sms, "whatsapp": whatsapp, "email": email, "sales": sales, "vip": vip}


def ids(conversations: list[Conversation]) -> set[int]:
    return {c.pk for c in conversations}


def test_each_filter_narrows_the_list_to_the_threads_the_agent_may_see(
    threads: Any, agent_alice: Any, team_support: Any, inbox_support: Any
) -> None:
    everything = {"status": "all"}
    by_channel = conversation_list(user=agent_alice, filters=ListFilters(channel="whatsapp"), **everything)
    assert ids(by_channel) == {threads["whatsapp"].pk}
    by_label = conversation_list(
        user=agent_alice, filters=ListFilters(label_id=threads["vip"].pk), **everything
    )
    assert ids(by_label) == {threads["sms"].pk}, "Sales' VIP stays out of Support's list"
    by_team = conversation_list(user=agent_alice, filters=ListFilters(team_id=team_support.pk), **everything)
    assert ids(by_team) == {threads["sms"].pk, threads["email"].pk}
    mine_by_team = conversation_list(
        user=agent_alice, view="mine", filters=ListFilters(team_id=team_support.pk), **everything
    )
    assert ids(mine_by_team) == {threads["email"].pk}
    pending_sms = conversation_list(
        user=agent_alice, status="pending", inbox_id=inbox_support.pk, filters=ListFilters(channel="whatsapp")
    )
    assert ids(pending_sms) == {threads["whatsapp"].pk}


def test_the_counts_match_the_lists_for_every_combination(
    threads: Any,
    agent_alice: Any,
    manager_maria: Any,
    team_support: Any,
    inbox_support: Any,
    inbox_sales: Any,
) -> None:
    combinations = [
        ListFilters(channel="sms"),
        ListFilters(label_id=threads["vip"].pk),
        ListFilters(team_id=team_support.pk, channel="email"),
    ]
    for user, filters, status, inbox in itertools.product(
        (agent_alice, manager_maria), combinations, STATUSES, (None, inbox_support.pk, inbox_sales.pk)
    ):
        counts = conversation_view_counts(user=user, status=status, inbox_id=inbox, filters=filters)
        for view in VIEWS:
            listed = conversation_list(user=user, view=view, status=status, inbox_id=inbox, filters=filters)
            assert counts[view] == len(listed), (user, filters, status, inbox, view)


def test_another_teams_inbox_shows_nothing_under_any_filter(
    threads: Any, agent_alice: Any, inbox_sales: Any
) -> None:
    filters = ListFilters(label_id=threads["vip"].pk)
    assert conversation_list(user=agent_alice, status="all", inbox_id=inbox_sales.pk, filters=filters) == []
    assert set(
        conversation_view_counts(
            user=agent_alice, status="all", inbox_id=inbox_sales.pk, filters=filters
        ).values()
    ) == {0}


def test_the_page_and_the_counts_endpoint_follow_the_filters(threads: Any, alice_client: Client) -> None:
    page = alice_client.get("/inbox/", {"channel": "whatsapp", "status": "all"}).content.decode()
    assert f'id="conv-{threads["whatsapp"].pk}"' in page
    assert f'id="conv-{threads["sms"].pk}"' not in page
    assert 'href="?view=mine&amp;status=all&amp;channel=whatsapp"' in page, "a view keeps the other filters"
    counts = alice_client.get("/inbox/counts/", {"label": threads["vip"].pk}).json()["counts"]
    assert counts == {
        "all": "1",
        "mine": "0",
        "unassigned": "1",
        "unanswered": "1",
        "mentions": "0",
        "owned": "0",
    }
    # The thread leaves the view: the count the page reads again after the frame says so.
    conversation_set_status(conversation=threads["sms"], status="resolved", by=None)
    assert alice_client.get("/inbox/counts/", {"label": threads["vip"].pk}).json()["counts"]["all"] == "0"
    for bad in (
        {"label": "x" * 10_000},
        {"team": "-1"},
        {"channel": "<script>"},
        {"inbox": "99999999999999999"},
    ):
        assert alice_client.get("/inbox/", bad).status_code == 200
        assert alice_client.get("/inbox/counts/", bad).status_code == 200


def test_saved_views_are_each_agents_own(agent_alice: Any, agent_bob: Any, alice_client: Client) -> None:
    view = saved_view_create(
        agent=agent_alice,
        name="  My   VIPs ",
        filters={"view": "mine", "status": "all", "label": "3", "channel": "fax", "team": "x", "evil": "1"},
    )
    assert (view.name, view.filters) == ("My VIPs", {"view": "mine", "status": "all", "label": "3"})
    with pytest.raises(ValidationError, match="at most 60 characters"):
        saved_view_create(agent=agent_alice, name="x" * 10_000, filters={})
    with pytest.raises(ValidationError, match="already have a view"):
        saved_view_create(agent=agent_alice, name="My VIPs", filters={})
    saved_view_create(agent=agent_bob, name="My VIPs", filters={})  # another agent's names are theirs
    with pytest.raises(NotFound):
        saved_view_delete(agent=agent_bob, view_id=view.pk)

    page = alice_client.get("/inbox/").content.decode()
    assert 'href="/inbox/?view=mine&amp;status=all&amp;label=3"' in page and "My VIPs" in page
    refused = alice_client.post("/inbox/views/", {"name": "y" * 10_000})
    assert refused.status_code == 400 and "at most 60 characters" in refused.json()["error"]
    made = alice_client.post("/inbox/views/", {"name": "Email", "channel": "email", "status": "open"})
    assert made.status_code == 201 and made.json()["url"] == "/inbox/?channel=email"
    bobs = SavedView.objects.get(agent=agent_bob)
    assert alice_client.post("/inbox/views/", {"delete": bobs.pk}).status_code == 404
    assert alice_client.post("/inbox/views/", {"delete": view.pk}).status_code == 200
    assert list(SavedView.objects.filter(agent=agent_alice).values_list("name", flat=True)) == ["Email"]


def test_the_api_lists_and_saves_the_agents_own_views(agent_alice: Any, agent_bob: Any) -> None:
    from rest_framework.test import APIClient

    saved_view_create(agent=agent_bob, name="Bob's", filters={})
    api = APIClient()
    api.force_authenticate(agent_alice)
    made = api.post("/api/v1/views/", {"name": "WhatsApp", "filters": {"channel": "whatsapp"}}, format="json")
    assert made.status_code == 201 and made.json()["url"] == "/inbox/?channel=whatsapp"
    refused = api.post("/api/v1/views/", {"name": "v" * 10_000}, format="json")
    assert refused.status_code == 400 and "at most 60 characters" in refused.json()["detail"]
    assert [v["name"] for v in api.get("/api/v1/views/").json()] == ["WhatsApp"]


@pytest.mark.django_db
def test_urgent_threads_come_first_when_sorted_by_priority_and_the_next_page_continues_in_order(
    agent_alice: Any, inbox_support: Any
) -> None:
    from conversations.selectors import ListCursor

    priorities = ["low", "urgent", "normal", "high", "urgent", "normal"]
    made = []
    for n, priority in enumerate(priorities):
        thread = sms_in(inbox_support, "hello", phone=f"+1415555020{n}").conversation
        Conversation.objects.filter(pk=thread.pk).update(priority=priority)
        made.append(thread)
    first = conversation_list(user=agent_alice, status="all", sort="priority", limit=3)
    last = first[-1]
    rest = conversation_list(
        user=agent_alice,
        status="all",
        sort="priority",
        limit=10,
        after=ListCursor(last.last_activity_at, last.pk, rank=last.rank),  # type: ignore[attr-defined]
    )
    seen = [c.priority for c in first + rest]
    assert seen == ["urgent", "urgent", "high", "normal", "normal", "low"]
    assert len({c.pk for c in first + rest}) == len(made)
    only_urgent = conversation_list(user=agent_alice, status="all", filters=ListFilters(priority="urgent"))
    page = Client()
    page.force_login(agent_alice)
    html = page.get("/inbox/?status=all&sort=priority").content.decode()
    assert html.index("priority-urgent") < html.index("priority-high") < html.index("priority-low")
    assert {c.priority for c in only_urgent} == {"urgent"} and len(only_urgent) == 2


@pytest.mark.django_db
def test_an_agent_sets_a_threads_priority_and_the_thread_says_who(
    agent_alice: Any, agent_bob: Any, inbox_support: Any
) -> None:
    thread = sms_in(inbox_support, "My order is late", phone="+14155550199").conversation
    alice, bob = Client(), Client()
    alice.force_login(agent_alice)
    bob.force_login(agent_bob)
    assert bob.post(f"/inbox/{thread.pk}/priority/", {"priority": "urgent"}).status_code == 404
    assert alice.post(f"/inbox/{thread.pk}/priority/", {"priority": "asap"}).status_code == 400
    assert alice.post(f"/inbox/{thread.pk}/priority/", {"priority": "urgent"}).json()["priority"] == "urgent"
    thread.refresh_from_db()
    assert thread.priority == "urgent"
    said = thread.entries.get(event_type="conversation.priority_changed")
    assert "set the priority to urgent (was normal)" in said.body and said.author == agent_alice

"""Response targets (SLA policies), against PostgreSQL with the event stream running: a customer's message starts
the first-response clock in business time, the assignee and then the team lead are warned before it runs out,
a miss is a leak and an event, pending pauses it, the strictest of overlapping targets applies and says which,
hours closed all week never run out, and the report counts who met and missed, by how much."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from typing import Any

import pytest
from django.test import Client

from conversations.models import AgentProfile, Conversation, Entry, Notification
from conversations.services import (
    conversation_assign,
    conversation_reopen_for_inbound,
    conversation_set_status,
    entry_append,
)
from events.models import DomainEvent
from events.services import events_dispatch
from lifecycle.models import Leak, ResponseTarget, TargetTimer
from lifecycle.selectors import leaks_current
from lifecycle.services import leaks_detect
from lifecycle.targets import business_deadline, response_target_save, targets_check, targets_report
from tests import factories
from tests.conftest import run_concurrently, sms_in

pytestmark = pytest.mark.django_db

MONDAY_9 = datetime(2026, 11, 30, 9, 0, tzinfo=UTC)  # a Monday


def target(name: str, scope: str, **minutes: int) -> ResponseTarget:
    return response_target_save(
        target=None,
        name=name,
        scope=scope,
        minutes={f"{kind}": value for kind, value in minutes.items()},
        warn_percent=75,
    )


def reply(thread: Conversation, author: Any, inbox: Any) -> Entry:
    return entry_append(
        conversation=thread,
        kind="message",
        direction="outbound",
        channel="sms",
        inbox=inbox,
        body="On it!",
        author=author,
    )


@pytest.fixture
def seller_lead(team_sales: Any) -> Any:
    return factories.agent("lead_lena", role=AgentProfile.MANAGER, teams=(team_sales,))


def test_the_first_response_is_warned_then_escalated_then_missed_and_the_answer_plugs_the_leak(
    clock: Any, inbox_sales: Any, team_sales: Any, agent_bob: Any, seller_lead: Any
) -> None:
    target("Sales 30 min", f"inbox:{inbox_sales.pk}", first_response=30)
    clock.set(MONDAY_9)
    thread = sms_in(inbox_sales, "How much for 20 seats?", phone="+12125550101").conversation
    conversation_assign(conversation=thread, assignee=agent_bob, by=None)
    timer = TargetTimer.objects.get(conversation=thread, metric="first_response")
    assert timer.due_at == MONDAY_9 + timedelta(minutes=30)

    assert targets_check(now=MONDAY_9 + timedelta(minutes=20)).warned == 0
    assert targets_check(now=MONDAY_9 + timedelta(minutes=23)).warned == 1  # 75% of 30 min
    warned = Notification.objects.get(kind=Notification.TARGET)
    assert warned.recipient == agent_bob and "First response due in 7 min" in warned.entry.body
    assert targets_check(now=MONDAY_9 + timedelta(minutes=24)).warned == 0  # once

    assert targets_check(now=MONDAY_9 + timedelta(minutes=27)).escalated == 1  # halfway from 75% to the end
    assert Notification.objects.filter(kind=Notification.TARGET, recipient=seller_lead).count() == 1
    levels = [e.payload["level"] for e in DomainEvent.objects.filter(type="sla.warned").order_by("id")]
    assert levels == ["assignee", "team_lead"]

    clock.set(MONDAY_9 + timedelta(minutes=31))
    assert targets_check().breached == 1
    breached = DomainEvent.objects.get(type="sla.breached")
    assert breached.payload["metric"] == "first_response" and breached.payload["assignee"] == agent_bob.pk
    assert Entry.objects.filter(conversation=thread, event_type="sla.breached").exists()
    assert [(leak.kind, leak.conversation_id) for leak in leaks_current()] == [
        (Leak.TARGET_MISSED, thread.pk)
    ]
    leaks_detect()
    assert DomainEvent.objects.filter(type="leak.detected", payload__leak="target_missed").count() == 1

    clock.set(MONDAY_9 + timedelta(minutes=32))
    reply(thread, None, inbox_sales)  # the hub's own auto-reply answers nobody: still a leak
    assert TargetTimer.objects.get(pk=timer.pk).state == "running" and leaks_current() != []
    clock.set(MONDAY_9 + timedelta(minutes=33))
    reply(thread, agent_bob, inbox_sales)
    timer.refresh_from_db()
    assert timer.state == "done" and timer.over_s == pytest.approx(180) and timer.agent == agent_bob
    assert leaks_current() == []
    assert events_dispatch() >= 0  # the stream's consumers take sla.* like any other event


def test_pending_pauses_the_clock_and_closed_hours_do_not_count(
    clock: Any, inbox_sales: Any, agent_bob: Any
) -> None:
    inbox_sales.business_hours = {"mon": [["09:00", "17:00"]], "tue": [["09:00", "17:00"]]}
    inbox_sales.time_zone = "UTC"
    inbox_sales.save()
    target("Sales next day", f"inbox:{inbox_sales.pk}", first_response=60)
    clock.set(MONDAY_9 + timedelta(hours=7, minutes=30))  # 16:30: half an hour left today
    thread = sms_in(inbox_sales, "Still open?", phone="+12125550102").conversation
    timer = TargetTimer.objects.get(conversation=thread, metric="first_response")
    assert timer.due_at == MONDAY_9 + timedelta(days=1, minutes=30)  # Tuesday 9:30

    clock.set(MONDAY_9 + timedelta(hours=7, minutes=40))  # 10 min spent
    conversation_set_status(conversation=thread, status=Conversation.PENDING, by=agent_bob)
    timer.refresh_from_db()
    assert timer.state == "paused" and timer.due_at is None and timer.spent_s == pytest.approx(600)
    assert targets_check(now=MONDAY_9 + timedelta(days=3)).breached == 0

    clock.set(MONDAY_9 + timedelta(days=1, hours=1))  # Tuesday 10:00: the customer writes back
    sms_in(inbox_sales, "Sorry, here is the order number", conversation=thread)
    conversation_reopen_for_inbound(conversation=thread)  # as the inbound pipeline does
    timer.refresh_from_db()
    assert timer.state == "running"
    assert timer.due_at == MONDAY_9 + timedelta(days=1, hours=1, minutes=50)  # 50 min were left


def test_the_strictest_of_overlapping_targets_applies_and_the_thread_says_which(
    clock: Any, inbox_sales: Any, team_sales: Any, agent_bob: Any
) -> None:
    target("Sales line", f"inbox:{inbox_sales.pk}", first_response=120, resolution=60 * 24)
    target("Sales team", f"team:{team_sales.pk}", first_response=15)
    thread = sms_in(inbox_sales, "Hi", phone="+12125550103").conversation
    conversation_assign(conversation=thread, assignee=agent_bob, by=None)
    first = TargetTimer.objects.get(conversation=thread, metric="first_response")
    assert first.target.name == "Sales team" and first.overlapping == "Sales line"
    assert TargetTimer.objects.get(conversation=thread, metric="resolution").target.name == "Sales line"

    client = Client()
    client.force_login(agent_bob)
    header = client.get(f"/inbox/{thread.pk}/").content.decode().split('id="thread-target"', 1)[1][:600]
    assert "First response" in header and "left" in header
    assert "Sales team" in header and "the strictest, before Sales line" in header


def test_hours_closed_all_week_never_run_out_and_the_settings_page_says_so(
    inbox_sales: Any, admin_ada: Any, agent_bob: Any
) -> None:
    inbox_sales.business_hours = {day: [] for day in ("mon", "tue", "wed", "thu", "fri", "sat", "sun")}
    inbox_sales.save()
    assert business_deadline(inbox_sales, MONDAY_9, 60) is None
    admin = Client()
    admin.force_login(admin_ada)
    created = admin.post(
        "/inbox/settings/targets/",
        {
            "action": "save",
            "name": "Closed line",
            "scope": f"inbox:{inbox_sales.pk}",
            "first_response": "30",
            "warn_percent": "80",
        },
    )
    assert created.status_code == 302
    saved = ResponseTarget.objects.get(name="Closed line")
    assert saved.first_response_minutes == 30 and saved.warn_percent == 80
    trail = admin.get("/reports/audit/?what=settings").content.decode()
    assert "Response target" in trail and "Closed line" in trail  # in the settings history, like the others
    page = admin.get("/inbox/settings/targets/").content.decode()
    assert "closed all week" in page and "never runs out" in page
    thread = sms_in(inbox_sales, "Anyone?", phone="+12125550104").conversation
    timer = TargetTimer.objects.get(conversation=thread)
    assert timer.state == "running" and timer.due_at is None
    assert targets_check(now=MONDAY_9 + timedelta(days=365)).breached == 0

    refused = admin.post(
        "/inbox/settings/targets/",
        {"action": "save", "name": "Typo", "scope": f"inbox:{inbox_sales.pk}", "first_response": "-5"},
        follow=True,
    ).content.decode()
    assert "1 to 129600 minutes" in refused and not ResponseTarget.objects.filter(name="Typo").exists()
    agent = Client()
    agent.force_login(agent_bob)
    assert agent.post("/inbox/settings/targets/", {"action": "save", "name": "X"}).status_code == 403


def test_the_report_counts_met_and_missed_per_target_team_and_agent(
    clock: Any, inbox_sales: Any, team_sales: Any, agent_bob: Any, manager_maria: Any
) -> None:
    target("Sales 30 min", f"inbox:{inbox_sales.pk}", first_response=30)
    carla = factories.agent("agent_carla", teams=(team_sales,))
    for minutes, (phone, who) in enumerate([("+12125550111", agent_bob), ("+12125550112", carla)]):
        clock.set(MONDAY_9)
        thread = sms_in(inbox_sales, "Quote?", phone=phone).conversation
        conversation_assign(conversation=thread, assignee=who, by=None)
        clock.set(MONDAY_9 + timedelta(minutes=10 + 40 * minutes))  # bob at 10 min, carla at 50 (20 late)
        reply(thread, who, inbox_sales)

    report = targets_report(start=MONDAY_9 - timedelta(days=1), end=MONDAY_9 + timedelta(days=1))
    assert [(r.label, r.met, r.breached) for r in report.by_target] == [("Sales 30 min", 1, 1)]
    by_agent = {r.label: (r.met, r.breached, r.late_avg_s) for r in report.by_agent}
    assert by_agent[carla.get_full_name() or "agent_carla"] == (0, 1, pytest.approx(1200))
    assert by_agent[agent_bob.get_full_name() or "agent_bob"] == (1, 0, None)

    as_maria = Client()
    as_maria.force_login(manager_maria)
    page = as_maria.get("/reports/targets/?start=2026-11-29&end=2026-12-01").content.decode()
    assert "Sales 30 min" in page and "20 min late on average" in page


@pytest.mark.django_db(transaction=True)
def test_two_checks_at_once_warn_once(inbox_sales: Any, agent_bob: Any) -> None:
    """The periodic job may run in two workers at once (a slow run overlapping the next): SKIP LOCKED gives each
    timer to one of them, so the assignee hears once."""
    target("Sales 30 min", f"inbox:{inbox_sales.pk}", first_response=30)
    threads = [sms_in(inbox_sales, "Hi", phone=f"+1212555017{n}").conversation for n in range(3)]
    for thread in threads:
        conversation_assign(conversation=thread, assignee=agent_bob, by=None)
    later = TargetTimer.objects.get(conversation=threads[0], metric="first_response").started_at + timedelta(
        minutes=23
    )
    runs = run_concurrently(lambda: targets_check(now=later), 4)
    assert sum(run.warned for run in runs) == 3
    assert Notification.objects.filter(kind=Notification.TARGET, recipient=agent_bob).count() == 3
    assert DomainEvent.objects.filter(type="sla.warned").count() == 3

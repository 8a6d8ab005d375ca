"""The team performance report against a small history whose times can be counted on paper."""

from __future__ import annotations

from datetime import date, datetime
from zoneinfo import ZoneInfo

import pytest

from config.errors import ValidationError
from contacts.services import contact_resolve
from conversations.models import Conversation, Entry, Inbox
from conversations.services import conversation_get_or_create, conversation_set_status, entry_append
from reports.models import EpisodeMetrics
from reports.selectors import performance_report, period_parse
from tests import factories

UTC = ZoneInfo("UTC")
NINE_TO_FIVE = {day: [["09:00", "17:00"]] for day in ("mon", "tue", "wed", "thu", "fri")}


def t(day: int, hour: int, minute: int = 0) -> datetime:
    """March 2026: the 2nd is a Monday."""
    return datetime(2026, 3, day, hour, minute, tzinfo=UTC)


def customer(phone: str) -> Conversation:
    contact, _ = contact_resolve(kind="phone", address=phone)
    return conversation_get_or_create(contact=contact)


def sms(conversation: Conversation, inbox: Inbox, at: datetime, agent=None) -> Entry:
    """A customer's text at `at`, or the agent's answer when `agent` is given."""
    return entry_append(
        conversation=conversation,
        kind="message",
        direction="outbound" if agent else "inbound",
        channel="sms",
        inbox=inbox,
        body="Hi!" if agent else "Hello?",
        author=agent,
        created_at=at,
    )


def inbound(conversation: Conversation, inbox: Inbox, at: datetime) -> Entry:
    return sms(conversation, inbox, at)


def reply(conversation: Conversation, inbox: Inbox, agent, at: datetime) -> Entry:
    return sms(conversation, inbox, at, agent)


@pytest.fixture
def history(db, clock, settings, team_support, agent_alice, team_sales):
    """Four episodes on a 9-to-5 inbox (UTC), answered by Alice (1, 2) and Bob (3, 4).

    1. Mon 2 10:00 in, 10:05 reply (300 s), 10:10 in, 10:30 reply (next: 1,200 s), resolved 11:00 (3,600 s).
    2. Fri 6 16:59 in, Mon 9 09:01 reply: 230,520 s on the clock, 120 s of business hours; resolved 09:31
       (232,320 s; 1,920 s of business hours).
    3. Sat 7 12:00 in, 12:10 reply: 600 s on the clock, none in business hours; still open.
    4. Mon 2 08:00 in, 09:15 reply: 4,500 s on the clock, 900 s in business hours; still open.
    """
    settings.SATISFACTION_SURVEY_ENABLED = False
    inbox = factories.InboxFactory(name="Hours line", business_hours=NINE_TO_FIVE, team=team_support)
    bob = factories.agent("agent_bob", teams=(team_support,))
    one, two, three, four = (customer(f"+1415555020{n}") for n in range(1, 5))
    inbound(one, inbox, t(2, 10))
    reply(one, inbox, agent_alice, t(2, 10, 5))
    inbound(one, inbox, t(2, 10, 10))
    reply(one, inbox, agent_alice, t(2, 10, 30))
    clock.set(t(2, 11))
    conversation_set_status(conversation=one, status="resolved", by=agent_alice)
    inbound(two, inbox, t(6, 16, 59))
    reply(two, inbox, agent_alice, t(9, 9, 1))
    clock.set(t(9, 9, 31))
    conversation_set_status(conversation=two, status="resolved", by=agent_alice)
    inbound(three, inbox, t(7, 12))
    reply(three, inbox, bob, t(7, 12, 10))
    inbound(four, inbox, t(2, 8))
    reply(four, inbox, bob, t(2, 9, 15))
    # Two answers to the satisfaction question (the survey's own path is tested in test_satisfaction).
    EpisodeMetrics.objects.filter(episode__conversation=one).update(rating=5)
    EpisodeMetrics.objects.filter(episode__conversation=two).update(rating=3)
    return {"inbox": inbox, "alice": agent_alice, "bob": bob}


MARCH = period_parse(start="2026-03-01", end="2026-03-31")


def test_business_hours_figures_match_the_hand_count(history) -> None:
    report = performance_report(period=MARCH)
    overall = report.overall
    assert (overall.episodes, overall.answered, overall.resolved) == (4, 4, 2)
    assert overall.first_response == pytest.approx((300 + 120 + 0 + 900) / 4)
    assert (overall.next_responses, overall.next_response) == (1, pytest.approx(1200))
    assert overall.resolution == pytest.approx((3600 + 1920) / 2)
    assert (overall.ratings, overall.satisfaction, overall.satisfied) == (2, pytest.approx(4.0), 1)


def test_clock_figures_match_the_hand_count(history) -> None:
    overall = performance_report(period=MARCH, business_hours=False).overall
    assert overall.first_response == pytest.approx((300 + 230_520 + 600 + 4_500) / 4)
    assert overall.resolution == pytest.approx((3_600 + 232_320) / 2)


def test_figures_per_agent_team_inbox_and_channel(history) -> None:
    report = performance_report(period=MARCH)
    by_agent = {f.label: f for f in report.groups["agent"]}
    assert by_agent["Alice"].first_response == pytest.approx((300 + 120) / 2)
    assert by_agent["Alice"].satisfaction == pytest.approx(4.0)
    assert by_agent["Bob"].first_response == pytest.approx((0 + 900) / 2)
    assert by_agent["Bob"].resolved == 0
    assert [(f.label, f.episodes) for f in report.groups["team"]] == [("Support", 4)]
    assert [(f.label, f.episodes) for f in report.groups["inbox"]] == [("Hours line", 4)]
    assert [(f.label, f.episodes) for f in report.groups["channel"]] == [("SMS", 4)]
    only_bob = performance_report(period=MARCH, filters={"agent": history["bob"].pk}).overall
    assert (only_bob.episodes, only_bob.first_response) == (2, pytest.approx(450))


def test_daily_series_and_the_heat_map_place_each_episode_where_it_opened(history) -> None:
    report = performance_report(period=MARCH)
    daily = dict(report.daily)
    assert len(report.daily) == 31
    assert daily[date(2026, 3, 2)].episodes == 2  # episodes 1 and 4
    assert daily[date(2026, 3, 2)].first_response == pytest.approx((300 + 900) / 2)
    assert daily[date(2026, 3, 3)].episodes == 0
    assert report.heatmap[0][10] == 1 and report.heatmap[0][8] == 1  # Monday 10:00 and 08:00
    assert report.heatmap[4][16] == 1 and report.heatmap[5][12] == 1  # Friday 16:59, Saturday noon
    assert sum(map(sum, report.heatmap)) == 4


def test_a_period_that_excludes_the_history_reports_nothing(history) -> None:
    report = performance_report(period=period_parse(start="2026-04-01", end="2026-04-30"))
    assert report.overall.episodes == 0


def test_a_report_over_an_empty_database_is_zeros_not_an_error(db, maria_client) -> None:
    report = performance_report(period=MARCH)
    assert (report.overall.episodes, report.overall.first_response, report.overall.satisfaction) == (
        0,
        None,
        None,
    )
    response = maria_client.get("/reports/performance/?start=2026-03-01&end=2026-03-31")
    assert response.status_code == 200
    assert b'data-kpi="episodes">0<' in response.content
    api = maria_client.get("/api/v1/reports/performance/?start=2026-03-01&end=2026-03-31")
    assert api.status_code == 200 and api.json()["overall"]["episodes"] == 0


def test_a_period_that_ends_before_it_starts_is_refused(db, maria_client) -> None:
    with pytest.raises(ValidationError, match="before it starts"):
        period_parse(start="2026-03-31", end="2026-03-01")
    response = maria_client.get("/reports/performance/?start=2026-03-31&end=2026-03-01")
    assert response.status_code == 400
    assert b"before it starts" in response.content
    api = maria_client.get("/api/v1/reports/performance/?start=2026-03-31&end=2026-03-01")
    assert api.status_code == 400 and "before it starts" in api.json()["detail"]
    assert maria_client.get("/reports/performance/?start=yesterday").status_code == 400


def test_the_page_shows_the_figures_and_its_charts(history, maria_client) -> None:
    response = maria_client.get("/reports/performance/?start=2026-03-01&end=2026-03-31")
    assert response.status_code == 200
    page = response.content.decode()
    assert 'data-kpi="episodes">4<' in page
    assert 'data-kpi="first_response">5 min<' in page  # 330 s
    assert 'id="volume-chart"' in page and page.count('class="bar volume"') == 31
    assert "4.0 / 5" in page


def test_an_agent_asking_for_a_report_gets_403(db, alice_client) -> None:
    assert alice_client.get("/reports/performance/").status_code == 403
    assert alice_client.get("/reports/").status_code == 403
    assert alice_client.get("/reports/history/").status_code == 403
    assert alice_client.get("/reports/audit/").status_code == 403
    assert alice_client.get("/api/v1/reports/performance/").status_code == 403

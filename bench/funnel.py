"""The funnel report at scale, server time: Reports → Funnel over 1,000,000 stage changes.

The data set (333,333 contacts, each with a stage history of one to five moves along the main line, about
three on average, spread over two years; their threads, first channels, first inboxes and agents) is built once
with SQL (generate_series) in its own database, marked, and kept between runs (`--rebuild` builds it again).
Times are measured inside one Django process through the test client: the whole request (middleware, the
report's queries, the charts and the template), no network.

    .venv/bin/python bench/funnel.py [--rebuild] [--quick]
    .venv/bin/python bench/funnel.py --entries 300 --database postgres://postgres@127.0.0.1:5432/hub_funnel_bench
"""

from __future__ import annotations

import argparse
import json
import os
import sys
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from bench.common import DATABASE, Figure, data_set_build, measured_in_django, requests_time

FUNNEL_DATABASE = os.environ.get(
    "BENCH_FUNNEL_DATABASE_URL", DATABASE.rsplit("/", 1)[0] + "/hub_bench_funnel"
)
ENTRIES = 1_000_000
TARGET_MS = 1000.0

SETUP = """
from conversations.models import AgentProfile, Inbox, Team
from django.contrib.auth.models import User
support, sales = Team.objects.create(name="Support"), Team.objects.create(name="Sales")
for n, team in enumerate([support, support, sales, sales]):
    Inbox.objects.create(name=f"Line {n}", kind="phone", address=f"+1415555010{n}", team=team)
for n in range(20):
    user = User.objects.create_user(f"agent{n}", password="bench-password-123")
    AgentProfile.objects.create(user=user, role="agent").teams.set([support if n % 2 == 0 else sales])
manager = User.objects.create_user("manager", password="bench-password-123")
AgentProfile.objects.create(user=manager, role="manager")
"""


def populate_sql(contacts: int) -> str:
    """Contact g first wrote (g % 730) days ago and moved 1 + g % 5 steps along lead, qualified, opportunity,
    customer, loyal, one step every 1 + g % 9 days: three moves per contact on average."""
    first = "now() - (g % 730) * interval '1 day' - (g % 1440) * interval '1 minute'"
    gap = "(1 + g % 9) * interval '1 day'"
    return f"""
INSERT INTO contacts_contact (id, name, attributes, created_at, updated_at)
SELECT g, 'Customer ' || g, '{{}}', {first}, now() FROM generate_series(1, {contacts}) g;
INSERT INTO conversations_conversation (id, status, created_at, last_activity_at, waiting_since, last_inbound_at,
    last_inbound_channel, last_preview, last_preview_direction, assignee_id, contact_id, last_inbound_inbox_id,
    team_id, version)
SELECT g, CASE WHEN g % 10 < 7 THEN 'resolved' ELSE 'open' END, {first}, {first}, NULL, {first}, 'sms',
    'Hi, is the blue trail runner in stock?', 'inbound',
    CASE WHEN g % 3 = 0 THEN NULL ELSE (SELECT min(id) FROM auth_user) + (g % 20) END,
    g, (SELECT min(id) FROM conversations_inbox) + (g % 4), NULL, 1
FROM generate_series(1, {contacts}) g;
INSERT INTO lifecycle_stagechange (contact_id, from_stage_id, to_stage_id, at, left_at, by_id, rule, reason)
SELECT g, prev.id, cur.id, {first} + (s - 1) * {gap},
    CASE WHEN s < 1 + g % 5 THEN {first} + s * {gap} END, NULL,
    CASE WHEN s = 1 THEN 'first_inbound' ELSE '' END, ''
FROM generate_series(1, {contacts}) g
CROSS JOIN generate_series(1, 5) s
JOIN lifecycle_stage cur ON cur.key = (ARRAY['lead', 'qualified', 'opportunity', 'customer', 'loyal'])[s]
LEFT JOIN lifecycle_stage prev ON s > 1
    AND prev.key = (ARRAY['lead', 'qualified', 'opportunity', 'customer', 'loyal'])[s - 1]
WHERE s <= 1 + g % 5;
INSERT INTO lifecycle_contactstage (contact_id, stage_id, furthest_stage_id, entered_at, first_contact_at,
    first_channel, first_inbox_id)
SELECT g, st.id, st.id, {first} + (g % 5) * {gap}, {first},
    (ARRAY['sms', 'whatsapp', 'email', 'voice', 'webchat'])[1 + g % 5],
    (SELECT min(id) FROM conversations_inbox) + (g % 4)
FROM generate_series(1, {contacts}) g
JOIN lifecycle_stage st ON st.key = (ARRAY['lead', 'qualified', 'opportunity', 'customer', 'loyal'])[1 + g % 5];
SELECT setval(pg_get_serial_sequence('contacts_contact', 'id'), {contacts});
SELECT setval(pg_get_serial_sequence('conversations_conversation', 'id'), {contacts});
"""


def build(database: str, entries: int, rebuild: bool) -> None:
    data_set_build(
        database=database,
        marker=f"funnel stage changes={entries} v1",
        table="bench_funnel_marker",
        port=8998,
        setup=SETUP,
        sql=[populate_sql(max(1, entries // 3))],
        what=f"the funnel data set (about {entries:,} stage changes)",
        rebuild=rebuild,
    )


def measure(repeat: int) -> dict[str, dict[str, float]]:
    """Runs inside a Django process set up on the funnel database."""
    from datetime import timedelta

    import django

    django.setup()
    from django.contrib.auth.models import User
    from django.test import Client
    from django.utils import timezone

    from lifecycle.models import StageChange

    client = Client(HTTP_HOST="127.0.0.1")
    client.force_login(User.objects.get(username="manager"))
    today = timezone.localdate()
    urls = {
        "90 days": f"/reports/funnel/?start={today - timedelta(days=89)}&end={today}",
        "365 days": f"/reports/funnel/?start={today - timedelta(days=364)}&end={today}",
        "csv 365 days": f"/reports/funnel/export.csv?start={today - timedelta(days=364)}&end={today}",
    }
    out: dict[str, dict[str, float]] = {"rows": {"median": float(StageChange.objects.count()), "p95": 0.0}}
    out.update(requests_time(client, urls, repeat, warm=2))
    return out


def figures(
    *, quick: bool = False, rebuild: bool = False, entries: int = ENTRIES, database: str = FUNNEL_DATABASE
) -> list[Figure]:
    build(database, entries, rebuild)
    times = measured_in_django(__file__, database, 8998, 5 if quick else 15)
    rows = int(times["rows"]["median"])
    return [
        Figure(
            f"funnel report over {rows:,} stage changes, {period} (server time, median)",
            times[period]["median"],
            "ms",
            TARGET_MS,
            note=f"p95 {times[period]['p95']:.0f} ms; /reports/funnel/: counts, conversion, medians, "
            "four breakdowns, cohorts, trend, both charts",
        )
        for period in ("90 days", "365 days")
    ] + [
        Figure(
            f"funnel CSV over {rows:,} stage changes, 365 days (server time, median)",
            times["csv 365 days"]["median"],
            "ms",
            TARGET_MS,
            note=f"p95 {times['csv 365 days']['p95']:.0f} ms",
        )
    ]


if __name__ == "__main__":
    if len(sys.argv) > 2 and sys.argv[1] == "--measure":
        print(json.dumps(measure(int(sys.argv[2]))))
    else:
        parser = argparse.ArgumentParser(
            description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
        )
        parser.add_argument("--rebuild", action="store_true")
        parser.add_argument("--quick", action="store_true")
        parser.add_argument(
            "--entries", type=int, default=ENTRIES, help="stage changes to build (validate small)"
        )
        parser.add_argument("--database", default=FUNNEL_DATABASE)
        args = parser.parse_args()
        for figure in figures(
            quick=args.quick, rebuild=args.rebuild, entries=args.entries, database=args.database
        ):
            print(figure)

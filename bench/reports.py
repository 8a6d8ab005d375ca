"""The team performance report over a year of a busy team: 1,000,000 entries in 125,000 episodes.

The data set is built once with SQL (generate_series) in its own database and kept between runs
(`--rebuild` builds it again; `--episodes N` builds another size, e.g. a tiny one to try the script).
The episodes' report facts (`reports_episodemetrics`) are written by the same SQL, as the services would
have written them one episode at a time. Times are measured inside one Django process through the test
client, as a manager: the whole request (middleware, queries, template), no network.

    .venv/bin/python bench/reports.py [--rebuild] [--quick] [--episodes N]
"""

from __future__ import annotations

import json
import os
import sys
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from bench.common import DATABASE, Figure, data_set_build, measured_in_django, requests_time

REPORTS_DATABASE = os.environ.get(
    "BENCH_REPORTS_DATABASE_URL", DATABASE.rsplit("/", 1)[0] + "/hub_bench_reports"
)
EPISODES = 125_000
ENTRIES_PER_EPISODE = 8  # four customer messages, four answers
CUSTOMERS_PER_EPISODE = 0.5  # a customer comes back about twice a year

SETUP = """
from conversations.models import AgentProfile, Inbox, Team
from django.contrib.auth.models import User
hours = {day: [["09:00", "17:00"]] for day in ("mon", "tue", "wed", "thu", "fri")}
support, sales = Team.objects.create(name="Support"), Team.objects.create(name="Sales")
for n, team in enumerate([support, support, sales, sales]):
    Inbox.objects.create(name=f"Line {n}", kind="phone", address=f"+1415555010{n}", team=team,
                         time_zone="America/New_York", business_hours=hours)
for n in range(20):
    user = User.objects.create_user(f"agent{n}", password="bench-password-123")
    AgentProfile.objects.create(user=user, role="agent").teams.set([support if n % 2 == 0 else sales])
manager = User.objects.create_user("bench_manager", password="bench-password-123")
AgentProfile.objects.create(user=manager, role="manager")
"""


def populate(episodes: int) -> str:
    customers = max(1, int(episodes * CUSTOMERS_PER_EPISODE))
    # Episodes spread over the last 365 days; each a customer's (1 + e % customers), an inbox, an agent.
    return f"""
CREATE TEMP TABLE bench_ids AS SELECT
    (SELECT min(id) FROM conversations_inbox) AS inbox0,
    (SELECT min(id) FROM conversations_team) AS team0,
    (SELECT min(id) FROM auth_user) AS agent0;
INSERT INTO contacts_contact (id, name, attributes, created_at, updated_at)
SELECT g, 'Customer ' || g, '{{}}', now() - interval '400 days', now() FROM generate_series(1, {customers}) g;
INSERT INTO conversations_conversation (id, status, created_at, last_activity_at, waiting_since, last_inbound_at,
    last_inbound_channel, last_preview, last_preview_direction, assignee_id, contact_id, last_inbound_inbox_id,
    team_id, version)
SELECT g, 'resolved', now() - interval '400 days', now() - (g % 365) * interval '1 day', NULL,
    now() - (g % 365) * interval '1 day', 'sms', 'Thanks!', 'inbound', NULL, g,
    (SELECT inbox0 FROM bench_ids) + g % 4, NULL, 1
FROM generate_series(1, {customers}) g;
INSERT INTO conversations_conversationinbox (created_at, conversation_id, inbox_id, status, assignee_id, waiting,
    last_activity_at)
SELECT now(), id, last_inbound_inbox_id, status, assignee_id, false, last_activity_at
FROM conversations_conversation;
CREATE TEMP TABLE bench_episodes AS
SELECT e,
    1 + e % {customers} AS conversation_id,
    (SELECT inbox0 FROM bench_ids) + (1 + e % {customers}) % 4 AS inbox_id,
    (SELECT team0 FROM bench_ids) + ((1 + e % {customers}) % 4) / 2 AS team_id,
    (SELECT agent0 FROM bench_ids) + e % 20 AS agent_id,
    now() - interval '365 days' + (e::float / {episodes}) * interval '365 days' AS opened,
    (30 + (e::bigint * 7919) % 7200) AS frt_s,
    (600 + (e::bigint * 104729) % 172800) AS res_s,
    (ARRAY['sms', 'sms', 'whatsapp', 'email', 'webchat'])[1 + e % 5] AS channel
FROM generate_series(1, {episodes}) e;
INSERT INTO conversations_episode (id, conversation_id, team_id, assignee_id, opened_at, first_inbound_at,
    first_response_at, resolved_at)
SELECT e, conversation_id, team_id, agent_id, opened, opened, opened + frt_s * interval '1 second',
    opened + res_s * interval '1 second'
FROM bench_episodes;
INSERT INTO conversations_entry (kind, channel, direction, body, subject, event_type, data, created_at,
    updated_at, delivery_status, status_reason, provider, provider_id, from_address, to_address, attempts,
    version, conversation_id, origin_conversation_id, episode_id, inbox_id, author_id)
SELECT 'message', b.channel, CASE WHEN k % 2 = 0 THEN 'inbound' ELSE 'outbound' END,
    'message ' || k || ' of episode ' || b.e, '', '', '{{}}',
    b.opened + (k * b.frt_s) * interval '1 second', now(),
    CASE WHEN k % 2 = 0 THEN '' ELSE 'delivered' END, '', '', '', '', '', 0, 1,
    b.conversation_id, b.conversation_id, b.e, b.inbox_id, CASE WHEN k % 2 = 1 THEN b.agent_id END
FROM bench_episodes b, generate_series(0, {ENTRIES_PER_EPISODE - 1}) k;
INSERT INTO reports_episodemetrics (episode_id, opened_at, opened_weekday, opened_hour, inbox_id, channel,
    team_id, agent_id, first_response_s, first_response_bh_s, next_responses, next_response_total_s,
    next_response_bh_total_s, resolution_s, resolution_bh_s, rating)
SELECT e, opened,
    (extract(isodow FROM opened AT TIME ZONE 'America/New_York')::int - 1),
    extract(hour FROM opened AT TIME ZONE 'America/New_York')::int,
    inbox_id, channel, team_id, agent_id,
    frt_s, frt_s * 0.4, 3, 3 * frt_s, 3 * frt_s * 0.4, res_s, res_s * 0.3,
    CASE WHEN e % 10 < 3 THEN 1 + e % 5 END
FROM bench_episodes;
SELECT setval(pg_get_serial_sequence('contacts_contact', 'id'), {customers});
SELECT setval(pg_get_serial_sequence('conversations_conversation', 'id'), {customers});
SELECT setval(pg_get_serial_sequence('conversations_episode', 'id'), {episodes});
"""


def marker(episodes: int) -> str:
    return f"episodes={episodes} entries={episodes * ENTRIES_PER_EPISODE} v1"


def build(rebuild: bool, episodes: int) -> None:
    data_set_build(
        database=REPORTS_DATABASE,
        marker=marker(episodes),
        table="bench_reports_marker",
        port=8999,
        setup=SETUP,
        sql=[populate(episodes)],
        what=f"the reports data set ({episodes:,} episodes, {episodes * ENTRIES_PER_EPISODE:,} entries)",
        rebuild=rebuild,
    )


def measure(repeat: int) -> dict[str, dict[str, float]]:
    """Runs inside a Django process set up on the reports database."""
    import django

    django.setup()
    from django.contrib.auth.models import User
    from django.test import Client
    from django.utils import timezone

    manager = User.objects.get(username="bench_manager")
    agent = User.objects.get(username="agent3")
    client = Client(HTTP_HOST="127.0.0.1")
    client.force_login(manager)
    today = timezone.localdate()
    year = f"start={today.replace(year=today.year - 1).isoformat()}&end={today.isoformat()}"
    urls = {
        "year": f"/reports/performance/?{year}",
        "year clock": f"/reports/performance/?{year}&hours=clock",
        "year one agent": f"/reports/performance/?{year}&agent={agent.pk}",
        "year api": f"/api/v1/reports/performance/?{year}",
        "month": "/reports/performance/",
    }
    return requests_time(client, urls, repeat, warm=2)


def figures(*, quick: bool = False, rebuild: bool = False, episodes: int = EPISODES) -> list[Figure]:
    build(rebuild, episodes)
    times = measured_in_django(__file__, REPORTS_DATABASE, 8999, 5 if quick else 20)
    entries = episodes * ENTRIES_PER_EPISODE
    labels = {
        "year": "a year, business hours",
        "year clock": "a year, around the clock",
        "year one agent": "a year, one agent",
        "year api": "a year, through the API",
        "month": "the last 30 days (the page's default)",
    }
    return [
        Figure(
            f"performance report over {entries:,} entries, {label} (server time, p95)",
            times[name]["p95"],
            "ms",
            1000.0 if name != "month" else None,
            note=f"median {times[name]['median']:.0f} ms; {episodes:,} episodes in a year; overall, per channel, "
            "inbox, team and agent, per day and the weekday-hour heat map",
        )
        for name, label in labels.items()
    ]


if __name__ == "__main__":
    if len(sys.argv) > 2 and sys.argv[1] == "--measure":
        print(json.dumps(measure(int(sys.argv[2]))))
    else:
        size = EPISODES
        if "--episodes" in sys.argv:
            size = int(sys.argv[sys.argv.index("--episodes") + 1])
        for figure in figures(quick="--quick" in sys.argv, rebuild="--rebuild" in sys.argv, episodes=size):
            print(figure)

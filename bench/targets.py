"""The response-targets report over a year of a busy team: the performance report's data set (bench/reports.py:
125,000 episodes, 1,000,000 entries), with three targets per episode (first response, next response,
resolution) finished as its report facts say: 375,000 timers, some met, some missed.

The timers are written by SQL from the episodes' facts, once, on top of the reports data set (kept between runs
with its own marker). Times are measured in one Django process through the test client, as a manager.

    .venv/bin/python bench/targets.py [--rebuild] [--quick] [--episodes N]
"""

from __future__ import annotations

import json
import sys
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from bench import reports
from bench.common import Figure, measured_in_django, psql, requests_time

MARKER_TABLE = "bench_targets_marker"

TIMERS = """
DELETE FROM lifecycle_targettimer;
DELETE FROM lifecycle_responsetarget;
INSERT INTO lifecycle_responsetarget (name, inbox_id, team_id, stage_id, first_response_minutes,
    next_response_minutes, resolution_minutes, owner_touch_minutes, warn_percent, created_at)
SELECT 'Team ' || name, NULL, id, NULL, 15, 30, 600, NULL, 75, now() FROM conversations_team;
INSERT INTO lifecycle_targettimer (conversation_id, target_id, metric, state, inbox_id, team_id, agent_id,
    allowed_s, spent_s, started_at, running_since, due_at, warn_at, escalate_at, warned_at, escalated_at,
    breached_at, finished_at, over_s, overlapping)
SELECT e.conversation_id, t.id, k.metric, 'done', m.inbox_id, m.team_id, m.agent_id, k.allowed, k.spent,
    e.opened_at, NULL, NULL, NULL, NULL,
    CASE WHEN k.spent > 0.75 * k.allowed THEN e.opened_at + 0.75 * k.allowed * interval '1 second' END,
    CASE WHEN k.spent > 0.875 * k.allowed THEN e.opened_at + 0.875 * k.allowed * interval '1 second' END,
    CASE WHEN k.spent > k.allowed THEN e.opened_at + k.allowed * interval '1 second' END,
    e.opened_at + k.spent * interval '1 second', k.spent - k.allowed, ''
FROM conversations_episode e
JOIN reports_episodemetrics m ON m.episode_id = e.id
JOIN lifecycle_responsetarget t ON t.team_id = m.team_id
CROSS JOIN LATERAL (VALUES
    ('first_response', 900, m.first_response_bh_s),
    ('next_response', 1800, m.next_response_bh_total_s / 3),
    ('resolution', 36000, m.resolution_bh_s)
) AS k(metric, allowed, spent);
"""


def build(rebuild: bool, episodes: int) -> None:
    reports.build(rebuild, episodes)
    marker = f"{reports.marker(episodes)} targets v1"
    try:
        if (
            psql(reports.REPORTS_DATABASE, f"SELECT marker FROM {MARKER_TABLE}").strip() == marker
            and not rebuild
        ):
            return
    except Exception:
        pass
    print("adding the response targets' timers...", flush=True)
    psql(reports.REPORTS_DATABASE, TIMERS)
    psql(reports.REPORTS_DATABASE, "VACUUM ANALYZE lifecycle_targettimer")
    psql(
        reports.REPORTS_DATABASE,
        f"DROP TABLE IF EXISTS {MARKER_TABLE}; CREATE TABLE {MARKER_TABLE} (marker text); "
        f"INSERT INTO {MARKER_TABLE} VALUES ('{marker}')",
    )


def measure(repeat: int) -> dict[str, dict[str, float]]:
    """Runs inside a Django process set up on the reports database."""
    import django

    django.setup()
    from django.contrib.auth.models import User
    from django.test import Client
    from django.utils import timezone

    manager = User.objects.get(username="bench_manager")
    client = Client(HTTP_HOST="127.0.0.1")
    client.force_login(manager)
    today = timezone.localdate()
    year = f"start={today.replace(year=today.year - 1).isoformat()}&end={today.isoformat()}"
    urls = {
        "year": f"/reports/targets/?{year}",
        "year first response": f"/reports/targets/?{year}&metric=first_response",
        "quarter": "/reports/targets/",
    }
    return requests_time(client, urls, repeat, warm=2)


def figures(*, quick: bool = False, rebuild: bool = False, episodes: int = reports.EPISODES) -> list[Figure]:
    build(rebuild, episodes)
    count = psql(reports.REPORTS_DATABASE, "SELECT count(*) FROM lifecycle_targettimer").strip()
    times = measured_in_django(__file__, reports.REPORTS_DATABASE, 8999, 5 if quick else 20)
    labels = {
        "year": "a year, every kind",
        "year first response": "a year, first responses only",
        "quarter": "the last 90 days (the page's default)",
    }
    return [
        Figure(
            f"response-targets report over {int(count):,} finished targets, {label} (server time, p95)",
            times[name]["p95"],
            "ms",
            1000.0 if name != "quarter" else None,
            note=f"median {times[name]['median']:.0f} ms; met and missed per target, team and agent, and how late",
        )
        for name, label in labels.items()
    ]


if __name__ == "__main__":
    if len(sys.argv) > 2 and sys.argv[1] == "--measure":
        print(json.dumps(measure(int(sys.argv[2]))))
    else:
        size = reports.EPISODES
        if "--episodes" in sys.argv:
            size = int(sys.argv[sys.argv.index("--episodes") + 1])
        for figure in figures(quick="--quick" in sys.argv, rebuild="--rebuild" in sys.argv, episodes=size):
            print(figure)

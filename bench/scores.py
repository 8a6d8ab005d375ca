"""Lead scores at scale: every contact's score recomputed after an admin changes a weight, 100,000 contacts.

The data set (100,000 contacts with about five lead-score signals each: replies, pricing views, demos, where
they came from and their stage; 500,000 signal rows) is built once with SQL (generate_series) in its own
database, marked, and kept between runs (`--rebuild` builds it again). Times are measured inside one Django
process: `lead_score_weights_set` as the settings page calls it (validate, write the weight, move every score
holding the signal by the difference in one UPDATE ... FROM), on the weight of a reply, which every contact
has, each run with a different weight so all 100,000 scores change. For comparison, the full recompute from
the signals (`lead_scores_recompute`, one INSERT ... SELECT ... GROUP BY ... ON CONFLICT) is timed too.

    .venv/bin/python bench/scores.py [--rebuild] [--quick]
    .venv/bin/python bench/scores.py --contacts 1000 --database postgres://postgres@127.0.0.1:5432/hub_scores_try
"""

from __future__ import annotations

import argparse
import json
import os
import sys
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from bench.common import DATABASE, Figure, data_set_build, measured_in_django, percentile

SCORES_DATABASE = os.environ.get(
    "BENCH_SCORES_DATABASE_URL", DATABASE.rsplit("/", 1)[0] + "/hub_bench_scores"
)
CONTACTS = 100_000
TARGET_MS = 1000.0

SETUP = """
from conversations.models import Inbox, Team
from django.contrib.auth.models import User
from conversations.models import AgentProfile
team = Team.objects.create(name="Sales")
for n in range(4):
    Inbox.objects.create(name=f"Line {n}", kind="phone", address=f"+1415555010{n}", team=team)
admin = User.objects.create_user("admin", password="bench-password-123", is_staff=True, is_superuser=True)
"""


def populate_sql(contacts: int) -> str:
    """Contact g: replied 1 + g % 6 times, the last (g % 90) days ago; saw the pricing page g % 4 times; one in
    five booked a demo; came through one of three channels and four inboxes; one in three is qualified."""
    last = "now() - (g % 90) * interval '1 day'"
    # mass = count * 2^((t - 2025-01-01) / 30 days): what lifecycle.scores folds as the events happen
    mass = "power(2, extract(epoch from ({t}) - timestamptz '2025-01-01 00:00+00') / 86400 / 30)"
    return f"""
INSERT INTO contacts_contact (id, name, attributes, created_at, updated_at)
SELECT g, 'Lead ' || g, '{{}}', {last}, now() FROM generate_series(1, {contacts}) g;
INSERT INTO lifecycle_leadsignal (contact_id, signal, decays, count, mass, last_at)
SELECT g, 'reply', true, 1 + g % 6, (1 + g % 6) * {mass.format(t=last)}, {last}
FROM generate_series(1, {contacts}) g;
INSERT INTO lifecycle_leadsignal (contact_id, signal, decays, count, mass, last_at)
SELECT g, 'touchpoint:pricing_view', true, g % 4, (g % 4) * {mass.format(t=last)}, {last}
FROM generate_series(1, {contacts}) g WHERE g % 4 > 0;
INSERT INTO lifecycle_leadsignal (contact_id, signal, decays, count, mass, last_at)
SELECT g, 'touchpoint:demo_booked', true, 1, {mass.format(t=last)}, {last}
FROM generate_series(1, {contacts}) g WHERE g % 5 = 0;
INSERT INTO lifecycle_leadsignal (contact_id, signal, decays, count, mass, last_at)
SELECT g, 'source_channel:' || (ARRAY['sms', 'email', 'webchat'])[1 + g % 3], false, 1, 1, {last}
FROM generate_series(1, {contacts}) g;
INSERT INTO lifecycle_leadsignal (contact_id, signal, decays, count, mass, last_at)
SELECT g, 'source_inbox:' || ((SELECT min(id) FROM conversations_inbox) + g % 4), false, 1, 1, {last}
FROM generate_series(1, {contacts}) g;
INSERT INTO lifecycle_leadsignal (contact_id, signal, decays, count, mass, last_at)
SELECT g, 'stage:qualified', false, 1, 1, {last}
FROM generate_series(1, {contacts}) g WHERE g % 3 = 0;
"""


def build(database: str, contacts: int, rebuild: bool) -> None:
    data_set_build(
        database=database,
        marker=f"lead score contacts={contacts} v2",
        table="bench_scores_marker",
        port=8997,
        setup=SETUP,
        sql=[populate_sql(contacts)],
        what=f"the lead-score data set ({contacts:,} contacts)",
        rebuild=rebuild,
    )


def measure(repeat: int) -> dict[str, dict[str, float]]:
    """Runs inside a Django process set up on the scores database."""
    import statistics
    import time

    import django

    django.setup()
    from lifecycle.models import LeadScore, LeadSignal
    from lifecycle.scores import lead_score_weights_seed, lead_score_weights_set, lead_scores_recompute

    lead_score_weights_seed()
    lead_scores_recompute()  # warm: every score written once
    times, full = [], []
    for n in range(repeat):
        began = time.perf_counter()
        lead_score_weights_set(weights={"reply": 6 + n % 20})
        times.append((time.perf_counter() - began) * 1000)
    for _ in range(max(3, repeat // 3)):
        began = time.perf_counter()
        lead_scores_recompute()
        full.append((time.perf_counter() - began) * 1000)
    return {
        "weight change": {"median": statistics.median(times), "p95": percentile(times, 0.95)},
        "full recompute": {"median": statistics.median(full), "p95": percentile(full, 0.95)},
        "scores": {"median": float(LeadScore.objects.count()), "p95": 0.0},
        "signals": {"median": float(LeadSignal.objects.count()), "p95": 0.0},
    }


def figures(
    *, quick: bool = False, rebuild: bool = False, contacts: int = CONTACTS, database: str = SCORES_DATABASE
) -> list[Figure]:
    build(database, contacts, rebuild)
    times = measured_in_django(__file__, database, 8997, 5 if quick else 15)
    scores, signals = int(times["scores"]["median"]), int(times["signals"]["median"])
    return [
        Figure(
            f"lead scores recomputed after a weight change, {scores:,} contacts (median)",
            times["weight change"]["median"],
            "ms",
            TARGET_MS,
            note=f"p95 {times['weight change']['p95']:.0f} ms; the reply weight, which every contact holds; "
            f"{signals:,} signal rows; one UPDATE ... FROM, in the transaction that saves the weight",
        ),
        Figure(
            f"lead scores rewritten from every signal, {scores:,} contacts (median)",
            times["full recompute"]["median"],
            "ms",
            None,
            note=f"p95 {times['full recompute']['p95']:.0f} ms; manage.py lead_scores_rescore --weights-only",
        ),
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
            "--contacts", type=int, default=CONTACTS, help="contacts to build (validate small)"
        )
        parser.add_argument("--database", default=SCORES_DATABASE)
        args = parser.parse_args()
        for figure in figures(
            quick=args.quick, rebuild=args.rebuild, contacts=args.contacts, database=args.database
        ):
            print(figure)

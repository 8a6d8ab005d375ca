"""What automation rules cost an inbound message, in-process, against PostgreSQL.

Each message goes the whole way a real one goes in the worker: recorded (`inbound_event_process`), its events
dispatched to the consumers (`events_dispatch`, where the rules queue their runs) and the rules' runs applied
(`rule_runs_process`). Three set-ups:

- no rules;
- 100 enabled rules on message.received that do not match: 80 ruled out by what the event says (another
  channel, inbox or word) and 20 only by the thread (a stage, a priority, minutes since an agent's reply),
  which the dispatcher reads in one statement per batch of events;
- 10 enabled rules that match every message and each write a note.

The set-ups take turns in one fresh database and one process, round after round (only which rules are
switched on changes), because this machine's CPU speed wanders by up to 60% between minutes: a set-up run
after another would measure the drift. The figure for a set-up is the median over rounds of its cost minus
the no-rules cost of the same round. Python CPU time (`time.process_time`, this process only: PostgreSQL's
own work is in the wall time) and wall time per message, and statements per message. Messages come from
returning customers (warm threads).

    .venv/bin/python bench/rules.py [--count 100] [--rounds 5]
"""

from __future__ import annotations

import argparse
import json
import os
import statistics
import subprocess
import sys
import time
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parent.parent
DATABASE = os.environ.get("BENCH_RULES_DATABASE_URL", "postgres://postgres@127.0.0.1:5432/hub_bench_rules")
REDIS = os.environ.get("BENCH_REDIS_URL", "redis://127.0.0.1:6379/11")
SETUPS = ("none", "100 not matching", "10 matching")


def make_rules() -> None:
    """Both sets of rules, switched on and off by the rounds."""
    from django.contrib.auth.models import User

    from conversations.models import Inbox
    from rules.services import rule_save

    admin = User.objects.create_superuser("bench-admin", "admin@bench.example", "x")
    other = Inbox.objects.create(kind=Inbox.PHONE, address="+14155550999", name="Other")
    # 100 that do not match.
    event_level: list[dict[str, Any]] = [
        {"field": "channel", "op": "is", "value": "whatsapp"},
        {"field": "inbox", "op": "is", "value": other.pk},
        {"field": "text", "op": "contains", "value": "refund please"},
        {"field": "text", "op": "matches", "value": r"order\s+#\d{6}"},
    ]
    thread_level: list[dict[str, Any]] = [
        {"field": "stage", "op": "is", "value": "customer"},
        {"field": "priority", "op": "is", "value": "urgent"},
        {"field": "team", "op": "is_empty"},
    ]
    for n in range(100):
        condition = event_level[n % 4] if n < 80 else thread_level[n % 3]
        if condition["field"] == "team":
            condition = {"field": "minutes_since_agent_reply", "op": "less_than", "value": 5}
        rule_save(
            by=admin,
            name=f"Not matching {n}",
            event_type="message.received",
            conditions=[condition],
            actions=[{"type": "add_note", "text": "never"}],
        )
    # 10 that match every message and write a note each.
    for n in range(10):
        rule_save(
            by=admin,
            name=f"Matching {n}",
            event_type="message.received",
            conditions=[{"field": "channel", "op": "is", "value": "sms"}],
            actions=[{"type": "add_note", "text": f"Rule {n} saw this"}],
        )


def measure(count: int, rounds: int) -> str:
    """Runs inside a fresh Django process. The three set-ups take turns, round after round, in one database
    and one process (only which rules are switched on changes), so the machine's drift between rounds falls
    on all three alike; each round's figure is compared with the no-rules figure of the same round."""
    import django

    django.setup()
    from django.core.management import call_command
    from django.db import connection

    from bench.worker_cost import sms_stored
    from channels_adapters.inbound import inbound_event_process
    from conversations.models import Entry, Inbox
    from events import services as events_services
    from rules import services as rules_services
    from rules.models import Rule

    call_command("migrate", verbosity=0)
    Inbox.objects.get_or_create(kind=Inbox.PHONE, address="+14155550100", defaults={"name": "Main"})
    make_rules()
    # Each step is called here, in order, as the worker's tasks would run them: no task is queued.
    events_services._dispatch_after_commit = lambda: None
    setattr(rules_services, "enqueue_on_commit", lambda *args, **kwargs: None)  # noqa: B010

    def one(event_id: int) -> None:
        inbound_event_process(event_id=event_id)
        events_services.events_dispatch()
        rules_services.rule_runs_process()

    for n in range(count):  # the customers write a first time, off the clock: their threads exist
        one(sms_stored(n))
    statements = 0

    def counted(execute: Any, sql: str, params: Any, many: bool, context: Any) -> Any:
        nonlocal statements
        statements += 1
        return execute(sql, params, many, context)

    seen: dict[str, list[dict[str, float]]] = {setup: [] for setup in SETUPS}
    for round_ in range(rounds):
        order = SETUPS[round_ % 3 :] + SETUPS[: round_ % 3]
        for setup in order:
            Rule.objects.update(enabled=False)
            Rule.objects.filter(name__startswith=PREFIX[setup]).update(enabled=True)
            ids = [sms_stored(n) for n in range(count)]
            notes_before = Entry.objects.filter(kind="note").count()
            statements = 0
            with connection.execute_wrapper(counted):  # a counter: no log, which keeps only 9,000 statements
                cpu, wall = time.process_time(), time.perf_counter()
                for event_id in ids:
                    one(event_id)
                cpu, wall = time.process_time() - cpu, time.perf_counter() - wall
            seen[setup].append(
                {
                    "cpu_ms": cpu * 1000 / count,
                    "wall_ms": wall * 1000 / count,
                    "statements": statements / count,
                    "notes": (Entry.objects.filter(kind="note").count() - notes_before) / count,
                }
            )
    result: dict[str, dict[str, float]] = {}
    for setup in SETUPS:
        rows = seen[setup]
        result[setup] = {key: statistics.median(row[key] for row in rows) for key in rows[0]}
        # The added cost: the median over rounds of (this set-up - no rules) within the same round.
        result[setup]["added_cpu_ms"] = statistics.median(
            row["cpu_ms"] - base["cpu_ms"] for row, base in zip(rows, seen["none"], strict=True)
        )
        result[setup]["added_wall_ms"] = statistics.median(
            row["wall_ms"] - base["wall_ms"] for row, base in zip(rows, seen["none"], strict=True)
        )
    lines = [
        f"{setup:17}: {got['cpu_ms']:6.2f} ms CPU ({got['added_cpu_ms']:+.2f}), {got['wall_ms']:6.2f} ms wall "
        f"({got['added_wall_ms']:+.2f}), {got['statements']:5.1f} statements per message "
        f"({got['notes']:.0f} rule notes per message)"
        for setup, got in result.items()
    ]
    return "\n".join([*lines, json.dumps(result)])


PREFIX = {"none": "no rule is named so", "100 not matching": "Not matching", "10 matching": "Matching"}


def run(count: int, rounds: int) -> str:
    admin = DATABASE.rsplit("/", 1)[0] + "/postgres"
    name = DATABASE.rsplit("/", 1)[1]
    for sql in (f"DROP DATABASE IF EXISTS {name} WITH (FORCE)", f"CREATE DATABASE {name}"):
        subprocess.run(["psql", admin, "-qc", sql], check=True, capture_output=True)
    env = {
        **os.environ,
        "DATABASE_URL": DATABASE,
        "REDIS_URL": REDIS,
        "DB_POOL": "0",
        "DJANGO_SETTINGS_MODULE": "config.settings",
        "PYTHONPATH": str(ROOT),
    }
    args = [sys.executable, __file__, "--measure", "--count", str(count), "--rounds", str(rounds)]
    return subprocess.run(args, env=env, cwd=ROOT, check=True, capture_output=True, text=True).stdout.rstrip()


def figures(*, quick: bool = False) -> list[Any]:
    """For `make bench`: CPU the rules add to one inbound message, with 100 that do not match and 10 that do."""
    from bench.common import Figure

    results = json.loads(run(50 if quick else 100, 3 if quick else 5).splitlines()[-1])
    base = results["none"]
    figures = [
        Figure(
            "rules: Python CPU per inbound message, no rules",
            round(base["cpu_ms"], 2),
            "ms",
            note=f"{base['wall_ms']:.2f} ms wall, {base['statements']:.1f} statements; recorded, dispatched, "
            "rules applied",
        )
    ]
    for setup, target, rule in (
        ("100 not matching", 1.0, "at most 1 ms more than with no rules"),
        ("10 matching", None, ""),
    ):
        got = results[setup]
        figures.append(
            Figure(
                f"rules: Python CPU added per inbound message, {setup}",
                round(got["added_cpu_ms"], 2),
                "ms",
                target,
                rule=rule,
                note=f"{got['added_wall_ms']:+.2f} ms wall, "
                f"{got['statements'] - base['statements']:+.1f} statements; median of rounds against the "
                "same round without rules"
                + (
                    "; 80 ruled out by the event, 20 by the thread"
                    if setup.startswith("100")
                    else "; a note each"
                ),
            )
        )
    return figures


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--count", type=int, default=100, help="messages per set-up and round")
    parser.add_argument("--rounds", type=int, default=5)
    parser.add_argument("--measure", action="store_true", help=argparse.SUPPRESS)
    args = parser.parse_args()
    if args.measure:
        print(measure(args.count, args.rounds))
        return
    print("\n".join(run(args.count, args.rounds).splitlines()[:-1]), flush=True)


if __name__ == "__main__":
    main()

"""What the domain event outbox costs the inbound path, in-process, against PostgreSQL.

Stores N signed-SMS payloads and records them through `inbound_event_process`, one task per event, as the
inbound queue does: first from N new customers (contact.created, conversation.opened, message.received,
stage.changed), then N more from the same customers (message.received). Each pass runs twice, with the
outbox and with its writes switched off, so the statements and time the outbox adds are measured, not guessed.

    .venv/bin/python bench/outbox.py [--count 100]
"""

from __future__ import annotations

import argparse
import json
import os
import subprocess
import sys
import time
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parent.parent
DATABASE = os.environ.get("BENCH_OUTBOX_DATABASE_URL", "postgres://postgres@127.0.0.1:5432/hub_bench_outbox")
REDIS = os.environ.get("BENCH_REDIS_URL", "redis://127.0.0.1:6379/11")


def measure(count: int, outbox: bool) -> str:
    """Runs inside a fresh Django process."""
    import django

    django.setup()
    from django.core.management import call_command
    from django.db import connection
    from django.test.utils import CaptureQueriesContext

    from bench.worker_cost import sms_stored
    from channels_adapters.inbound import inbound_event_process
    from conversations.models import Inbox
    from events import services as events_services
    from events.models import DomainEvent

    call_command("migrate", verbosity=0)
    Inbox.objects.get_or_create(kind=Inbox.PHONE, address="+14155550100", defaults={"name": "Main"})
    if not outbox:
        events_services._write = lambda events: None  # type: ignore[assignment]
    # Dispatch happens after commit, in another task: not part of the inbound path measured here.
    events_services._dispatch_after_commit = lambda: None  # type: ignore[assignment]

    inbound_event_process(event_id=sms_stored(count))  # warm, off the clock
    lines = []
    results: dict[str, dict[str, float]] = {}
    for label in ("new customers", "returning customers"):
        ids = [sms_stored(n) for n in range(count)]
        written_before = DomainEvent.objects.count()
        connection.queries_log.clear()  # the capture keeps the last 9,000 statements only
        began = time.perf_counter()
        with CaptureQueriesContext(connection) as queries:
            for event_id in ids:
                inbound_event_process(event_id=event_id)
        elapsed = time.perf_counter() - began
        written = DomainEvent.objects.count() - written_before
        inserts = sum(1 for q in queries if q["sql"].startswith('INSERT INTO "events_domainevent"'))
        results[label] = {
            "statements": len(queries) / count,
            "outbox_inserts": inserts / count,
            "events_per_s": written / elapsed,
        }
        lines.append(
            f"{'outbox on ' if outbox else 'outbox off'} {label:20}: {count / elapsed:6.0f} messages/s, "
            f"{len(queries) / count:5.1f} statements/message ({inserts / count:.2f} outbox INSERTs), "
            f"{written / count:.1f} events/message, {written / elapsed:6.0f} events written/s"
        )
    return "\n".join([*lines, json.dumps(results)])


def run(count: int, outbox: bool) -> str:
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
    args = [sys.executable, __file__, "--measure", "--count", str(count), *([] if outbox else ["--off"])]
    return subprocess.run(args, env=env, cwd=ROOT, check=True, capture_output=True, text=True).stdout.rstrip()


def figures(*, quick: bool = False) -> list[Any]:
    """For `make bench`: the statements the outbox adds per inbound message, and the events it writes a second."""
    from bench.common import Figure

    count = 50 if quick else 100
    off, on = (json.loads(run(count, outbox).splitlines()[-1]) for outbox in (False, True))
    result = []
    for label in ("new customers", "returning customers"):
        added = on[label]["statements"] - off[label]["statements"]
        result.append(
            Figure(
                f"outbox: statements added per inbound message, {label}",
                round(added, 2),
                "statements",
                1.0,
                rule="at most one INSERT per message",
                note=f"{on[label]['outbox_inserts']:.2f} outbox INSERTs per message; "
                f"{on[label]['statements']:.1f} statements in all",
            )
        )
        result.append(
            Figure(
                f"outbox: events written a second on the inbound path, {label}",
                round(on[label]["events_per_s"], 1),
                "events/s",
                better="higher",
                note="one worker process, in-process, one task per message",
            )
        )
    return result


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--count", type=int, default=100)  # query capture keeps the last 9,000 queries
    parser.add_argument("--measure", action="store_true", help=argparse.SUPPRESS)
    parser.add_argument("--off", action="store_true", help=argparse.SUPPRESS)
    args = parser.parse_args()
    if args.measure:
        print(measure(args.count, outbox=not args.off))
        return
    for outbox in (False, True):
        print(run(args.count, outbox), flush=True)


if __name__ == "__main__":
    main()

"""What one inbound message costs the worker, in-process: CPU milliseconds and queries per message.

Stores N signed-SMS payloads from N new customers, then processes them through `inbound_event_process` as the
inbound queue's tasks would (one task per event, in order), once with one event per transaction and once
with the batched claims (INBOUND_BATCH). Frames are published to Redis as in production; nobody listens.
A profile of where the time goes is one flag away.

    .venv/bin/python bench/worker_cost.py [--count 300] [--batch 20] [--profile]
"""

from __future__ import annotations

import argparse
import cProfile
import os
import pstats
import secrets
import subprocess
import sys
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
DATABASE = os.environ.get("BENCH_WORKER_DATABASE_URL", "postgres://postgres@127.0.0.1:5432/hub_bench_worker")
REDIS = os.environ.get("BENCH_REDIS_URL", "redis://127.0.0.1:6379/11")


def sms_stored(n: int) -> int:
    """One signed-SMS inbound event from customer number `n`, stored as the webhook stores it (Django set up)."""
    from channels_adapters.inbound import inbound_event_store

    sid = "SM" + secrets.token_hex(16)
    event, _ = inbound_event_store(
        kind="twilio_messaging",
        idempotency_key=f"twilio:message:{sid}",
        payload={
            "MessageSid": sid,
            "AccountSid": "AC" + "b" * 32,
            "From": f"+1415{n:07d}",
            "To": "+14155550100",
            "Body": "hello, is the blue trail runner in stock in a size 10?",
            "NumMedia": "0",
        },
    )
    return int(event.pk)


def measure(count: int, batch: int, profile: bool) -> str:
    """Runs inside a fresh Django process (settings read INBOUND_BATCH from the environment)."""
    import django

    django.setup()
    from django.core.management import call_command
    from django.db import connection
    from django.test.utils import CaptureQueriesContext

    from channels_adapters.inbound import inbound_event_process
    from conversations.models import Inbox

    call_command("migrate", verbosity=0)
    Inbox.objects.get_or_create(kind=Inbox.PHONE, address="+14155550100", defaults={"name": "Main"})

    inbound_event_process(
        event_id=sms_stored(count)
    )  # warm (imports, templates, the publisher loop), off the clock
    ids = [sms_stored(n) for n in range(count)]
    profiler = cProfile.Profile(time.process_time)
    began = time.process_time()
    with CaptureQueriesContext(connection) as queries:
        if profile:
            profiler.enable()
        for event_id in ids:  # each event's own task, in order; under batching most find theirs done
            inbound_event_process(event_id=event_id)
        profiler.disable()
    cpu_ms = (time.process_time() - began) / count * 1000
    if profile:
        pstats.Stats(profiler).sort_stats("cumulative").print_stats(30)
    return f"batch {batch}: {cpu_ms:.1f} ms CPU and {len(queries) / count:.1f} queries per message ({count} messages)"


def run(count: int, batch: int, profile: bool) -> str:
    admin = DATABASE.rsplit("/", 1)[0] + "/postgres"
    name = DATABASE.rsplit("/", 1)[1]
    for sql in (f"DROP DATABASE IF EXISTS {name} WITH (FORCE)", f"CREATE DATABASE {name}"):
        subprocess.run(["psql", admin, "-qc", sql], check=True, capture_output=True)
    env = {
        **os.environ,
        "DATABASE_URL": DATABASE,
        "REDIS_URL": REDIS,
        "DB_POOL": "0",
        "INBOUND_BATCH": str(batch),
        "DJANGO_SETTINGS_MODULE": "config.settings",
        "PYTHONPATH": str(ROOT),
    }
    args = [sys.executable, __file__, "--measure", "--count", str(count), "--batch", str(batch)]
    out = subprocess.run(
        [*args, *(["--profile"] if profile else [])],
        env=env,
        cwd=ROOT,
        check=True,
        capture_output=True,
        text=True,
    ).stdout
    return out.rstrip()


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--count", type=int, default=300)  # query capture keeps the last 9,000 queries
    parser.add_argument("--batch", type=int, default=20)
    parser.add_argument("--profile", action="store_true")
    parser.add_argument("--measure", action="store_true", help=argparse.SUPPRESS)
    args = parser.parse_args()
    if args.measure:
        print(measure(args.count, args.batch, args.profile))
        return
    for batch in (1, args.batch):
        print(run(args.count, batch, args.profile), flush=True)


if __name__ == "__main__":
    main()

"""The machine's own limits, measured in the same run: PostgreSQL single-row inserts and Redis publishes."""

from __future__ import annotations

import re
import subprocess
import tempfile
from urllib.parse import urlsplit

from bench.common import DATABASE, REDIS, Figure, psql

PG_CLIENTS = 8


def pg_insert_rate(seconds: int = 10) -> Figure:
    """pgbench with one single-row INSERT per transaction, several clients, as pgbench does it."""
    admin = DATABASE.rsplit("/", 1)[0] + "/postgres"
    psql(admin, "DROP DATABASE IF EXISTS hub_bench_pgbench WITH (FORCE)")
    psql(admin, "CREATE DATABASE hub_bench_pgbench")
    target = DATABASE.rsplit("/", 1)[0] + "/hub_bench_pgbench"
    psql(target, "CREATE TABLE rows (id bigserial PRIMARY KEY, sid text UNIQUE, body text, at timestamptz)")
    with tempfile.NamedTemporaryFile("w", suffix=".sql") as script:
        # A row the size of a stored webhook, with a unique key as the hub's idempotency key is.
        script.write(
            "INSERT INTO rows (sid, body, at) VALUES "
            "(md5(random()::text || clock_timestamp()::text), repeat('x', 400), now());\n"
        )
        script.flush()
        url = urlsplit(target)
        out = subprocess.run(
            [
                "pgbench",
                "-h",
                url.hostname or "127.0.0.1",
                "-p",
                str(url.port or 5432),
                "-U",
                url.username or "postgres",
                "-n",
                "-f",
                script.name,
                "-c",
                str(PG_CLIENTS),
                "-j",
                "2",
                "-T",
                str(seconds),
                "hub_bench_pgbench",
            ],
            check=True,
            capture_output=True,
            text=True,
        ).stdout
    psql(admin, "DROP DATABASE IF EXISTS hub_bench_pgbench WITH (FORCE)")
    match = re.search(r"tps = ([\d.]+)", out)
    assert match, out
    return Figure(
        "PostgreSQL single-row inserts (pgbench, 8 clients)",
        float(match.group(1)),
        "rows/s",
        note="baseline",
    )


def redis_publish_rate(requests: int = 200_000) -> Figure:
    url = urlsplit(REDIS)
    out = subprocess.run(
        [
            "redis-benchmark",
            "-h",
            url.hostname or "127.0.0.1",
            "-p",
            str(url.port or 6379),
            "-n",
            str(requests),
            "-c",
            "50",
            "-q",
            "PUBLISH",
            "bench.channel",
            "x" * 256,
        ],
        check=True,
        capture_output=True,
        text=True,
    ).stdout
    match = re.search(r"([\d.]+) requests per second", out)
    assert match, out
    return Figure("Redis PUBLISH, 256 bytes (redis-benchmark, 50 clients)", float(match.group(1)), "msg/s")


def reference(figure: Figure) -> dict[str, object]:
    return {"name": figure.name, "value": figure.value, "unit": figure.unit}

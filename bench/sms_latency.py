"""Webhook answer time and webhook-to-agent-screen latency, with the hub running as in production.

PostgreSQL, Redis, one uvicorn process and Celery workers run as separate processes; the load generator
posts signed Twilio SMS webhooks at a fixed rate and an agent's websocket listens for each message's frame.

    make bench            # or: .venv/bin/python bench/sms_latency.py --rate 50 --count 1000
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import json
import os
import resource
import secrets
import statistics
import subprocess
import sys
import time
from pathlib import Path

import httpx
import websockets
from twilio.request_validator import RequestValidator

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

from tests.live import processes, wait_http  # noqa: E402

DATABASE = os.environ.get("BENCH_DATABASE_URL", "postgres://postgres@127.0.0.1:5432/hub_bench")
REDIS = os.environ.get("BENCH_REDIS_URL", "redis://127.0.0.1:6379/5")
ACCOUNT_SID = "AC" + "b" * 32
AUTH_TOKEN = "b" * 32
BUSINESS = "+14155550100"


def percentile(values: list[float], q: float) -> float:
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, round(q * (len(ordered) - 1)))]


def prepare(env: dict[str, str]) -> tuple[str, str]:
    """A fresh database with one team, one inbox and one agent; returns the agent's login."""
    name = DATABASE.rsplit("/", 1)[1]
    admin = DATABASE.rsplit("/", 1)[0] + "/postgres"
    subprocess.run(["psql", admin, "-qc", f"DROP DATABASE IF EXISTS {name}"], check=True)
    subprocess.run(["psql", admin, "-qc", f"CREATE DATABASE {name}"], check=True)
    subprocess.run(
        [sys.executable, "-c", "import redis,sys; redis.Redis.from_url(sys.argv[1]).flushdb()", REDIS],
        check=True,
    )
    subprocess.run([sys.executable, "manage.py", "migrate", "-v0"], cwd=ROOT, env=env, check=True)
    password = secrets.token_urlsafe(12)
    script = f"""
from conversations.models import AgentProfile, Inbox, Team
from django.contrib.auth.models import User
team = Team.objects.create(name="Support")
Inbox.objects.create(name="Support line", kind="phone", address="{BUSINESS}", team=team)
user = User.objects.create_user("bench_agent", password="{password}")
AgentProfile.objects.create(user=user, role="agent").teams.set([team])
"""
    subprocess.run([sys.executable, "manage.py", "shell", "-c", script], cwd=ROOT, env=env, check=True)
    return "bench_agent", password


async def login(base: str, username: str, password: str) -> str:
    async with httpx.AsyncClient(base_url=base) as client:
        page = await client.get("/accounts/login/")
        token = page.cookies["csrftoken"]
        response = await client.post(
            "/accounts/login/",
            data={"username": username, "password": password, "csrfmiddlewaretoken": token},
            headers={"Referer": f"{base}/accounts/login/"},
        )
        assert response.status_code == 302, response.text
        return str(client.cookies["sessionid"])


async def run(base: str, session: str, rate: float, count: int) -> dict[str, list[float]]:
    url = f"{base}/webhooks/twilio/messaging/"
    validator = RequestValidator(AUTH_TOKEN)
    sent_at: dict[str, float] = {}
    answer_ms: list[float] = []
    screen_ms: list[float] = []
    statuses: dict[int, int] = {}
    done = asyncio.Event()

    async with websockets.connect(
        f"{base.replace('http', 'ws')}/ws/agent/",
        origin=base,
        additional_headers={"Cookie": f"sessionid={session}"},
        max_size=None,
    ) as socket:
        await socket.recv()

        async def listen() -> None:
            async for raw in socket:
                now = time.perf_counter()
                frame = json.loads(raw)
                row = frame.get("row", "")
                start = row.find("bench-")
                if start < 0:
                    continue
                token = row[start : start + 22]
                if token in sent_at and sent_at[token] > 0:
                    screen_ms.append((now - sent_at.pop(token)) * 1000)
                    if len(screen_ms) == count:
                        done.set()

        listener = asyncio.create_task(listen())
        limits = httpx.Limits(max_connections=64, max_keepalive_connections=64)
        async with httpx.AsyncClient(limits=limits, timeout=30) as client:

            async def post(n: int) -> None:
                token = f"bench-{n:016d}"
                params = {
                    "MessageSid": f"SM{secrets.token_hex(16)}",
                    "AccountSid": ACCOUNT_SID,
                    "From": f"+1415555{n % 9000 + 1000:04d}",
                    "To": BUSINESS,
                    "Body": f"{token} hello",
                    "NumMedia": "0",
                    "SmsStatus": "received",
                    "ApiVersion": "2010-04-01",
                }
                headers = {"X-Twilio-Signature": validator.compute_signature(url, params)}
                began = time.perf_counter()
                sent_at[token] = began
                response = await client.post(url, data=params, headers=headers)
                answer_ms.append((time.perf_counter() - began) * 1000)
                statuses[response.status_code] = statuses.get(response.status_code, 0) + 1

            tasks = []
            t0 = time.perf_counter()
            for n in range(count):
                delay = t0 + n / rate - time.perf_counter()
                if delay > 0:
                    await asyncio.sleep(delay)
                tasks.append(asyncio.create_task(post(n)))
            await asyncio.gather(*tasks)
            elapsed = time.perf_counter() - t0
            with contextlib.suppress(TimeoutError):
                await asyncio.wait_for(done.wait(), timeout=60)
        listener.cancel()
    return {
        "answer_ms": answer_ms,
        "screen_ms": screen_ms,
        "offered_rate": [count / elapsed],
        "statuses": [float(statuses.get(200, 0))],
        "count": [float(count)],
    }


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--rate", type=float, default=50.0, help="webhooks per second")
    parser.add_argument("--count", type=int, default=1000)
    parser.add_argument("--port", type=int, default=8765)
    args = parser.parse_args()

    env = {
        **os.environ,
        "DATABASE_URL": DATABASE,
        "REDIS_URL": REDIS,
        "PUBLIC_BASE_URL": f"http://127.0.0.1:{args.port}",
        "TWILIO_ACCOUNT_SID": ACCOUNT_SID,
        "TWILIO_AUTH_TOKEN": AUTH_TOKEN,
        "LOG_LEVEL": "WARNING",
        "HUB_VAR_DIR": "/tmp/hub-bench-var",
        "SECRET_KEY": "bench-" + "x" * 40,
    }
    username, password = prepare(env)
    base = f"http://127.0.0.1:{args.port}"
    with processes(ROOT / "bench" / "results" / "logs") as running:
        running.web(env, args.port)
        running.worker(env, name="inbound", queues="inbound", concurrency=2)
        running.worker(env, name="default", queues="outbound,default", concurrency=1)
        wait_http(f"{base}/readyz")
        time.sleep(2)  # the workers connect to the broker
        session = asyncio.run(login(base, username, password))
        cpu_before = resource.getrusage(resource.RUSAGE_SELF)
        wall_before = time.perf_counter()
        result = asyncio.run(run(base, session, args.rate, args.count))
        cpu_after = resource.getrusage(resource.RUSAGE_SELF)
        wall = time.perf_counter() - wall_before

    answers, screens = result["answer_ms"], result["screen_ms"]
    load_cpu = (
        (cpu_after.ru_utime - cpu_before.ru_utime + cpu_after.ru_stime - cpu_before.ru_stime) / wall * 100
    )
    rows = [
        ("webhook answer time, median", statistics.median(answers), "ms", None),
        ("webhook answer time, p95", percentile(answers, 0.95), "ms", None),
        ("webhook answer time, p99", percentile(answers, 0.99), "ms", None),
        (
            "webhook to agent's websocket, median",
            statistics.median(screens) if screens else float("nan"),
            "ms",
            30.0,
        ),
        (
            "webhook to agent's websocket, p99",
            percentile(screens, 0.99) if screens else float("nan"),
            "ms",
            150.0,
        ),
        ("frames received / webhooks sent", len(screens) / args.count * 100, "%", 100.0),
        ("webhooks answered 200", result["statuses"][0] / args.count * 100, "%", 100.0),
        ("offered rate", result["offered_rate"][0], "msg/s", None),
        ("load generator CPU", load_cpu, "% of one core", None),
    ]
    results = []
    print(
        f"\n{args.count} signed SMS webhooks at {args.rate:g}/s against uvicorn + 2 Celery workers + PostgreSQL + Redis"
    )
    print(f"{'figure':45} {'value':>10}  unit        target")
    for name, value, unit, target in rows:
        # Percentages are floors (all frames arrive); times are ceilings.
        met = None if target is None else (value >= target if unit == "%" else value <= target)
        results.append(
            {
                "name": name,
                "value": round(value, 2),
                "unit": unit,
                "target": target,
                "reference": None,
                "met": met,
            }
        )
        print(
            f"{name:45} {value:10.1f}  {unit:11} {'' if target is None else target}"
            f"{'' if met is None else ('  met' if met else '  MISSED')}"
        )
    out = ROOT / "bench" / "results" / "latest.json"
    out.write_text(json.dumps(results, indent=2))
    print(f"\nwritten to {out.relative_to(ROOT)}")


if __name__ == "__main__":
    main()

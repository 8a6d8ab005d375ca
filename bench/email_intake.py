"""Email intake, as in production: messages a second taken in by `ingest_email` (one process per message, as
an MTA's pipe runs it) and by anymail's inbound webhook (Mailgun's format, signed, behind the webhook secret).

Each figure counts messages stored durably (the command exited 0, the webhook answered 200), then waits for
the workers to turn them into entries and reports how many made it.
"""

from __future__ import annotations

import asyncio
import base64
import hashlib
import hmac
import subprocess
import sys
import time
from concurrent.futures import ThreadPoolExecutor
from urllib.parse import urlencode

import httpx

from bench.common import DATABASE, ROOT, Figure, Hub, hub_running, manage, psql

SECRET = "bench:bench-webhook-secret"
SIGNING_KEY = "bench-mailgun-signing-key"
EMAIL_INBOX = """
from conversations.models import Inbox, Team
Inbox.objects.create(name="Support email", kind="email", address="support@bench.example", team=Team.objects.get())
"""


def message(n: int, tag: str) -> bytes:
    return (
        f"From: Customer {n} <customer{n % 500}@mail.example>\r\nTo: support@bench.example\r\n"
        f"Subject: Question {n}\r\nMessage-ID: <{tag}-{n}@bench.example>\r\nMIME-Version: 1.0\r\n"
        f"Content-Type: text/plain; charset=utf-8\r\n\r\nHello, this is question {n} about my order.\r\n"
    ).encode()


def _entries(tag: str) -> int:
    return int(
        psql(DATABASE, f"SELECT count(*) FROM channels_adapters_emailmessage WHERE message_id LIKE '{tag}-%'")
    )


def _drain(tag: str, stored: int, timeout: float = 60) -> int:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        done = _entries(tag)
        if done >= stored:
            return done
        time.sleep(0.5)
    return _entries(tag)


def ingest_rate(hub: Hub, *, seconds: float, concurrency: int) -> tuple[float, dict[str, float]]:
    """`manage.py ingest_email` processes started back to back, `concurrency` at a time, for `seconds`."""
    tag = "pipe"

    def one(n: int) -> int:
        return subprocess.run(
            [sys.executable, "manage.py", "ingest_email", "--recipient", "support@bench.example"],
            input=message(n, tag),
            cwd=ROOT,
            env=env,
            capture_output=True,
            check=False,
        ).returncode

    # As installed for an MTA, with bytecode cached: a warm-up run writes it (the environment may forbid it).
    env = {k: v for k, v in hub.env.items() if k != "PYTHONDONTWRITEBYTECODE"}
    subprocess.run(
        [sys.executable, "manage.py", "ingest_email"],
        input=message(-1, "warmup"),
        cwd=ROOT,
        env=env,
        check=False,
    )
    stored = failed = 0
    started = time.perf_counter()
    n = 0
    with ThreadPoolExecutor(concurrency) as pool:
        while time.perf_counter() - started < seconds:
            batch = list(pool.map(one, range(n, n + concurrency)))
            n += concurrency
            stored += batch.count(0)
            failed += len(batch) - batch.count(0)
    elapsed = time.perf_counter() - started
    return stored / elapsed, {"stored": stored, "failed": failed, "entries": _drain(tag, stored)}


def _mailgun_form(raw: bytes, n: int) -> bytes:
    timestamp, token = str(int(time.time())), f"{n:050d}"
    signature = hmac.new(SIGNING_KEY.encode(), f"{timestamp}{token}".encode(), hashlib.sha256).hexdigest()
    return urlencode(
        {
            "body-mime": raw.decode(),
            "recipient": "support@bench.example",
            "timestamp": timestamp,
            "token": token,
            "signature": signature,
        }
    ).encode()


def webhook_rate(hub: Hub, *, seconds: float, concurrency: int) -> tuple[float, dict[str, float]]:
    tag = "hook"
    bodies = [_mailgun_form(message(n, tag), n) for n in range(20_000)]  # signed before the clock starts
    auth = "Basic " + base64.b64encode(SECRET.encode()).decode()
    headers = {"Authorization": auth, "Content-Type": "application/x-www-form-urlencoded"}
    counts = {"ok": 0, "other": 0}
    next_n = 0

    async def client_loop(client: httpx.AsyncClient, deadline: float) -> None:
        nonlocal next_n
        while time.perf_counter() < deadline and next_n < len(bodies):
            body = bodies[next_n]
            next_n += 1
            response = await client.post("/anymail/mailgun/inbound/", content=body, headers=headers)
            counts["ok" if response.status_code == 200 else "other"] += 1

    async def run() -> float:
        async with httpx.AsyncClient(base_url=hub.base, timeout=30) as client:
            started = time.perf_counter()
            await asyncio.gather(*(client_loop(client, started + seconds) for _ in range(concurrency)))
            return time.perf_counter() - started

    elapsed = asyncio.run(run())
    return counts["ok"] / elapsed, {**counts, "entries": _drain(tag, counts["ok"])}


def figures(port: int, *, quick: bool = False) -> list[Figure]:
    out: list[Figure] = []
    extra = {
        "ANYMAIL_WEBHOOK_SECRET": SECRET,
        "ANYMAIL_MAILGUN_WEBHOOK_SIGNING_KEY": SIGNING_KEY,
        "EMAIL_IMAP_POLL_EVERY_S": "3600",
    }
    with hub_running(port, **extra) as hub:
        manage(hub.env, "shell", "-c", EMAIL_INBOX)
        rate, info = ingest_rate(hub, seconds=5 if quick else 10, concurrency=2)
        print(f"email: ingest_email {rate:.1f} msg/s ({info})", flush=True)
        out.append(
            Figure(
                "emails taken in by `ingest_email`, one process per message",
                rate,
                "msg/s",
                better="higher",
                note=f"2 at a time; {info['stored']:.0f} stored, {info['failed']:.0f} refused, "
                f"{info['entries']:.0f} became entries",
            )
        )
        rate, info = webhook_rate(hub, seconds=5 if quick else 10, concurrency=8)
        print(f"email: anymail inbound webhook {rate:.1f} msg/s ({info})", flush=True)
        out.append(
            Figure(
                "emails taken in by the anymail inbound webhook (Mailgun, signed)",
                rate,
                "msg/s",
                better="higher",
                note=f"8 connections; {info['ok']:.0f} answered 200, {info['other']:.0f} otherwise, "
                f"{info['entries']:.0f} became entries",
            )
        )
    return out

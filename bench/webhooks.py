"""Outgoing webhooks: deliveries a second from one worker process to a local receiver.

A fresh database gets one endpoint (on 127.0.0.1, named in WEBHOOK_ALLOWED_HOSTS) and N domain events over 100
threads, queued as deliveries by the events' dispatch (timed apart). Then the delivery job runs as beat and the
nudge run it (`webhooks_deliver_due`: batch claim under a lease, signed requests over one kept-alive connection
pool, outcomes recorded in batches) until nothing is pending. The receiver is a separate process (asyncio,
HTTP/1.1 keep-alive) that verifies every request with the `standardwebhooks` library and counts ids, so the
figure also says that each event arrived once and signed.

    .venv/bin/python bench/webhooks.py [--quick]
    make bench BENCH_ARGS="--only webhooks"
"""

from __future__ import annotations

import asyncio
import json
import os
import socket
import subprocess
import sys
import time
from pathlib import Path
from typing import Any

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from bench.common import DATABASE, ROOT, Figure, database_recreate, hub_env, manage

WEBHOOK_DATABASE = os.environ.get(
    "BENCH_WEBHOOKS_DATABASE_URL", DATABASE.rsplit("/", 1)[0] + "/hub_bench_webhooks"
)
TARGET_PER_S = 200.0
THREADS = 100


# --- the receiver (its own process) -----------------------------------------------------------------------
def receive(port: int, secret: str) -> None:
    from standardwebhooks import Webhook

    webhook = Webhook(secret)
    seen: dict[str, int] = {}
    stats = {"requests": 0, "bad_signature": 0, "connections": 0}

    async def handle(reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        stats["connections"] += 1
        try:
            while True:
                head = await reader.readuntil(b"\r\n\r\n")
                lines = head.decode("latin-1").split("\r\n")
                headers = {
                    k.strip().lower(): v.strip()
                    for k, _, v in (line.partition(":") for line in lines[1:] if line)
                }
                body = await reader.readexactly(int(headers.get("content-length", "0")))
                if lines[0].startswith("GET /stats"):
                    answer = json.dumps(
                        {**stats, "ids": len(seen), "duplicates": sum(n - 1 for n in seen.values())}
                    )
                    head = f"HTTP/1.1 200 OK\r\nContent-Type: application/json\r\nContent-Length: {len(answer)}\r\n\r\n"
                    writer.write(head.encode() + answer.encode())
                    await writer.drain()
                    continue
                stats["requests"] += 1
                try:
                    webhook.verify(body, headers)
                except Exception:
                    stats["bad_signature"] += 1
                    writer.write(b"HTTP/1.1 400 Bad Request\r\nContent-Length: 0\r\n\r\n")
                    await writer.drain()
                    continue
                seen[headers["webhook-id"]] = seen.get(headers["webhook-id"], 0) + 1
                writer.write(b"HTTP/1.1 204 No Content\r\n\r\n")
                await writer.drain()
        except (asyncio.IncompleteReadError, ConnectionError):
            writer.close()

    async def main() -> None:
        server = await asyncio.start_server(handle, "127.0.0.1", port, backlog=256)
        async with server:
            await server.serve_forever()

    asyncio.run(main())


def _stats(port: int) -> dict[str, Any]:
    with socket.create_connection(("127.0.0.1", port), timeout=10) as conn:
        conn.sendall(b"GET /stats HTTP/1.1\r\nHost: 127.0.0.1\r\nContent-Length: 0\r\n\r\n")
        data = b""
        while b"}" not in data:
            data += conn.recv(65536)
    return dict(json.loads(data.split(b"\r\n\r\n", 1)[1]))


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


# --- the measurement (a Django process on the bench database) ---------------------------------------------
def measure(events: int) -> dict[str, Any]:
    import django

    django.setup()
    from django.db import transaction

    from events.models import WebhookDelivery
    from events.services import event_publish, events_dispatch
    from webhooks import delivery, services

    port = _free_port()
    endpoint, secret = services.webhook_endpoint_create(
        url=f"http://127.0.0.1:{port}/hooks", event_types=["conversation.resolved", "note.added"]
    )
    receiver = subprocess.Popen([sys.executable, __file__, "--receive", str(port), secret], cwd=ROOT)
    try:
        for _ in range(100):
            try:
                socket.create_connection(("127.0.0.1", port), timeout=1).close()
                break
            except OSError:
                time.sleep(0.05)
        for start in range(0, events, 500):
            with transaction.atomic():
                for n in range(start, min(events, start + 500)):
                    event_publish(
                        type="note.added",
                        conversation_id=1 + n % THREADS,
                        contact_id=1 + n % THREADS,
                        payload={"entry": n, "author": None, "body": f"note {n}: the customer called back"},
                    )
        began = time.perf_counter()
        while events_dispatch(limit=500):
            pass
        queued_s = time.perf_counter() - began
        queued = WebhookDelivery.objects.filter(endpoint=endpoint).count()

        began = time.perf_counter()
        delivered = 0
        while WebhookDelivery.objects.filter(state="pending").exists():
            delivered += delivery.webhooks_deliver_due(budget_s=60)
        elapsed = time.perf_counter() - began
        stats = _stats(port)
        states = dict(
            WebhookDelivery.objects.values_list("state").annotate(n=django.db.models.Count("id")).order_by()
        )
    finally:
        receiver.terminate()
        receiver.wait()
    return {
        "events": events,
        "queued": queued,
        "queue_per_s": queued / queued_s,
        "deliveries_per_s": queued / elapsed,
        "elapsed_s": elapsed,
        "states": states,
        "receiver": stats,
    }


def figures(*, quick: bool = False) -> list[Figure]:
    events = 2000 if quick else 10_000
    database_recreate(WEBHOOK_DATABASE)
    env = hub_env(8998, database=WEBHOOK_DATABASE, DJANGO_SETTINGS_MODULE="config.settings", DB_POOL="0")
    env["WEBHOOK_ALLOWED_HOSTS"] = "127.0.0.1"
    manage(env, "migrate", "-v0")
    out = subprocess.run(
        [sys.executable, __file__, "--measure", str(events)],
        cwd=ROOT,
        env=env,
        check=True,
        capture_output=True,
        text=True,
    ).stdout
    result = json.loads(out.strip().splitlines()[-1])
    print(f"webhooks: {json.dumps(result)}", flush=True)
    receiver = result["receiver"]
    once = (
        receiver["ids"] == result["queued"] and receiver["duplicates"] == 0 and receiver["bad_signature"] == 0
    )
    return [
        Figure(
            "webhook deliveries a second, one worker process, local receiver",
            result["deliveries_per_s"],
            "deliveries/s",
            TARGET_PER_S,
            better="higher",
            note=f"{result['queued']:,} deliveries in {result['elapsed_s']:.1f} s over {receiver['connections']} "
            f"connection(s); each verified by standardwebhooks and received once: {'yes' if once else 'NO'} "
            f"({receiver['ids']:,} ids, {receiver['duplicates']} twice, {receiver['bad_signature']} bad)",
        ),
        Figure(
            "webhook deliveries queued from domain events a second",
            result["queue_per_s"],
            "deliveries/s",
            better="higher",
            note="events_dispatch, 500 events per transaction, one subscription",
        ),
    ]


if __name__ == "__main__":
    if len(sys.argv) > 3 and sys.argv[1] == "--receive":
        receive(int(sys.argv[2]), sys.argv[3])
    elif len(sys.argv) > 2 and sys.argv[1] == "--measure":
        print(json.dumps(measure(int(sys.argv[2]))))
    else:
        for figure in figures(quick="--quick" in sys.argv):
            print(figure)

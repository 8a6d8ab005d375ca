"""The SMS pipeline, as in production: webhook answer rate, end-to-end rate, and latency to the agent's screen.

The load generator sends pre-signed raw HTTP requests over keep-alive connections (signing is done before
the clock starts) and listens on a logged-in agent's websocket for each message's frame.
"""

from __future__ import annotations

import asyncio
import contextlib
import json
import statistics
import time
from collections.abc import Awaitable, Callable
from dataclasses import dataclass, field

import websockets

from bench.common import (
    DATABASE,
    Connection,
    Figure,
    Hub,
    cpu_seconds,
    hub_running,
    login,
    percentile,
    process_cpu_seconds,
    psql,
    signed_sms_request,
)

TOKEN_LEN = 22  # "bench-" + 16 digits


def token(n: int) -> str:
    return f"bench-{n:016d}"


@dataclass
class Run:
    sent_at: dict[str, float] = field(default_factory=dict)
    screen_ms: list[float] = field(default_factory=list)
    answer_ms: list[float] = field(default_factory=list)
    statuses: dict[int, int] = field(default_factory=dict)
    first_send: float = 0.0
    last_frame: float = 0.0
    last_answer: float = 0.0


async def _listen(socket: websockets.ClientConnection, run: Run, expected: int, done: asyncio.Event) -> None:
    async for raw in socket:
        now = time.perf_counter()
        row = json.loads(raw).get("row", "")
        start = row.find("bench-")
        if start < 0:
            continue
        sent = run.sent_at.pop(row[start : start + TOKEN_LEN], None)
        if sent is not None:
            run.screen_ms.append((now - sent) * 1000)
            run.last_frame = now
            if len(run.screen_ms) == expected:
                done.set()


async def _agent_socket(hub: Hub) -> websockets.ClientConnection:
    session = await login(hub.base, hub.username, hub.password)
    socket = await websockets.connect(
        f"{hub.base.replace('http', 'ws')}/ws/agent/",
        origin=hub.base,
        additional_headers={"Cookie": f"sessionid={session}"},
        max_size=None,
    )
    await socket.recv()  # hello
    return socket


async def _closed_loop(hub: Hub, requests: list[bytes], concurrency: int, seconds: float, run: Run) -> int:
    """`concurrency` connections, each sending its next request as soon as the last is answered."""
    queue = iter(enumerate(requests))
    deadline = time.perf_counter() + seconds
    run.first_send = time.perf_counter()

    async def client() -> int:
        conn = await Connection.open(hub.base)
        sent = 0
        try:
            for n, raw in queue:
                began = time.perf_counter()
                if began > deadline:
                    break
                run.sent_at[token(n)] = began
                status = await conn.request(raw)
                run.last_answer = time.perf_counter()
                run.answer_ms.append((run.last_answer - began) * 1000)
                run.statuses[status] = run.statuses.get(status, 0) + 1
                sent += 1
        finally:
            conn.close()
        return sent

    return sum(await asyncio.gather(*(client() for _ in range(concurrency))))


async def _open_loop(hub: Hub, requests: list[bytes], rate: float, run: Run) -> None:
    """One request every 1/rate seconds whatever the answers do, over a pool of keep-alive connections."""
    idle: list[Connection] = [await Connection.open(hub.base) for _ in range(16)]

    async def one(n: int, raw: bytes) -> None:
        conn = idle.pop() if idle else await Connection.open(hub.base)
        began = time.perf_counter()
        run.sent_at[token(n)] = began
        try:
            status = await conn.request(raw)
        except (asyncio.IncompleteReadError, ConnectionError):
            # The server closed a connection that sat idle past its keep-alive timeout: a client reconnects
            # and sends again (and pays for it in this request's time).
            conn.close()
            conn = await Connection.open(hub.base)
            status = await conn.request(raw)
        run.answer_ms.append((time.perf_counter() - began) * 1000)
        run.statuses[status] = run.statuses.get(status, 0) + 1
        idle.append(conn)

    tasks = []
    run.first_send = t0 = time.perf_counter()
    for n, raw in enumerate(requests):
        delay = t0 + n / rate - time.perf_counter()
        if delay > 0:
            await asyncio.sleep(delay)
        tasks.append(asyncio.create_task(one(n, raw)))
    await asyncio.gather(*tasks)
    run.last_answer = time.perf_counter()
    for conn in idle:
        conn.close()


async def _watched(hub: Hub, count: int, load: Callable[[Run], Awaitable[object]], *, wait_s: float) -> Run:
    """Run `load` while a logged-in agent's websocket listens; wait up to `wait_s` for every frame."""
    run = Run()
    socket = await _agent_socket(hub)
    done = asyncio.Event()
    listener = asyncio.create_task(_listen(socket, run, count, done))
    await load(run)
    with contextlib.suppress(TimeoutError):
        await asyncio.wait_for(done.wait(), timeout=wait_s)
    listener.cancel()
    await socket.close()
    return run


def _prepare(hub: Hub, count: int) -> list[bytes]:
    return [signed_sms_request(hub.base, n, token(n)) for n in range(count)]


def webhook_rate(port: int, *, seconds: float, concurrency: int) -> tuple[float, dict[str, float]]:
    """Signed webhooks answered 200 per second, each after its event is committed (workers stopped)."""
    with hub_running(port, workers=False) as hub:
        requests = _prepare(hub, int(seconds * 4000))
        run = Run()
        cpu0, web0 = cpu_seconds(), process_cpu_seconds(hub.pid("web0"))
        answered = asyncio.run(_closed_loop(hub, requests, concurrency, seconds, run))
        wall = run.last_answer - run.first_send
        load_cpu = (cpu_seconds() - cpu0) / wall * 100
        web_cpu = (process_cpu_seconds(hub.pid("web0")) - web0) / wall * 100
    stored = int(psql(DATABASE, "SELECT count(*) FROM channels_adapters_inboundevent").strip())
    ok = run.statuses.get(200, 0)
    assert stored == ok, f"{ok} webhooks answered 200 but {stored} events stored"
    assert ok == answered, f"statuses {run.statuses}"
    return ok / wall, {
        "answer_ms_median": statistics.median(run.answer_ms),
        "answer_ms_p99": percentile(run.answer_ms, 0.99),
        "load_cpu": load_cpu,
        "web_cpu": web_cpu,
    }


def end_to_end(port: int, *, count: int, concurrency: int) -> tuple[float, dict[str, float]]:
    """Webhook, entry in the thread, frame on the agent's websocket: messages per second, sustained."""
    with hub_running(port) as hub:
        requests = _prepare(hub, count)
        cpu0 = cpu_seconds()
        run = asyncio.run(
            _watched(
                hub,
                count,
                lambda run: _closed_loop(hub, requests, concurrency, 3600, run),
                wait_s=max(60, count / 10),
            )
        )
        wall = run.last_frame - run.first_send
    return len(run.screen_ms) / wall, {
        "frames": len(run.screen_ms),
        "count": count,
        "webhook_rate": count / (run.last_answer - run.first_send),
        "load_cpu": (cpu_seconds() - cpu0) / wall * 100,
    }


def latency(port: int, *, rate: float, count: int) -> dict[str, float]:
    """Webhook sent to frame on the agent's websocket, at a fixed offered rate."""
    with hub_running(port) as hub:
        requests = _prepare(hub, count)
        cpu0 = cpu_seconds()
        run = asyncio.run(_watched(hub, count, lambda run: _open_loop(hub, requests, rate, run), wait_s=60))
        wall = run.last_answer - run.first_send
    return {
        "median": statistics.median(run.screen_ms) if run.screen_ms else float("nan"),
        "p99": percentile(run.screen_ms, 0.99),
        "frames": len(run.screen_ms),
        "answer_median": statistics.median(run.answer_ms),
        "answer_p99": percentile(run.answer_ms, 0.99),
        "offered": count / wall,
        "ok": run.statuses.get(200, 0),
        "load_cpu": (cpu_seconds() - cpu0) / wall * 100,
    }


def figures(port: int, pg: Figure, *, quick: bool = False) -> list[Figure]:
    from bench.baselines import reference

    assert pg.value is not None
    out: list[Figure] = []
    rate, info = webhook_rate(port, seconds=5 if quick else 15, concurrency=16)
    out.append(
        Figure(
            "signed SMS webhooks answered after a durable store",
            rate,
            "msg/s",
            target=0.40 * pg.value,
            reference=reference(pg),
            better="higher",
            rule="at least 40% of PostgreSQL's single-row insert rate",
            note=(
                f"{rate / pg.value:.0%} of it; answer median {info['answer_ms_median']:.1f} ms, "
                f"p99 {info['answer_ms_p99']:.1f} ms; web process {info['web_cpu']:.0f}% CPU, "
                f"load generator {info['load_cpu']:.0f}% of one core"
            ),
        )
    )
    rate, info = end_to_end(port, count=1000 if quick else 4000, concurrency=8)
    out.append(
        Figure(
            "end to end: webhook, entry, frame on the agent's websocket",
            rate,
            "msg/s",
            target=0.25 * pg.value,
            reference=reference(pg),
            better="higher",
            rule="at least 25% of PostgreSQL's single-row insert rate, sustained",
            note=(
                f"{rate / pg.value:.1%} of it; {info['frames']:.0f}/{info['count']:.0f} frames; webhooks "
                f"accepted at {info['webhook_rate']:.0f}/s; load generator {info['load_cpu']:.0f}% of one core"
            ),
        )
    )
    lat = latency(port, rate=100, count=1000 if quick else 3000)
    note = (
        f"offered {lat['offered']:.0f}/s; {lat['frames']:.0f} frames of {lat['ok']:.0f} answered 200; "
        f"webhook answered in {lat['answer_median']:.1f} ms median, {lat['answer_p99']:.1f} ms p99; "
        f"load generator {lat['load_cpu']:.0f}% of one core"
    )
    out.append(
        Figure("webhook to agent's websocket at 100 msg/s, median", lat["median"], "ms", 30.0, note=note)
    )
    out.append(Figure("webhook to agent's websocket at 100 msg/s, p99", lat["p99"], "ms", 150.0))
    return out

"""Websockets held by one ASGI process, and one broadcast reaching every one of them.

Every socket is a logged-in agent's (it joins the inbox's group as the agent page does) and sends the
page's heartbeat every 25 seconds, spread evenly, while the broadcasts go out: the consumer's gap repair runs
on each heartbeat, so its cost is part of holding the sockets.
"""

from __future__ import annotations

import asyncio
import json
import random
import statistics
import time

import websockets
from channels_redis.core import RedisChannelLayer

from bench.common import REDIS, Figure, Hub, cpu_seconds, hub_running, login, process_cpu_seconds, rss_mb

HEARTBEAT_S = 25.0  # static/js/agent.js pings every 25 s


async def _open(hub: Hub, session: str, n: int) -> list[websockets.ClientConnection]:
    url = f"{hub.base.replace('http', 'ws')}/ws/agent/"
    sockets: list[websockets.ClientConnection] = []

    async def one() -> None:
        socket = await websockets.connect(
            url,
            origin=hub.base,
            additional_headers={"Cookie": f"sessionid={session}"},
            open_timeout=120,
            ping_interval=None,
            max_queue=64,
            compression=None,
        )
        await socket.recv()  # hello: the consumer has joined its groups
        sockets.append(socket)

    for start in range(0, n, 100):
        await asyncio.gather(*(one() for _ in range(start, min(n, start + 100))))
    return sockets


async def _measure(hub: Hub, count: int, broadcasts: int) -> dict[str, float]:
    session = await login(hub.base, hub.username, hub.password)
    t_open = time.perf_counter()
    sockets = await _open(hub, session, count)
    open_s = time.perf_counter() - t_open
    layer = RedisChannelLayer(hosts=[REDIS])
    received: dict[int, list[float]] = {}
    stop = asyncio.Event()

    async def reader(socket: websockets.ClientConnection) -> None:
        async for raw in socket:
            if '"bench"' in raw:
                received.setdefault(json.loads(raw)["seq"], []).append(time.perf_counter())

    async def heartbeats(socket: websockets.ClientConnection) -> None:
        await asyncio.sleep(random.uniform(0, HEARTBEAT_S))
        while not stop.is_set():
            await socket.send('{"type": "ping"}')
            await asyncio.sleep(HEARTBEAT_S)

    readers = [asyncio.create_task(reader(s)) for s in sockets]
    beats = [asyncio.create_task(heartbeats(s)) for s in sockets]
    await asyncio.sleep(HEARTBEAT_S / 2)  # heartbeats in full swing
    web = hub.pid("web0")
    web_cpu0, cpu0, wall0 = process_cpu_seconds(web), cpu_seconds(), time.perf_counter()
    reach_ms: list[float] = []
    reached: list[int] = []
    for seq in range(1, broadcasts + 1):
        began = time.perf_counter()
        frame = {"seq": seq, "type": "bench", "conversation": None}
        await layer.group_send(f"inbox.{hub.inbox_id}", {"type": "hub.frame", "frame": frame})
        deadline = began + 10
        while len(received.get(seq, [])) < count and time.perf_counter() < deadline:
            await asyncio.sleep(0.005)
        times = received.get(seq, [])
        reached.append(len(times))
        reach_ms.append((max(times) - began) * 1000 if times else float("nan"))
        await asyncio.sleep(2)
    wall = time.perf_counter() - wall0
    web_cpu = (process_cpu_seconds(web) - web_cpu0) / wall * 100
    client_cpu = (cpu_seconds() - cpu0) / wall * 100
    web_rss = rss_mb(web)
    stop.set()
    for task in beats + readers:
        task.cancel()
    await asyncio.gather(*(s.close() for s in sockets), return_exceptions=True)
    return {
        "open_s": open_s,
        "reach_ms_median": statistics.median(reach_ms),
        "reach_ms_max": max(reach_ms),
        "reached_min": min(reached),
        "web_cpu": web_cpu,
        "client_cpu": client_cpu,
        "web_rss": web_rss,
    }


def figures(port: int, redis: Figure, *, quick: bool = False) -> list[Figure]:
    count = 1000 if quick else 5000
    with hub_running(port, workers=False) as hub:
        m = asyncio.run(_measure(hub, count, broadcasts=5))
    note = (
        f"{m['reached_min']:.0f}/{count} sockets reached by every broadcast; slowest of 5 broadcasts "
        f"{m['reach_ms_max']:.0f} ms; opened in {m['open_s']:.1f} s; with heartbeats every "
        f"{HEARTBEAT_S:.0f} s the web process used {m['web_cpu']:.0f}% of a core and {m['web_rss']:.0f} MB; "
        f"load generator {m['client_cpu']:.0f}% of one core"
    )
    reached = m["reach_ms_max"] if m["reached_min"] == count else None
    return [
        Figure(
            f"one broadcast reaching all {count:,} sockets of one ASGI process",
            reached,
            "ms",
            1000.0,
            note=note,
        )
    ]

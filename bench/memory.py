"""Resident memory of an idle web process and an idle worker, after each has handled some traffic."""

from __future__ import annotations

import asyncio
import time

from bench.common import Connection, Figure, child_pids, hub_running, rss_mb, signed_sms_request


async def _traffic(base: str, count: int) -> None:
    conn = await Connection.open(base)
    for n in range(count):
        assert await conn.request(signed_sms_request(base, n, f"bench-{n:016d}")) == 200
    conn.close()


def figures(port: int) -> list[Figure]:
    with hub_running(port) as hub:
        asyncio.run(_traffic(hub.base, 200))
        time.sleep(10)  # processed, then idle
        web = rss_mb(hub.pid("web0"))
        parent = hub.pid("inbound")
        workers = [rss_mb(pid) for pid in [parent, *child_pids(parent)]]
    return [
        Figure("memory of an idle web process (uvicorn, RSS)", web, "MB", 150.0),
        Figure(
            "memory of an idle worker (largest Celery process, RSS)",
            max(workers),
            "MB",
            150.0,
            note="inbound worker, prefork with 2 children: "
            + ", ".join(f"{mb:.0f}" for mb in workers)
            + " MB",
        ),
    ]

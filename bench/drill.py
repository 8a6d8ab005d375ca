"""The inbound fault drill at full size: 10,000 webhooks, a tenth retried, the inbound worker SIGKILLed.

The same drill `make test` runs at 1,000 (tests/faults), on its own private PostgreSQL and Redis.
"""

from __future__ import annotations

import tempfile
from pathlib import Path

from bench.common import Figure


def figures(*, quick: bool = False) -> list[Figure]:
    from tests.faults.drills import duplicate_webhooks_with_worker_kills
    from tests.faults.hub import DRILL_SETTINGS, drill_hub
    from tests.faults.services import private_services

    size = 2000 if quick else 10_000
    with (
        private_services() as (postgres, redis),
        tempfile.TemporaryDirectory() as work,
        drill_hub(postgres, redis, Path(work), "bench", **DRILL_SETTINGS) as hub,
    ):
        result = duplicate_webhooks_with_worker_kills(hub, size)
    figure = Figure(
        f"fault drill: {size:,} webhooks, 10% retried, inbound worker killed",
        float(result["entries"]),
        "entries, each once",
        float(size),
        better="exactly",
        note=(
            f"{result['sent']} posts, {result['answered_200']} answered 200; {result['entries']} entries, "
            f"{result['duplicates']} duplicates, {result['missing']} missing; "
            f"{result['worker_kills']} SIGKILLs; {result['seconds']} s"
        ),
    )
    # Exactly `size` entries is not enough: each must be a different message.
    figure.met = bool(figure.met) and result["duplicates"] == 0 and result["missing"] == 0
    return [figure]

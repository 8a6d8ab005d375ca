"""`make bench`: every figure of the hub against the machine's own limits, measured in the same run.

    make bench                                  # everything (15 minutes and the import's; data sets are kept)
    make bench BENCH_ARGS="--only pipeline"     # one group: baselines, pipeline, sockets, scale, search,
                                                # funnel, reports, memory, drill, email, imports,
                                                # webhooks, outbox, rules, scores, targets
    make bench BENCH_ARGS="--quick"             # smaller runs, to try a change

The hub runs as in production: PostgreSQL, Redis, uvicorn and Celery workers as separate processes.
Prints a table and writes bench/results/latest.json (one object per figure: name, value, unit, target,
reference, met).
"""

from __future__ import annotations

import argparse
import importlib
import sys
import traceback
from collections.abc import Callable
from pathlib import Path
from typing import Any

# `python bench/run.py` puts bench/ itself on the path, where a module named like a standard one would shadow the
# standard library's (bench/email.py did, for `email`): the project root replaces it.
_HERE = Path(__file__).resolve().parent
sys.path[:] = [p for p in sys.path if Path(p or ".").resolve() != _HERE]
sys.path.insert(0, str(_HERE.parent))

from bench import baselines, common  # noqa: E402

GROUPS = (
    "pipeline",
    "sockets",
    "scale",
    "search",
    "funnel",
    "reports",
    "memory",
    "drill",
    "email",
    "imports",
    "webhooks",
    "outbox",
    "rules",
    "scores",
    "targets",
)


def main() -> None:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--only", action="append", choices=GROUPS, help="run only these groups")
    parser.add_argument("--quick", action="store_true", help="smaller runs, to try a change")
    parser.add_argument("--port", type=int, default=8765)
    args = parser.parse_args()
    groups = args.only or list(GROUPS)
    common.raise_fd_limit()

    pg = baselines.pg_insert_rate(seconds=5 if args.quick else 10)
    figures = [pg, baselines.redis_publish_rate()]
    print(
        f"baselines: PostgreSQL {pg.value:,.0f} rows/s, Redis {figures[1].value:,.0f} publishes/s", flush=True
    )

    runs: dict[str, Callable[[], list[common.Figure]]] = {
        "pipeline": lambda: _module("pipeline").figures(args.port, pg, quick=args.quick),
        "sockets": lambda: _module("sockets").figures(args.port, figures[1], quick=args.quick),
        "scale": lambda: _module("scale").figures(quick=args.quick),
        "search": lambda: _module("scale").search_figures(),
        "funnel": lambda: _module("funnel").figures(quick=args.quick),
        "reports": lambda: _module("reports").figures(quick=args.quick),
        "memory": lambda: _module("memory").figures(args.port),
        "drill": lambda: _module("drill").figures(quick=args.quick),
        "email": lambda: _module("email_intake").figures(args.port, quick=args.quick),
        "imports": lambda: _module("imports").figures(quick=args.quick),
        "webhooks": lambda: _module("webhooks").figures(quick=args.quick),
        "outbox": lambda: _module("outbox").figures(quick=args.quick),
        "rules": lambda: _module("rules").figures(quick=args.quick),
        "scores": lambda: _module("scores").figures(quick=args.quick),
        "targets": lambda: _module("targets").figures(quick=args.quick),
    }
    for group in GROUPS:
        if group not in groups:
            continue
        try:
            figures += runs[group]()
        except Exception as error:  # one group that breaks still leaves the others' figures on the table
            traceback.print_exc()
            failed = common.Figure(
                f"{group}: the benchmark failed", None, "", note=f"{type(error).__name__}: {error}"
            )
            failed.met = False
            figures.append(failed)
        common.print_table(figures)  # as it goes, so a later failure loses nothing already measured

    common.print_table(figures)
    common.write_results(figures)


def _module(name: str) -> Any:
    return importlib.import_module(f"bench.{name}")


if __name__ == "__main__":
    main()

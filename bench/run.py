"""`make bench`: every figure of the hub against the machine's own limits, measured in the same run.

    make bench                                  # everything (about 15 minutes; the data sets are kept)
    make bench BENCH_ARGS="--only pipeline"     # one group: baselines, pipeline, sockets, scale, memory, drill, email
    make bench BENCH_ARGS="--quick"             # smaller runs, to try a change

The hub runs as in production: PostgreSQL, Redis, uvicorn and Celery workers as separate processes.
Prints a table and writes bench/results/latest.json (one object per figure: name, value, unit, target,
reference, met).
"""

from __future__ import annotations

import argparse
import sys
from pathlib import Path

# `python bench/run.py` puts bench/ itself on the path, where bench/email.py would shadow the standard
# library's `email` package: the project root replaces it.
_HERE = Path(__file__).resolve().parent
sys.path[:] = [p for p in sys.path if Path(p or ".").resolve() != _HERE]
sys.path.insert(0, str(_HERE.parent))

from bench import baselines, common  # noqa: E402

GROUPS = ("pipeline", "sockets", "scale", "search", "memory", "drill", "email")


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

    if "pipeline" in groups:
        from bench import pipeline

        figures += pipeline.figures(args.port, pg, quick=args.quick)
    if "sockets" in groups:
        from bench import sockets

        figures += sockets.figures(args.port, figures[1], quick=args.quick)
    if "scale" in groups:
        from bench import scale

        figures += scale.figures(quick=args.quick)
    if "search" in groups:
        from bench import scale

        figures += scale.search_figures()
    if "memory" in groups:
        from bench import memory

        figures += memory.figures(args.port)
    if "drill" in groups:
        from bench import drill

        figures += drill.figures(quick=args.quick)

    if "email" in groups:
        from bench import email

        figures += email.figures(args.port, quick=args.quick)

    common.print_table(figures)
    common.write_results(figures)


if __name__ == "__main__":
    main()

"""Fault drill at full size: 10,000 webhooks, 10% retried, the inbound worker killed: 10,000 entries, each once.

The same drill as tests/faults/test_inbound_faults.py (drill 1), at benchmark size, on private PostgreSQL
and Redis servers it starts and removes itself (never the machine's shared ones).

    .venv/bin/python bench/fault_drill.py                 # 10,000
    .venv/bin/python bench/fault_drill.py --size 2000 --sweep-after 10
"""

from __future__ import annotations

import argparse
import json
import sys
import tempfile
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

from tests.faults import drills  # noqa: E402
from tests.faults.hub import DRILL_SETTINGS, drill_hub  # noqa: E402
from tests.faults.services import private_services  # noqa: E402


def main() -> int:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument(
        "--size", type=int, default=10_000, help="distinct messages (every tenth is sent twice)"
    )
    parser.add_argument("--kills", type=int, default=4, help="times the inbound worker is SIGKILLed")
    parser.add_argument(
        "--sweep-after",
        default=DRILL_SETTINGS["INBOUND_SWEEP_AFTER_S"],
        help="INBOUND_SWEEP_AFTER_S for the hub's processes (the drill's stall bound derives from it)",
    )
    parser.add_argument("--keep-logs", action="store_true", help="print where the processes' logs are kept")
    args = parser.parse_args()
    work = Path(tempfile.mkdtemp(prefix="fault-drill-"))
    with (
        private_services() as (postgres, redis),
        drill_hub(
            postgres,
            redis,
            work / "hub",
            "bench",
            **{**DRILL_SETTINGS, "INBOUND_SWEEP_AFTER_S": str(args.sweep_after)},
        ) as hub,
    ):
        result = drills.duplicate_webhooks_with_worker_kills(hub, args.size, kills=args.kills)
    result["settings"] = {"INBOUND_SWEEP_AFTER_S": hub.settings.inbound_sweep_after_s}
    print(json.dumps(result))
    if args.keep_logs:
        print(f"logs: {work / 'hub'}", file=sys.stderr)
    ok = result["answered_200"] == result["sent"] and (
        result["entries"],
        result["duplicates"],
        result["missing"],
    ) == (args.size, 0, 0)
    return 0 if ok else 1


if __name__ == "__main__":
    sys.exit(main())

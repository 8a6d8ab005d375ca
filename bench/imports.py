"""Importing customers from a CSV of 1,000,000 rows: the importing process's peak memory, and the time.

The file (name, phone, email and a label; one row in a hundred with a phone that is not one) is written to
a temporary directory, and imported into a fresh database of its own by one Django process, as the Celery
task would: `contact_import_create` (the upload's check: encoding, header, row count; then the file is
stored) and `contact_import_run` (the rows, streamed, 500 a transaction). The figure is the process's peak
resident memory (ru_maxrss), against 300 MB; the tests prove the same bound small
(tests/contacts/test_import.py::test_memory_of_an_import_does_not_grow_with_its_rows).

    .venv/bin/python bench/imports.py [--quick] [--rows N]
"""

from __future__ import annotations

import argparse
import json
import os
import subprocess
import sys
import tempfile
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from bench.common import DATABASE, ROOT, Figure, database_recreate, hub_env, manage

IMPORTS_DATABASE = os.environ.get(
    "BENCH_IMPORTS_DATABASE_URL", DATABASE.rsplit("/", 1)[0] + "/hub_bench_imports"
)
ROWS = 1_000_000
TARGET_MB = 300.0

SETUP = """
from contacts.models import Label
from conversations.models import AgentProfile
from django.contrib.auth.models import User
manager = User.objects.create_user("manager", password="bench-password-123")
AgentProfile.objects.create(user=manager, role="manager")
Label.objects.create(name="Newsletter")
"""


def write_file(path: Path, rows: int) -> int:
    with path.open("w", encoding="utf-8", newline="") as out:
        out.write("name,phone,email,labels\r\n")
        for n in range(rows):
            phone = "not a phone" if n % 100 == 99 else f"+1415{2000000 + n:07d}"
            out.write(
                f"Customer {n},{phone},customer{n}@example.com,{'Newsletter' if n % 3 == 0 else ''}\r\n"
            )
    return path.stat().st_size


def measure(path: str) -> dict[str, float]:
    """In the hub's own Django process: the upload's check, then the import, with the peak memory."""
    import resource
    import time

    import django

    django.setup()
    from django.contrib.auth.models import User

    from conversations import tasks
    from conversations.imports import contact_import_create, contact_import_run

    tasks.import_contacts.apply_async = lambda *args, **kwargs: None  # type: ignore[method-assign]  # run below
    before_mb = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024
    by = User.objects.get(username="manager")
    began = time.perf_counter()
    with open(path, "rb") as upload:
        job = contact_import_create(by=by, filename="customers.csv", content=upload)
    checked = time.perf_counter()
    job = contact_import_run(import_id=job.pk)
    done = time.perf_counter()
    return {
        "rows": float(job.total_rows),
        "created": float(job.created_count),
        "refused": float(job.refused_count),
        "check_s": checked - began,
        "import_s": done - checked,
        "peak_mb": resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024,
        "start_mb": before_mb,
    }


def figures(
    *, quick: bool = False, rows: int | None = None, database: str = IMPORTS_DATABASE
) -> list[Figure]:
    rows = rows or (100_000 if quick else ROWS)
    env = hub_env(8997, database=database, DB_POOL="0")
    database_recreate(database)
    manage(env, "migrate", "-v0")
    manage(env, "shell", "-c", SETUP)
    with tempfile.TemporaryDirectory(prefix="hub-bench-import-") as scratch:
        path = Path(scratch) / "customers.csv"
        size = write_file(path, rows)
        env.update(MEDIA_ROOT=str(Path(scratch) / "media"), DJANGO_SETTINGS_MODULE="config.settings")
        out = subprocess.run(
            [sys.executable, __file__, "--measure", str(path)],
            cwd=ROOT,
            env=env,
            check=True,
            capture_output=True,
            text=True,
        ).stdout
    found = json.loads(out.strip().splitlines()[-1])
    assert int(found["created"]) + int(found["refused"]) == rows, found
    total_s = found["check_s"] + found["import_s"]
    return [
        Figure(
            f"contacts import of {rows:,} rows: peak memory of the process (RSS)",
            found["peak_mb"],
            "MB",
            TARGET_MB,
            note=f"{size / 1e6:.0f} MB file; {found['start_mb']:.0f} MB after Django's start-up",
        ),
        Figure(
            f"contacts import of {rows:,} rows: time, upload check and import",
            total_s,
            "s",
            note=f"check {found['check_s']:.1f} s, import {found['import_s']:.0f} s "
            f"({rows / found['import_s']:,.0f} rows/s); {int(found['refused']):,} refused",
        ),
    ]


if __name__ == "__main__":
    if len(sys.argv) > 2 and sys.argv[1] == "--measure":
        print(json.dumps(measure(sys.argv[2])))
    else:
        parser = argparse.ArgumentParser(
            description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
        )
        parser.add_argument("--quick", action="store_true", help="100,000 rows")
        parser.add_argument("--rows", type=int, default=None)
        parser.add_argument("--database", default=IMPORTS_DATABASE)
        args = parser.parse_args()
        from bench.common import print_table

        print_table(figures(quick=args.quick, rows=args.rows, database=args.database))

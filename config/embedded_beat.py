"""The periodic jobs in the embedded mode: Celery beat's schedule, run by a thread of the ASGI process.

With eager Celery and the in-memory channel layer there is no worker and no beat; running the schedule here,
inside the process that holds the websockets, keeps the sweeper (and what it broadcasts) working.
"""

from __future__ import annotations

import logging
import os
import threading
import time
from dataclasses import dataclass, field
from typing import Any

from celery import current_app
from django.conf import settings
from django.db import close_old_connections
from django.utils import timezone

logger = logging.getLogger("hub.embedded_beat")


@dataclass
class _Job:
    name: str
    task: str
    every_s: float
    due: float = field(default=0.0)

    def __post_init__(self) -> None:
        self.due = time.monotonic() + self.every_s


def start_embedded_beat() -> threading.Thread:
    os.environ["HUB_EMBEDDED_BEAT_STARTED"] = "1"
    thread = threading.Thread(target=_run, name="embedded-beat", daemon=True)
    thread.start()
    return thread


def _run() -> None:
    from conversations.periodic_jobs import periodic_job_record

    schedule: dict[str, dict[str, Any]] = settings.CELERY_BEAT_SCHEDULE
    jobs: list[_Job] = [
        _Job(name, str(spec["task"]), float(spec["schedule"].run_every.total_seconds()))
        for name, spec in schedule.items()
    ]
    logger.info(
        "Embedded beat running: %s", ", ".join(f"{job.name} every {job.every_s:.0f}s" for job in jobs)
    )
    while True:
        now = time.monotonic()
        for job in jobs:
            if now < job.due:
                continue
            job.due = now + job.every_s
            started_at = timezone.now()
            try:
                close_old_connections()
                # A run, failed or not, is recorded by conversations.periodic_jobs from Celery's signals.
                current_app.tasks[job.task].apply()
            except Exception as error:  # the task could not even start (not registered)
                logger.exception("Periodic job %s failed", job.name)
                periodic_job_record(task=job.task, started_at=started_at, error=error)
            finally:
                close_old_connections()
        time.sleep(0.5)

"""The periodic jobs' record: when each last ran, succeeded and failed, and whether one is late.

Every run of a job of CELERY_BEAT_SCHEDULE goes through Celery's tracer, in a worker under Celery beat and in the
embedded beat's eager apply() alike, so Celery's task_prerun and task_postrun signals see both modes; they are
connected once, at app ready (conversations.apps). A job must never fail because its record could not be
written: a failure to write is one warning line.
"""

from __future__ import annotations

import logging
import re
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Any, Literal

from celery import states
from celery.signals import task_postrun, task_prerun
from django.conf import settings
from django.db import DatabaseError, connection, transaction
from django.utils import timezone

from conversations.models import PeriodicJobRun

logger = logging.getLogger("hub.periodic_jobs")

# A job is late when it has not succeeded for this many of its intervals, counted at the earliest from this
# process's start: a hub started after a long stop is given the time to run everything once.
LATE_AFTER_INTERVALS = 3
PROCESS_STARTED_AT = timezone.now()

_USERINFO = re.compile(r"(\w+://)[^/\s@]+@")  # user:password@ in a URL an error message quotes
_started: dict[str, datetime] = {}  # task id -> when that run of a periodic job started

JobStatus = Literal["ok", "waiting", "failing", "late"]


def _job_names(task: str) -> list[str]:
    return [name for name, spec in settings.CELERY_BEAT_SCHEDULE.items() if spec["task"] == task]


def error_summary(error: BaseException) -> str:
    """The class and the message's first line, without URL credentials, short: /healthz/jobs shows it to anyone.
    (PostgreSQL puts the row's values on a DETAIL line: `Key (address)=(+1415...) already exists`.)"""
    lines = str(error).strip().splitlines()
    text = f"{type(error).__name__}: {lines[0].strip()}" if lines else type(error).__name__
    return _USERINFO.sub(r"\1***@", text)[: PeriodicJobRun.ERROR_MAX]


def periodic_job_record(*, task: str, started_at: datetime, error: BaseException | None = None) -> None:
    """Write down one run of `task` on the row of each schedule entry that names it. Never raises."""
    names = _job_names(task)
    if not names:
        return
    now = timezone.now()
    outcome: dict[str, Any] = (
        {"last_success_at": now}
        if error is None
        else {"last_error": error_summary(error), "last_error_at": now}
    )
    rows = [PeriodicJobRun(name=name, task=task, last_run_at=started_at, **outcome) for name in names]
    fields = ["task", "last_run_at", *outcome]
    try:
        try:
            _upsert(rows, fields)
        except DatabaseError:
            if connection.in_atomic_block:
                raise
            connection.close()  # a connection the database dropped (a restart): once more on a fresh one
            _upsert(rows, fields)
    except Exception as failure:
        logger.warning("The run of %s could not be recorded: %s", task, error_summary(failure))


def _upsert(rows: list[PeriodicJobRun], fields: list[str]) -> None:
    with transaction.atomic():  # a savepoint when the caller's transaction is open: its failure stays here
        PeriodicJobRun.objects.bulk_create(
            rows, update_conflicts=True, unique_fields=["name"], update_fields=fields
        )


def _on_task_prerun(task_id: str | None = None, task: Any = None, **_: Any) -> None:
    if task_id and task is not None and _job_names(str(task.name)):
        _started[task_id] = timezone.now()


def _on_task_postrun(
    task_id: str | None = None, task: Any = None, state: str | None = None, retval: Any = None, **_: Any
) -> None:
    started_at = _started.pop(task_id or "", None)
    if started_at is None or task is None:
        return
    if state == states.SUCCESS:
        periodic_job_record(task=str(task.name), started_at=started_at)
    elif state in (states.FAILURE, states.RETRY) and isinstance(retval, BaseException):
        periodic_job_record(task=str(task.name), started_at=started_at, error=retval)
    # Anything else is no outcome of the job: a worker stopped mid-run (acks_late gives the run back), ignored.


def periodic_jobs_watch() -> None:
    """Record every run of a periodic job in this process (called once, at app ready)."""
    task_prerun.connect(_on_task_prerun, weak=False, dispatch_uid="hub.periodic_jobs.prerun")
    task_postrun.connect(_on_task_postrun, weak=False, dispatch_uid="hub.periodic_jobs.postrun")


@dataclass(frozen=True)
class PeriodicJobHealth:
    name: str
    task: str
    every_s: float | None
    last_run_at: datetime | None
    last_success_at: datetime | None
    last_error: str
    last_error_at: datetime | None
    status: JobStatus

    @property
    def healthy(self) -> bool:
        return self.status in ("ok", "waiting")


def periodic_jobs_health(*, now: datetime | None = None) -> list[PeriodicJobHealth]:
    """Every job of the schedule, run or not, with its status.

    `late`: no success for LATE_AFTER_INTERVALS intervals (a job that keeps failing, or never runs, ends here);
    `failing`: its last run failed; `waiting`: not run yet and not late; `ok`: its last run succeeded.
    """
    now = now or timezone.now()
    runs = {run.name: run for run in PeriodicJobRun.objects.all()}
    jobs = []
    for name, spec in settings.CELERY_BEAT_SCHEDULE.items():
        run = runs.get(name) or PeriodicJobRun(name=name, task=str(spec["task"]))
        run_every: timedelta | None = getattr(spec["schedule"], "run_every", None)
        every_s = run_every.total_seconds() if run_every else None
        since = max(run.last_success_at or PROCESS_STARTED_AT, PROCESS_STARTED_AT)
        failing = run.last_error_at is not None and (
            run.last_success_at is None or run.last_error_at > run.last_success_at
        )
        status: JobStatus = "ok" if run.last_success_at else "waiting"
        if every_s is not None and (now - since).total_seconds() > LATE_AFTER_INTERVALS * every_s:
            status = "late"
        elif failing:
            status = "failing"
        jobs.append(
            PeriodicJobHealth(
                name=name,
                task=str(spec["task"]),
                every_s=every_s,
                last_run_at=run.last_run_at,
                last_success_at=run.last_success_at,
                last_error=run.last_error,
                last_error_at=run.last_error_at,
                status=status,
            )
        )
    return jobs

"""Every periodic job of CELERY_BEAT_SCHEDULE runs, and succeeds, in the processes that run it in each mode.

Celery's autodiscovery is lazy: only a worker or beat imports the apps' tasks modules. Under `make run` the
embedded beat (a thread of the web process) found three jobs not registered and two more only after some request
had imported them, so snoozes never woke and leaks were never detected, and no test noticed. Here the real
processes run with every interval capped to a second (PERIODIC_JOBS_MAX_EVERY_S) and each job must have
succeeded, by its own record, with no traceback in the process's log.
"""

from __future__ import annotations

import re
import subprocess
import sys
from pathlib import Path
from typing import Any

import pytest
import requests
from django.conf import settings

from tests.live import ROOT, free_port, hub_env, processes, wait_http, wait_until
from tests.test_embedded import bare_env, manage

SCHEDULED_TASKS = sorted({str(spec["task"]) for spec in settings.CELERY_BEAT_SCHEDULE.values()})


def assert_no_traceback(name: str, log: str) -> None:
    assert "Traceback" not in log and not re.search(r"\bERROR\b", log), f"{name} logged an error:\n{log}"


def test_setting_django_up_registers_every_scheduled_task(tmp_path: Path) -> None:
    """The start of every process (uvicorn under serve, a worker, beat, a management command) sets Django up;
    from that moment every job must be callable by name, before any request imports anything."""
    code = (
        "import django; django.setup()\n"
        "from django.conf import settings; from config.celery import app\n"
        "print(sorted({s['task'] for s in settings.CELERY_BEAT_SCHEDULE.values()} - set(app.tasks)))"
    )
    env = {"PATH": "/usr/bin:/bin", "DJANGO_SETTINGS_MODULE": "config.settings", "HUB_VAR_DIR": str(tmp_path)}
    result = subprocess.run(
        [sys.executable, "-c", code], cwd=ROOT, env=env, capture_output=True, text=True, timeout=60
    )
    assert result.returncode == 0, result.stderr
    assert result.stdout.strip() == "[]", f"not registered at start-up: {result.stdout}"


@pytest.mark.integration
def test_make_run_embedded_runs_every_periodic_job_from_the_start(tmp_path: Path) -> None:
    port = free_port()
    base = f"http://127.0.0.1:{port}"
    env = bare_env(tmp_path, port)
    env["PERIODIC_JOBS_MAX_EVERY_S"] = "1"
    manage(env, "migrate", "--noinput")

    with processes(tmp_path) as running:
        running.start("serve", [sys.executable, "manage.py", "serve"], env)
        try:
            wait_http(f"{base}/healthz", timeout=60)
        except AssertionError:
            raise AssertionError(running.log("serve")) from None
        seen: dict[str, Any] = {}

        def every_job_succeeded() -> bool:
            seen.update(requests.get(f"{base}/healthz/jobs", timeout=5).json())
            return all(job["last_success_at"] for job in seen["jobs"].values())

        try:
            wait_until(every_job_succeeded, timeout=30, interval=0.5)
        except AssertionError:
            raise AssertionError(f"{seen}\n{running.log('serve')}") from None
        response = requests.get(f"{base}/healthz/jobs", timeout=5)
        log = running.log("serve")

    body = response.json()
    assert set(body["jobs"]) == set(settings.CELERY_BEAT_SCHEDULE)
    failed = {
        name: job for name, job in body["jobs"].items() if not job["last_success_at"] or job["last_error"]
    }
    assert failed == {}, f"jobs that did not succeed: {failed}\n{log}"
    assert (response.status_code, body["status"], body["scheduler"]) == (200, "ok", "embedded")
    assert_no_traceback("serve", log)


@pytest.mark.integration
def test_celery_worker_and_beat_run_every_periodic_job(transactional_db: Any, tmp_path: Path) -> None:
    from conversations.models import PeriodicJobRun

    env = hub_env(tmp_path / "var", PERIODIC_JOBS_MAX_EVERY_S="1")
    with processes(tmp_path) as running:
        running.worker(env, log_level="INFO")  # at INFO the worker lists the tasks it has registered
        running.start(
            "beat",
            [
                *(sys.executable, "-m", "celery", "-A", "config", "beat", "-l", "WARNING"),
                *("-S", "django_celery_beat.schedulers:DatabaseScheduler", "--pidfile", ""),
            ],
            env,
        )

        def every_job_succeeded() -> bool:
            done = PeriodicJobRun.objects.filter(last_success_at__isnull=False)
            return set(done.values_list("name", flat=True)) == set(settings.CELERY_BEAT_SCHEDULE)

        try:
            wait_until(every_job_succeeded, timeout=45, interval=0.5)
        except AssertionError:
            runs = list(PeriodicJobRun.objects.values("name", "last_success_at", "last_error"))
            raise AssertionError(f"{runs}\n{running.log('worker')}\n{running.log('beat')}") from None
        errors = list(PeriodicJobRun.objects.exclude(last_error="").values_list("name", "last_error"))
        worker_log, beat_log = running.log("worker"), running.log("beat")

    registered = worker_log[worker_log.index("[tasks]") :]
    assert [task for task in SCHEDULED_TASKS if f". {task}\n" not in registered] == []
    assert errors == []
    assert_no_traceback("worker", worker_log)
    assert_no_traceback("beat", beat_log)

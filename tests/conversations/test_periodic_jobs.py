"""The periodic jobs' record: each run of a scheduled job is written down, in place, without ever breaking the
job, and the admins and /healthz/jobs read from it which job is late or failing.

The processes themselves (`serve` embedded, a Celery worker and beat) are run in tests/test_periodic_jobs_run.py.
"""

from __future__ import annotations

import logging
from datetime import timedelta

import pytest
from celery.schedules import schedule
from celery.signals import task_postrun, task_prerun
from django.db import DatabaseError
from django.test import Client
from django.utils import timezone

from config.celery import app as celery_app
from conversations import periodic_jobs
from conversations.models import PeriodicJobRun
from tests import factories


@celery_app.task(name="tests.periodic.tidy")
def tidy(fail: str = "") -> str:
    if fail:
        raise ConnectionError(fail)
    return "tidied"


@celery_app.task(name="tests.periodic.not_scheduled")
def not_scheduled() -> str:
    return "ran"


@pytest.fixture
def tidy_every_minute(settings):
    settings.CELERY_BEAT_SCHEDULE = {
        "tidy-up": {"task": "tests.periodic.tidy", "schedule": schedule(timedelta(seconds=60))}
    }


@pytest.mark.django_db
def test_each_run_of_a_scheduled_job_updates_its_one_row(tidy_every_minute) -> None:
    before = timezone.now()
    assert tidy.apply().get() == "tidied"
    row = PeriodicJobRun.objects.get()
    assert (row.name, row.task, row.last_error, row.last_error_at) == (
        "tidy-up",
        "tests.periodic.tidy",
        "",
        None,
    )
    assert before <= row.last_run_at <= row.last_success_at

    # A failure keeps the last success and says what went wrong: briefly, without the URL's password, and
    # without the lines after the first (where PostgreSQL puts a row's values).
    message = "Error connecting to redis://hub:s3cret@10.0.0.5:6379/0 " + "x" * 500
    failed = tidy.apply(kwargs={"fail": f"{message}\nDETAIL:  Key (address)=(+14155550123) already exists."})
    assert isinstance(failed.result, ConnectionError)  # the job's own outcome is untouched
    row = PeriodicJobRun.objects.get()
    assert row.last_error.startswith("ConnectionError: Error connecting to redis://***@10.0.0.5:6379/0 xxx")
    assert "s3cret" not in row.last_error and len(row.last_error) == PeriodicJobRun.ERROR_MAX
    assert row.last_error_at >= row.last_success_at >= before
    tidy.apply(kwargs={"fail": "duplicate key value\nDETAIL:  Key (address)=(+14155550123) already exists."})
    assert PeriodicJobRun.objects.get().last_error == "ConnectionError: duplicate key value"

    not_scheduled.apply()
    assert PeriodicJobRun.objects.count() == 1  # only the schedule's jobs are recorded


@pytest.mark.django_db
def test_a_run_cut_short_by_a_worker_stopping_is_no_error(tidy_every_minute) -> None:
    """SIGTERM to a prefork child mid-run: Celery sends task_postrun with no state; acks_late gives the run back."""
    task_prerun.send(sender=tidy, task_id="cut-short", task=tidy, args=(), kwargs={})
    task_postrun.send(
        sender=tidy, task_id="cut-short", task=tidy, args=(), kwargs={}, retval=None, state=None
    )
    assert not PeriodicJobRun.objects.exists()


@pytest.mark.django_db
def test_a_record_that_cannot_be_written_never_breaks_the_job(tidy_every_minute, monkeypatch, caplog) -> None:
    def database_gone(*args, **kwargs):
        raise DatabaseError("server closed the connection unexpectedly")

    monkeypatch.setattr(PeriodicJobRun.objects, "bulk_create", database_gone)
    result = tidy.apply()
    assert result.successful() and result.get() == "tidied"
    assert "The run of tests.periodic.tidy could not be recorded: DatabaseError" in caplog.text
    assert [r for r in caplog.records if r.levelno >= logging.ERROR] == []


@pytest.mark.django_db
def test_a_job_is_late_after_three_intervals_without_success_and_failing_when_its_last_run_failed(
    settings, monkeypatch
) -> None:
    now = timezone.now()
    settings.CELERY_BEAT_SCHEDULE = {
        name: {"task": f"tests.periodic.{name}", "schedule": schedule(timedelta(seconds=60))}
        for name in ("fine", "failed-once", "stuck", "never-ran", "new")
    }
    monkeypatch.setattr(periodic_jobs, "PROCESS_STARTED_AT", now - timedelta(hours=1))
    PeriodicJobRun.objects.create(
        name="fine", task="tests.periodic.fine", last_success_at=now - timedelta(seconds=170)
    )
    PeriodicJobRun.objects.create(
        name="failed-once",
        task="tests.periodic.failed-once",
        last_success_at=now - timedelta(seconds=90),
        last_error="OperationalError: the database system is starting up",
        last_error_at=now - timedelta(seconds=30),
    )
    PeriodicJobRun.objects.create(
        name="stuck", task="tests.periodic.stuck", last_success_at=now - timedelta(seconds=181)
    )

    def statuses() -> dict[str, str]:
        return {job.name: job.status for job in periodic_jobs.periodic_jobs_health(now=now)}

    assert statuses() == {
        "fine": "ok",
        "failed-once": "failing",
        "stuck": "late",
        "never-ran": "late",  # an hour since this process started, and never run: the bug this page is for
        "new": "late",
    }
    # Just started: nothing is late yet, and a success from before the start still counts as one.
    monkeypatch.setattr(periodic_jobs, "PROCESS_STARTED_AT", now - timedelta(seconds=10))
    assert statuses() == {
        "fine": "ok",
        "failed-once": "failing",
        "stuck": "ok",
        "never-ran": "waiting",
        "new": "waiting",
    }


@pytest.mark.django_db
def test_the_admin_page_lists_every_scheduled_job_for_admins_only(settings, agent_alice) -> None:
    from django.contrib.auth.models import User

    PeriodicJobRun.objects.create(
        name="detect-leaks",
        task="lifecycle.tasks.detect_leaks",
        last_run_at=timezone.now(),
        last_error="NotRegistered: 'lifecycle.tasks.detect_leaks'",
        last_error_at=timezone.now(),
    )
    url = "/admin/conversations/periodicjobrun/"
    admin = Client()
    admin.force_login(User.objects.create_superuser("admin_ada", "ada@example.test", "pw-0123456789"))
    page = admin.get(url).content.decode()
    for name in settings.CELERY_BEAT_SCHEDULE:
        assert f'data-job="{name}"' in page  # run or not
    assert "NotRegistered: &#x27;lifecycle.tasks.detect_leaks&#x27;" in page
    assert admin.get(f"{url}add/").status_code == 403  # the record is the jobs' own: read-only

    agent = Client()
    agent.force_login(agent_alice)
    assert agent.get(url).status_code == 302  # to the admin's login: agents are not staff
    staff = factories.agent("staff_sam")
    staff.is_staff = True
    staff.save()
    agent.force_login(staff)
    assert agent.get(url).status_code == 403  # staff without the permission

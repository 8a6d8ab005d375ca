from __future__ import annotations

import pytest

from tests.channels_adapters.test_faults import broker_at, closed_port, database_unreachable


@pytest.mark.django_db
def test_healthz_says_ok(client) -> None:
    response = client.get("/healthz")
    assert response.status_code == 200
    assert response.json() == {"status": "ok"}


@pytest.mark.django_db
def test_readyz_checks_database_channel_layer_and_broker(client) -> None:
    with broker_at("redis://127.0.0.1:6379/12"):
        response = client.get("/readyz")
    assert response.status_code == 200, response.json()
    assert response.json()["checks"] == {"database": "ok", "channel_layer": "ok", "broker": "ok"}


@pytest.mark.django_db(transaction=True)
def test_readyz_names_what_is_down(client) -> None:
    with broker_at(f"redis://127.0.0.1:{closed_port()}/0"), database_unreachable():
        response = client.get("/readyz")
    assert response.status_code == 503
    checks = response.json()["checks"]
    assert checks["database"].startswith("down")
    assert checks["broker"].startswith("down")
    assert checks["channel_layer"] == "ok"


@pytest.mark.django_db
def test_healthz_jobs_says_how_each_scheduled_job_went_without_a_login(client, settings) -> None:
    from datetime import timedelta

    from django.utils import timezone
    from django.utils.dateparse import parse_datetime

    from conversations.models import PeriodicJobRun

    # In the past (the failure below comes after it), in whole milliseconds (as JSON carries them).
    now = (timezone.now() - timedelta(seconds=1)).replace(microsecond=123000)
    for name, spec in settings.CELERY_BEAT_SCHEDULE.items():
        PeriodicJobRun.objects.create(name=name, task=spec["task"], last_run_at=now, last_success_at=now)
    response = client.get("/healthz/jobs")
    assert response.status_code == 200, response.json()
    body = response.json()
    assert body["status"] == "ok"
    assert set(body["jobs"]) == set(settings.CELERY_BEAT_SCHEDULE)
    snooze = body["jobs"]["wake-snoozed-conversations"]
    assert (snooze["status"], snooze["every_s"]) == ("ok", float(settings.SNOOZE_WAKE_EVERY_S))
    assert parse_datetime(snooze["last_run_at"]) == parse_datetime(snooze["last_success_at"]) == now
    assert (snooze["last_error"], snooze["last_error_at"]) == (None, None)

    # One job's last run failed: the whole answers 503 for monitoring, and says which and why.
    PeriodicJobRun.objects.filter(name="detect-leaks").update(
        last_error="OperationalError: could not connect to server", last_error_at=timezone.now()
    )
    response = client.get("/healthz/jobs")
    assert response.status_code == 503
    body = response.json()
    assert body["status"] == "degraded"
    assert body["jobs"]["detect-leaks"]["status"] == "failing"
    assert body["jobs"]["detect-leaks"]["last_error"] == "OperationalError: could not connect to server"
    assert {job["status"] for name, job in body["jobs"].items() if name != "detect-leaks"} == {"ok"}


@pytest.mark.django_db
def test_a_late_job_fails_healthz_jobs_but_not_readyz(client, settings, monkeypatch) -> None:
    from datetime import timedelta

    from django.utils import timezone

    from conversations import periodic_jobs

    # Longer than LATE_AFTER_INTERVALS of the slowest job (retention runs daily).
    monkeypatch.setattr(periodic_jobs, "PROCESS_STARTED_AT", timezone.now() - timedelta(days=7))
    response = client.get("/healthz/jobs")
    assert response.status_code == 503
    assert {job["status"] for job in response.json()["jobs"].values()} == {"late"}  # none ever ran
    with broker_at(settings.REDIS_URL):
        assert client.get("/readyz").status_code == 200  # the web process still serves: keep it in rotation

"""/healthz: the process serves. /readyz: the database, the channel layer and the broker answer.

/healthz/jobs: the periodic jobs run and succeed. It is for monitoring, not for a load balancer: a late job
is no reason to take a web process that serves out of rotation, so /readyz does not look at it.
"""

from __future__ import annotations

import asyncio
import uuid

from asgiref.sync import async_to_sync
from channels.layers import get_channel_layer
from django.conf import settings
from django.db import connection
from django.http import HttpRequest, JsonResponse
from django.views.decorators.http import require_GET


@require_GET
def healthz(request: HttpRequest) -> JsonResponse:
    return JsonResponse({"status": "ok"})


@require_GET
def readyz(request: HttpRequest) -> JsonResponse:
    checks = {
        "database": _check_database(),
        "channel_layer": _check_channel_layer(),
        "broker": _check_broker(),
    }
    ready = all(value in ("ok", "embedded") for value in checks.values())
    return JsonResponse(
        {"status": "ok" if ready else "unavailable", "checks": checks}, status=200 if ready else 503
    )


def _check_database() -> str:
    try:
        with connection.cursor() as cursor:
            cursor.execute("SELECT 1")
        return "ok"
    except Exception as error:
        return f"down: {error.__class__.__name__}"


def _check_channel_layer() -> str:
    layer = get_channel_layer()
    if layer is None:
        return "down: no channel layer configured"

    async def round_trip() -> None:
        channel = f"readyz.{uuid.uuid4().hex}"
        await layer.send(channel, {"type": "readyz.ping"})
        await asyncio.wait_for(layer.receive(channel), timeout=2)

    try:
        async_to_sync(round_trip)()
        return "ok"
    except Exception as error:
        return f"down: {error.__class__.__name__}"


def _check_broker() -> str:
    from config.celery import app

    if settings.CELERY_TASK_ALWAYS_EAGER:
        return "embedded"
    try:
        with app.connection_for_write() as conn:
            conn.ensure_connection(max_retries=1, timeout=2)
        return "ok"
    except Exception as error:
        return f"down: {error.__class__.__name__}"


@require_GET
def healthz_jobs(request: HttpRequest) -> JsonResponse:
    """Each job of the schedule: its interval, last run, success and error, and its status; 503 when one is
    late or its last run failed. Open to monitoring without a login: names, times and short error texts only."""
    from conversations.periodic_jobs import periodic_jobs_health

    try:
        jobs = periodic_jobs_health()
    except Exception as error:
        return JsonResponse(
            {"status": "unavailable", "error": f"database: {error.__class__.__name__}"}, status=503
        )
    healthy = all(job.healthy for job in jobs)
    return JsonResponse(
        {
            "status": "ok" if healthy else "degraded",
            "scheduler": "embedded" if settings.EMBEDDED_BEAT else "celery beat",
            "jobs": {
                job.name: {
                    "status": job.status,
                    "every_s": job.every_s,
                    "last_run_at": job.last_run_at,
                    "last_success_at": job.last_success_at,
                    "last_error": job.last_error or None,
                    "last_error_at": job.last_error_at,
                }
                for job in jobs
            },
        },
        status=200 if healthy else 503,
    )

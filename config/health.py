"""/healthz: the process serves. /readyz: the database, the channel layer and the broker answer."""

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

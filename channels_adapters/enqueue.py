"""Enqueueing Celery tasks after commit, robustly: a broker that is down is logged, never a 500."""

from __future__ import annotations

import logging
from functools import partial
from typing import Any

from django.db import transaction

logger = logging.getLogger("hub.enqueue")


def enqueue_on_commit(task: Any, *args: Any, countdown: float | None = None) -> None:
    transaction.on_commit(partial(enqueue_now, task, *args, countdown=countdown))


def enqueue_now(task: Any, *args: Any, countdown: float | None = None) -> bool:
    try:
        task.apply_async(args=args, countdown=countdown)
    except Exception as error:
        # The row is stored; the sweeper (or the reconciler) picks it up once the broker is back.
        logger.warning("Could not enqueue %s%s: %s", task.name, args, error)
        return False
    return True

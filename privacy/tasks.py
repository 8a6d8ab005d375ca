"""Celery tasks of the privacy app: thin, each calls one service."""

from __future__ import annotations

import logging
from typing import Any

from celery import shared_task

logger = logging.getLogger("hub.privacy")


@shared_task(acks_late=True, reject_on_worker_lost=True)
def run_contact_export(job_id: int) -> None:
    from privacy.services import contact_export_run

    contact_export_run(job_id=job_id)


@shared_task(bind=True, acks_late=True, reject_on_worker_lost=True, max_retries=12)
def delete_provider_copies(self: Any, erasure_id: int) -> None:
    """Retried with backoff (up to about a day) while Twilio still holds a copy it may yet delete."""
    from privacy.services import erasure_provider_delete

    if erasure_provider_delete(erasure_id=erasure_id):
        return
    if self.request.retries >= self.max_retries:
        # Left in ContactErasure.provider_pending, where the erasure reports what Twilio still holds.
        logger.warning("Twilio still holds copies of erasure %s after every retry", erasure_id)
        return
    raise self.retry(countdown=min(3600, 60 * 2**self.request.retries))


@shared_task
def apply_retention() -> dict[str, int]:
    """Beat, daily: remove what the retention policies no longer keep (audited)."""
    from privacy.services import retention_run

    return retention_run(dry_run=False)

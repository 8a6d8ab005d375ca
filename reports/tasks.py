"""Celery tasks of the reports app: thin, each calls one service."""

from __future__ import annotations

from celery import shared_task


@shared_task
def send_due_followups() -> int:
    """Beat, every minute: due follow-ups and satisfaction questions (each claimed with SKIP LOCKED)."""
    from reports.services import followups_send_due, surveys_send_due

    return followups_send_due() + surveys_send_due()


@shared_task(acks_late=True, reject_on_worker_lost=True)
def run_export(job_id: int) -> None:
    from reports.services import export_job_run

    export_job_run(job_id=job_id)

"""Celery tasks of the rules: thin."""

from __future__ import annotations

from celery import shared_task
from django.conf import settings


@shared_task(acks_late=True, reject_on_worker_lost=True)
def run_rules() -> int:
    from rules.services import rule_runs_process

    return rule_runs_process()


@shared_task
def sweep_rule_runs() -> int:
    """The safety net: runs queued by a dispatch whose nudge was lost, or held by a worker that died."""
    from rules.services import rule_runs_process

    return rule_runs_process(older_than_s=settings.RULES_SWEEP_AFTER_S)

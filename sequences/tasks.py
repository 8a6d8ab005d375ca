"""Celery tasks of the sequences: thin."""

from __future__ import annotations

from celery import shared_task


@shared_task
def run_due_sequence_steps() -> int:
    """Beat, every SEQUENCES_EVERY_S (and a nudge after an enrolment): the steps that are due, each claimed with
    SKIP LOCKED in the transaction that takes it."""
    from sequences.services import sequence_steps_run_due

    return sequence_steps_run_due()

"""Celery tasks of the lifecycle app: thin."""

from __future__ import annotations

from celery import shared_task


@shared_task
def detect_leaks() -> int:
    """Find who is falling through the funnel now; alert the new ones. Returns how many are new."""
    from lifecycle.services import leaks_detect

    return leaks_detect().new


@shared_task
def send_leak_digest() -> bool:
    """The managers' daily digest, once a day after the configured hour (run hourly)."""
    from lifecycle.services import leaks_digest_send

    return leaks_digest_send()


@shared_task
def hand_back_departed_owners() -> int:
    """Customers of a deactivated owner go to the next agent of the same team (run every minute)."""
    from lifecycle.owners import owners_hand_back_departed

    return owners_hand_back_departed()


@shared_task
def check_response_targets() -> int:
    """Warn before a response target runs out, and call it missed when it does (run every minute)."""
    from lifecycle.targets import targets_check

    run = targets_check()
    return run.warned + run.escalated + run.breached

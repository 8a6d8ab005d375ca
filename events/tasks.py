from __future__ import annotations

from celery import shared_task
from django.conf import settings

from events.services import events_dispatch


@shared_task(acks_late=True, reject_on_worker_lost=True)
def dispatch_domain_events() -> int:
    return events_dispatch()


@shared_task
def sweep_domain_events() -> int:
    """The safety net: events a process wrote but did not get to dispatch (it died after its commit)."""
    return events_dispatch(older_than_s=settings.DOMAIN_EVENTS_SWEEP_AFTER_S)

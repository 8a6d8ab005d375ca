from __future__ import annotations

from typing import Any

from celery import shared_task

# A failed push (the push service erred or did not answer in time) is tried again after these many seconds,
# then dropped: a push an hour late is worse than none.
RETRY_AFTER_S = (30, 120, 600)


@shared_task(bind=True, max_retries=len(RETRY_AFTER_S), soft_time_limit=120, time_limit=150)
def push_send(self: Any, subscription_id: int, event_id: int) -> str:
    """One push to one agent's device (push/delivery.py); a bounded number of retries, never a stuck worker."""
    from push.delivery import Outcome, push_claim, push_deliver, push_given_up

    if self.request.retries == 0 and not push_claim(subscription_id=subscription_id, event_id=event_id):
        return "duplicate"  # this event was offered again: the device has had its push
    outcome = push_deliver(subscription_id=subscription_id, event_id=event_id)
    if outcome is Outcome.RETRY:
        if self.request.retries < len(RETRY_AFTER_S):
            raise self.retry(countdown=RETRY_AFTER_S[self.request.retries])
        push_given_up(subscription_id=subscription_id)
    return outcome.value

from __future__ import annotations

from celery import shared_task


@shared_task
def deliver_webhooks() -> int:
    """Webhook deliveries whose attempt is due (or whose worker died holding them); see webhooks/."""
    from webhooks.delivery import webhooks_deliver_due

    return webhooks_deliver_due()


@shared_task
def prune_webhook_deliveries() -> int:
    from webhooks.delivery import webhooks_prune

    return webhooks_prune()

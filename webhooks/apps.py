from __future__ import annotations

from django.apps import AppConfig


class WebhooksConfig(AppConfig):
    """Outgoing webhooks: a consumer of the domain events. Its tables live with the outbox, in `events`."""

    name = "webhooks"
    verbose_name = "Outgoing webhooks"

    def ready(self) -> None:
        from events.services import consumer_register
        from webhooks.delivery import webhook_deliveries_queue

        consumer_register("webhooks", webhook_deliveries_queue)

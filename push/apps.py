from __future__ import annotations

from django.apps import AppConfig


class PushConfig(AppConfig):
    """Web Push to agents' devices: a consumer of the domain events, beside the webhooks."""

    name = "push"
    verbose_name = "Web Push"
    default_auto_field = "django.db.models.BigAutoField"

    def ready(self) -> None:
        from events.services import consumer_register
        from push.services import push_events_take

        consumer_register("push", push_events_take)

from __future__ import annotations

from django.apps import AppConfig


class ChannelsAdaptersConfig(AppConfig):
    name = "channels_adapters"
    verbose_name = "Channel adapters"
    default_auto_field = "django.db.models.BigAutoField"

    def ready(self) -> None:
        from anymail.signals import inbound, tracking

        from channels_adapters.email import receivers

        inbound.connect(receivers.inbound_received, dispatch_uid="hub-email-inbound")
        tracking.connect(receivers.tracking_received, dispatch_uid="hub-email-tracking")

from __future__ import annotations

from django.apps import AppConfig


class ChannelsAdaptersConfig(AppConfig):
    name = "channels_adapters"
    verbose_name = "Channel adapters"
    default_auto_field = "django.db.models.BigAutoField"

    def ready(self) -> None:
        from anymail.signals import inbound, tracking

        from channels_adapters.email import receivers
        from channels_adapters.webchat.services import visitor_message
        from channels_adapters.webchat.settings import widget_settings_validate
        from conversations import realtime
        from conversations.models import INBOX_SETTINGS_CHECKS, Inbox

        # The threads ask the adapters for what is the adapters' to know (they sit above the threads).
        INBOX_SETTINGS_CHECKS[Inbox.WEBCHAT] = lambda inbox: widget_settings_validate(inbox=inbox)
        realtime.VISITOR_MESSAGE["draw"] = lambda entry: dict(visitor_message(entry))
        inbound.connect(receivers.inbound_received, dispatch_uid="hub-email-inbound")
        tracking.connect(receivers.tracking_received, dispatch_uid="hub-email-tracking")

from __future__ import annotations

from django.apps import AppConfig


class EventsConfig(AppConfig):
    name = "events"
    verbose_name = "Domain events and outgoing webhooks"
    default_auto_field = "django.db.models.BigAutoField"

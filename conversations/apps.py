from __future__ import annotations

from django.apps import AppConfig


class ConversationsConfig(AppConfig):
    name = "conversations"
    default_auto_field = "django.db.models.BigAutoField"

    def ready(self) -> None:
        from config.celery import tasks_register
        from conversations.periodic_jobs import periodic_jobs_watch

        periodic_jobs_watch()
        tasks_register()  # the periodic jobs run from the first minute, in every mode

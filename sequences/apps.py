from __future__ import annotations

from django.apps import AppConfig


class SequencesConfig(AppConfig):
    name = "sequences"
    verbose_name = "Sequences"
    default_auto_field = "django.db.models.BigAutoField"

    def ready(self) -> None:
        from sequences.subscribers import subscribers_register

        subscribers_register()

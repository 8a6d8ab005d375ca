from __future__ import annotations

from django.apps import AppConfig


class RulesConfig(AppConfig):
    name = "rules"
    verbose_name = "Automation rules"
    default_auto_field = "django.db.models.BigAutoField"

    def ready(self) -> None:
        from events.services import consumer_register
        from rules.services import rules_take

        consumer_register("rules", rules_take)

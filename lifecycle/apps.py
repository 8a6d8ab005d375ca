from __future__ import annotations

from typing import Any

from django.apps import AppConfig
from django.db.models.signals import post_migrate


class LifecycleConfig(AppConfig):
    name = "lifecycle"
    verbose_name = "Lifecycle and funnel"
    default_auto_field = "django.db.models.BigAutoField"

    def ready(self) -> None:
        from lifecycle.subscribers import subscribers_register

        post_migrate.connect(_stages_seed, sender=self)
        subscribers_register()
        from conversations.selectors import LEAD_SCORE
        from lifecycle.scores import score_expression

        if not LEAD_SCORE:
            LEAD_SCORE.append(score_expression)


def _stages_seed(using: str = "default", **kwargs: Any) -> None:
    """The default stages on an empty table: after the first migrate, and after a flush (tests), as Django
    recreates its permissions."""
    from lifecycle.models import Stage
    from lifecycle.services import stages_seed

    if not Stage.objects.using(using).exists():
        stages_seed()
    from lifecycle.scores import lead_score_weights_seed

    lead_score_weights_seed()

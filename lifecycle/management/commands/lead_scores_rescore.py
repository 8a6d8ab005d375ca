"""Fold every contact's lead-score signals again from the domain event stream, then score them all."""

from __future__ import annotations

from typing import Any

from django.core.management.base import BaseCommand

from lifecycle.scores import lead_scores_rebuild, lead_scores_recompute


class Command(BaseCommand):
    help = (
        "Fold every lead score's signals again from the domain event stream (needed after changing "
        "LEAD_SCORE_HALF_LIFE_DAYS), then score every contact; --weights-only applies the weights to the signals "
        "as they are."
    )

    def add_arguments(self, parser: Any) -> None:
        parser.add_argument("--weights-only", action="store_true", help="Only apply the weights (fast)")

    def handle(self, *args: Any, **options: Any) -> None:
        count = lead_scores_recompute() if options["weights_only"] else lead_scores_rebuild()
        self.stdout.write(f"{count} contacts scored.")

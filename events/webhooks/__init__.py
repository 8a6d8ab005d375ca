"""Outgoing webhooks: the after-commit consumer of the domain events (being built)."""

from __future__ import annotations

from collections.abc import Sequence

from events.models import DomainEvent


def webhook_deliveries_queue(events: Sequence[DomainEvent]) -> None:
    """Queue one delivery per (subscription, event) for every active subscription to each event's type."""
    return None

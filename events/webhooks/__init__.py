"""Outgoing webhooks: signed (Standard Webhooks), delivered at least once, to addresses the hub may reach.

`webhook_deliveries_queue` is the after-commit consumer of the domain events (events.services.CONSUMERS);
delivery.py sends, services.py manages the subscriptions, signing.py is the wire format. docs/webhooks.md
is the receiver's guide.
"""

from __future__ import annotations

from events.webhooks.delivery import webhook_deliveries_queue

__all__ = ["webhook_deliveries_queue"]

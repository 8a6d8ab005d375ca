"""Outgoing webhooks: signed (Standard Webhooks), delivered at least once, to addresses the hub may reach.

`delivery.webhook_deliveries_queue` is the after-commit consumer of the domain events (registered in apps.py);
delivery.py sends, services.py manages the subscriptions, signing.py is the wire format. docs/webhooks.md
is the receiver's guide. The tables live with the outbox, in events/models.py.
"""

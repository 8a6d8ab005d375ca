"""The outbox of domain events: one row per thing that happened, written in the transaction that made it
happen, so a crash between commit and publish loses nothing. Consumers read it after commit."""

from __future__ import annotations

from django.db import models
from django.db.models import Q


class DomainEvent(models.Model):
    """One typed event, `<domain>.<past_tense>` (events/catalog.py lists them with their payloads)."""

    # The id receivers see ("evt_" + 26 characters); a retry of a delivery carries the same one.
    uid = models.CharField(max_length=40, unique=True)
    type = models.CharField(max_length=64)
    occurred_at = models.DateTimeField()
    # Plain ids, not foreign keys: an event is a fact about the past and outlives a row being tidied away.
    conversation_id = models.BigIntegerField(null=True, blank=True)
    contact_id = models.BigIntegerField(null=True, blank=True)
    # 1, 2, 3... per thread: receivers order a thread's events by it, whatever order deliveries arrive in.
    thread_seq = models.PositiveIntegerField(null=True, blank=True)
    payload = models.JSONField(default=dict, blank=True)
    # Set once every after-commit consumer has taken the event (fanned it out to its own queue).
    dispatched_at = models.DateTimeField(null=True, blank=True)

    class Meta:
        constraints = [
            models.UniqueConstraint(
                fields=["conversation_id", "thread_seq"],
                condition=Q(thread_seq__isnull=False),
                name="domain_event_thread_seq",
            ),
        ]
        indexes = [
            models.Index(fields=["id"], condition=Q(dispatched_at__isnull=True), name="domain_event_pending"),
            models.Index(fields=["type", "id"], name="domain_event_type"),
        ]

    def __str__(self) -> str:
        return f"{self.type} {self.uid}"

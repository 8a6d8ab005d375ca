"""The outbox of domain events: one row per thing that happened, written in the transaction that made it
happen, so a crash between commit and publish loses nothing. Consumers read it after commit.

The outgoing webhooks: endpoints subscribed to event types, one delivery per (endpoint, event), and the log of
every attempt."""

from __future__ import annotations

from django.conf import settings
from django.db import models
from django.db.models import Q
from django.utils import timezone

from config.fields import EncryptedTextField


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
    # What made it happen when it was not a person or a provider: "rule:<id>" for an automation rule's action,
    # and how many such links led here (a rule reacting to a rule's change is one deeper): the loop guard.
    cause = models.CharField(max_length=64, blank=True, default="")
    depth = models.PositiveSmallIntegerField(default=0)
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


class WebhookEndpoint(models.Model):
    """A URL subscribed to some event types (or "*": all). Signed per Standard Webhooks with `secret`; after a
    rotation `previous_secret` signs alongside until `previous_secret_until`, so receivers can switch over."""

    ALL_TYPES = "*"

    url = models.CharField(max_length=2000)
    description = models.CharField(max_length=200, blank=True)
    event_types = models.JSONField(default=list)
    secret = EncryptedTextField()
    previous_secret = EncryptedTextField(blank=True, default="")
    previous_secret_until = models.DateTimeField(null=True, blank=True)
    active = models.BooleanField(default=True)
    # Switched off by the hub (three days of failures) or by an admin; the reason is shown on its page.
    disabled_at = models.DateTimeField(null=True, blank=True)
    disabled_reason = models.CharField(max_length=300, blank=True)
    # The first failure since the last success; None while it works.
    failing_since = models.DateTimeField(null=True, blank=True)
    last_success_at = models.DateTimeField(null=True, blank=True)
    created_by = models.ForeignKey(
        settings.AUTH_USER_MODEL, null=True, blank=True, on_delete=models.SET_NULL, related_name="+"
    )
    created_at = models.DateTimeField(default=timezone.now)
    updated_at = models.DateTimeField(auto_now=True)

    class Meta:
        ordering = ["id"]

    def __str__(self) -> str:
        return self.url

    def wants(self, event_type: str) -> bool:
        return self.ALL_TYPES in self.event_types or event_type in self.event_types


class WebhookDelivery(models.Model):
    """One event for one endpoint, delivered at least once. `next_attempt_at` is when a worker may claim it:
    the retry schedule while it fails, and the lease of the worker that claimed it while it is being sent."""

    PENDING = "pending"
    SUCCEEDED = "succeeded"
    FAILED = (
        "failed"  # the schedule ran out, or the address is refused: only a redelivery by hand sends it again
    )
    STATE_CHOICES = [(PENDING, "Pending"), (SUCCEEDED, "Succeeded"), (FAILED, "Failed")]

    endpoint = models.ForeignKey(WebhookEndpoint, on_delete=models.CASCADE, related_name="deliveries")
    event = models.ForeignKey(DomainEvent, on_delete=models.CASCADE, related_name="webhook_deliveries")
    state = models.CharField(max_length=16, choices=STATE_CHOICES, default=PENDING)
    # Attempts in the current round (a redelivery by hand starts a new round); drives the retry schedule.
    attempts = models.PositiveIntegerField(default=0)
    next_attempt_at = models.DateTimeField(null=True, blank=True)
    created_at = models.DateTimeField(default=timezone.now)
    last_attempt_at = models.DateTimeField(null=True, blank=True)
    last_status = models.PositiveIntegerField(null=True, blank=True)
    last_error = models.CharField(max_length=500, blank=True)
    succeeded_at = models.DateTimeField(null=True, blank=True)

    class Meta:
        constraints = [
            models.UniqueConstraint(fields=["endpoint", "event"], name="webhook_delivery_once"),
        ]
        indexes = [
            models.Index(
                fields=["next_attempt_at", "id"], condition=Q(state="pending"), name="webhook_delivery_due"
            ),
            models.Index(fields=["endpoint", "-id"], name="webhook_delivery_endpoint"),
        ]

    def __str__(self) -> str:
        return f"delivery {self.pk} of {self.event_id} to {self.endpoint_id}"


class WebhookAttempt(models.Model):
    """The log of one request: what the receiver answered (or the error), and how long it took."""

    delivery = models.ForeignKey(WebhookDelivery, on_delete=models.CASCADE, related_name="attempt_log")
    started_at = models.DateTimeField()
    duration_ms = models.PositiveIntegerField(default=0)
    status_code = models.PositiveIntegerField(null=True, blank=True)
    succeeded = models.BooleanField(default=False)
    # The first ~500 characters of the response, or the error.
    response_excerpt = models.CharField(max_length=500, blank=True)
    error = models.CharField(max_length=500, blank=True)

    class Meta:
        ordering = ["-started_at", "-id"]
        indexes = [models.Index(fields=["delivery", "-started_at"], name="webhook_attempt_delivery")]

    def __str__(self) -> str:
        return f"attempt {self.pk} of delivery {self.delivery_id}: {self.status_code or self.error[:40]}"

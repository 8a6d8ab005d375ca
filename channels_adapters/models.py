from __future__ import annotations

from django.db import models
from django.db.models import Q

from config.fields import EncryptedTextField


class TwilioAccount(models.Model):
    """A Twilio account or subaccount whose webhooks we accept and through which inboxes send.

    The account named by TWILIO_ACCOUNT_SID in the environment needs no row. A sandbox account signs the
    simulated webhooks of `simulate_sms` and sends nothing to the network.
    """

    name = models.CharField(max_length=100)
    account_sid = models.CharField(max_length=64, unique=True)
    auth_token = EncryptedTextField(blank=True)
    is_sandbox = models.BooleanField(default=False)
    created_at = models.DateTimeField(auto_now_add=True)

    def __str__(self) -> str:
        return f"{self.name} ({self.account_sid})"


class InboundEvent(models.Model):
    """A provider's raw payload, stored durably before anything else happens to it."""

    PENDING, DONE, FAILED = "pending", "done", "failed"
    STATE_CHOICES = [(PENDING, "Pending"), (DONE, "Done"), (FAILED, "Failed")]

    kind = models.CharField(max_length=32, help_text="Adapter kind in the registry, e.g. twilio_messaging")
    idempotency_key = models.CharField(max_length=255, unique=True)
    payload = models.JSONField()
    # Large raw bodies (MIME with attachments) go to file storage.
    raw_file = models.FileField(upload_to="inbound/%Y/%m/%d/", blank=True)
    state = models.CharField(max_length=16, choices=STATE_CHOICES, default=PENDING)
    attempts = models.PositiveSmallIntegerField(default=0)
    last_error = models.TextField(blank=True)
    received_at = models.DateTimeField()
    enqueued_at = models.DateTimeField(null=True, blank=True)
    processed_at = models.DateTimeField(null=True, blank=True)
    entry = models.ForeignKey(
        "conversations.Entry", null=True, blank=True, on_delete=models.SET_NULL, related_name="+"
    )

    class Meta:
        indexes = [
            models.Index(fields=["received_at"], condition=Q(state="pending"), name="inbound_event_pending"),
        ]

    def __str__(self) -> str:
        return f"{self.kind} {self.idempotency_key} ({self.state})"

from __future__ import annotations

from django.conf import settings
from django.db import models

from contacts.models import Contact


class ContactErasure(models.Model):
    """That a customer was erased, by whom and when: what remains of them is a stub with no identifiers.

    The reason is kept only with the customer's name and addresses taken out of it."""

    contact = models.OneToOneField(Contact, on_delete=models.CASCADE, related_name="erasure")
    erased_at = models.DateTimeField()
    erased_by = models.ForeignKey(
        settings.AUTH_USER_MODEL, null=True, blank=True, on_delete=models.SET_NULL, related_name="+"
    )
    reason = models.CharField(max_length=300, blank=True)
    # What the hub removed, counted per kind ({"entries": 12, "files": 3...}): no content, only numbers.
    counts = models.JSONField(default=dict, blank=True)
    # The provider's copies still to delete ([{"kind": "message", "sid": "SM...", "account": "AC..."}]): the
    # only place their ids are kept once the entries lose theirs; emptied as Twilio confirms each deletion.
    provider_pending = models.JSONField(default=list, blank=True)
    # What Twilio would not delete, each with its answer (a message's body is redacted instead).
    provider_failed = models.JSONField(default=list, blank=True)
    provider_done_at = models.DateTimeField(null=True, blank=True)

    def __str__(self) -> str:
        return f"erasure of contact {self.contact_id}"


class ContactExport(models.Model):
    """Everything the hub holds about one customer, as a zip built in the background, with its progress."""

    QUEUED, RUNNING, DONE, FAILED = "queued", "running", "done", "failed"
    STATE_CHOICES = [(QUEUED, "Queued"), (RUNNING, "Running"), (DONE, "Done"), (FAILED, "Failed")]

    created_by = models.ForeignKey(settings.AUTH_USER_MODEL, on_delete=models.CASCADE, related_name="+")
    created_at = models.DateTimeField(auto_now_add=True)
    # Null once the customer is erased (the export itself is deleted with them).
    contact = models.ForeignKey(
        Contact, null=True, blank=True, on_delete=models.SET_NULL, related_name="privacy_exports"
    )
    state = models.CharField(max_length=16, choices=STATE_CHOICES, default=QUEUED)
    total = models.PositiveIntegerField(default=0)
    done = models.PositiveIntegerField(default=0)
    file = models.FileField(upload_to="privacy-exports/%Y/%m/", blank=True)
    error = models.TextField(blank=True)
    finished_at = models.DateTimeField(null=True, blank=True)

    class Meta:
        ordering = ["-created_at", "-id"]

    def __str__(self) -> str:
        return f"customer export {self.pk} ({self.state})"

    @property
    def percent(self) -> int:
        if self.state == self.DONE:
            return 100
        return int(100 * self.done / self.total) if self.total else 0


class RetentionPolicy(models.Model):
    """How long one kind of data is kept; a daily job removes what is older (every run audited)."""

    RAW_PAYLOADS, ATTACHMENTS, INACTIVE_THREADS = "raw_payloads", "attachments", "inactive_threads"
    KIND_CHOICES = [
        (RAW_PAYLOADS, "Raw provider payloads and stored MIME (emptied; their keys stay)"),
        (ATTACHMENTS, "Attachments, recordings and uploads (files deleted)"),
        (INACTIVE_THREADS, "Customers whose thread has been inactive (erased)"),
    ]

    kind = models.CharField(max_length=32, choices=KIND_CHOICES, unique=True)
    days = models.PositiveIntegerField(help_text="Kept this many days (at least 1)")
    enabled = models.BooleanField(default=True)
    updated_at = models.DateTimeField(auto_now=True)
    updated_by = models.ForeignKey(
        settings.AUTH_USER_MODEL, null=True, blank=True, on_delete=models.SET_NULL, related_name="+"
    )

    class Meta:
        verbose_name_plural = "retention policies"
        constraints = [
            models.CheckConstraint(condition=models.Q(days__gte=1), name="retention_at_least_a_day")
        ]

    def __str__(self) -> str:
        return f"{self.get_kind_display()}: {self.days} days"

from __future__ import annotations

from django.db import models
from django.db.models import Q

from contacts import addresses


class Contact(models.Model):
    """A customer. A merged-away contact stays as a tombstone pointing at the survivor."""

    name = models.CharField(max_length=200, blank=True)
    # Unverified claims and custom attributes; never used to resolve who someone is.
    attributes = models.JSONField(default=dict, blank=True)
    merged_into = models.ForeignKey(
        "self", null=True, blank=True, on_delete=models.PROTECT, related_name="merged_from"
    )
    created_at = models.DateTimeField(auto_now_add=True)
    updated_at = models.DateTimeField(auto_now=True)

    class Meta:
        ordering = ["-id"]

    def __str__(self) -> str:
        return self.display_name

    @property
    def display_name(self) -> str:
        if self.name:
            return self.name
        first = next(iter(self.identities.all()), None) if self.pk else None
        return first.raw_address or first.address if first else f"Contact {self.pk}"

    @property
    def first_name(self) -> str:
        return self.name.split()[0] if self.name.strip() else ""


class Identity(models.Model):
    """One address a contact reaches us from. Only verified identities are unique and resolve a contact."""

    KIND_CHOICES = [
        (addresses.PHONE, "Phone"),
        (addresses.EMAIL, "Email"),
        (addresses.VISITOR, "Web visitor"),
        (addresses.EXTERNAL, "External user id"),
    ]

    contact = models.ForeignKey(Contact, on_delete=models.CASCADE, related_name="identities")
    kind = models.CharField(max_length=16, choices=KIND_CHOICES)
    address = models.CharField(max_length=320, help_text="Normalized: E.164 for phones, lower case for email")
    raw_address = models.CharField(max_length=320, blank=True)
    verified = models.BooleanField(default=True)
    # False when the sender is not a well-formed address (an alphanumeric sender id, garbage): kept, flagged.
    is_valid = models.BooleanField(default=True)
    # SMS opt-out: set by STOP, cleared by START; an opted-out number is not messaged.
    opted_out_at = models.DateTimeField(null=True, blank=True)
    # When the last STOP or START was made, so keywords processed out of order keep the latest wish.
    opt_changed_at = models.DateTimeField(null=True, blank=True)
    created_at = models.DateTimeField(auto_now_add=True)
    last_seen_at = models.DateTimeField(null=True, blank=True)

    class Meta:
        verbose_name_plural = "identities"
        constraints = [
            models.UniqueConstraint(
                fields=["kind", "address"], condition=Q(verified=True), name="identity_unique_verified"
            ),
        ]
        indexes = [models.Index(fields=["kind", "address"], name="identity_lookup")]

    def __str__(self) -> str:
        return f"{self.kind}:{self.address}"

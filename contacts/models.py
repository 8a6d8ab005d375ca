from __future__ import annotations

from datetime import datetime

from django.db import models
from django.db.models import Q
from django.utils.crypto import salted_hmac

from contacts import addresses


class Label(models.Model):
    """A tag agents put on customers (VIP, wholesale, churn risk); admins make them, agents apply them."""

    NAME_MAX = 50

    name = models.CharField(max_length=NAME_MAX, unique=True)
    color = models.CharField(max_length=7, default="#64748b", help_text="#rrggbb")
    created_at = models.DateTimeField(auto_now_add=True)

    class Meta:
        ordering = ["name"]

    def __str__(self) -> str:
        return self.name

    def clean(self) -> None:
        """The admin's form refuses what the service would."""
        from django.core.exceptions import ValidationError as FormError

        from config.errors import ValidationError
        from contacts.services import label_clean

        try:
            self.name, self.color = label_clean(name=self.name, color=self.color)
        except ValidationError as error:
            raise FormError(error.message) from error


class AttributeDefinition(models.Model):
    """A custom attribute of customers, defined by an admin; values live in `Contact.attributes[key]`."""

    TEXT, NUMBER, DATE, BOOL, CHOICE = "text", "number", "date", "bool", "choice"
    TYPE_CHOICES = [(TEXT, "Text"), (NUMBER, "Number"), (DATE, "Date"), (BOOL, "Yes/no"), (CHOICE, "Choice")]

    key = models.SlugField(
        max_length=50, unique=True, help_text="The key in the API, e.g. plan or signup_date"
    )
    label = models.CharField(max_length=100)
    type = models.CharField(max_length=16, choices=TYPE_CHOICES, default=TEXT)
    choices = models.JSONField(default=list, blank=True, help_text='For "choice": the allowed values')
    position = models.PositiveSmallIntegerField(default=0)

    class Meta:
        ordering = ["position", "label"]

    def __str__(self) -> str:
        return self.label


class Contact(models.Model):
    """A customer. A merged-away contact stays as a tombstone pointing at the survivor."""

    name = models.CharField(max_length=200, blank=True)
    # Unverified claims and custom attributes; never used to resolve who someone is.
    attributes = models.JSONField(default=dict, blank=True)
    merged_into = models.ForeignKey(
        "self", null=True, blank=True, on_delete=models.PROTECT, related_name="merged_from"
    )
    labels = models.ManyToManyField(Label, blank=True, related_name="contacts")
    created_at = models.DateTimeField(auto_now_add=True)
    updated_at = models.DateTimeField(auto_now=True)

    class Meta:
        ordering = ["-id"]
        # The Contacts page sorted by name reads a page from here instead of sorting every customer.
        indexes = [models.Index(fields=["name", "id"], name="contact_name_sort")]

    def __str__(self) -> str:
        return self.display_name

    @property
    def display_name(self) -> str:
        if self.name:
            return self.name
        first = next(iter(self.identities.all()), None) if self.pk else None
        if first is not None and first.kind == "visitor":
            return f"Web visitor {self.pk}"  # until they give their name: never the 32-character id
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
    # Who the address is unique within. Empty: the whole hub (a phone, an email and our own visitor ids name
    # one person everywhere). A host site's user id means something only on the site whose secret signed it:
    # "webchat:<inbox id>" (contacts.addresses.site_scope). An external id with no scope verifies nothing.
    scope = models.CharField(max_length=64, blank=True, default="", db_default="")
    address = models.CharField(max_length=320, help_text="Normalized: E.164 for phones, lower case for email")
    raw_address = models.CharField(max_length=320, blank=True)
    verified = models.BooleanField(default=True)
    # False when the sender is not a well-formed address (an alphanumeric sender id, garbage): kept, flagged.
    is_valid = models.BooleanField(default=True)
    # When the last STOP or START was made, so keywords processed out of order keep the latest wish. Whether
    # the number is opted out is its Suppression (per address, outliving this row): see `opted_out_at`.
    opt_changed_at = models.DateTimeField(null=True, blank=True)
    created_at = models.DateTimeField(auto_now_add=True)
    last_seen_at = models.DateTimeField(null=True, blank=True)

    class Meta:
        verbose_name_plural = "identities"
        constraints = [
            models.UniqueConstraint(
                fields=["kind", "scope", "address"],
                condition=Q(verified=True),
                name="identity_unique_verified",
            ),
        ]
        indexes = [models.Index(fields=["kind", "address"], name="identity_lookup")]

    def __str__(self) -> str:
        return f"{self.kind}:{self.scope + ':' if self.scope else ''}{self.address}"

    @property
    def opted_out_at(self) -> datetime | None:
        """When this number texted STOP (None: it may be sent SMS): read from its suppression, the one record of
        an opt-out, so every contact sharing the number, and a new one after an erasure, sees the same."""
        if self.kind != addresses.PHONE or not self.address:
            return None
        found = Suppression.objects.filter(
            channel=Suppression.SMS, key=suppression_key(channel=Suppression.SMS, address=self.address)
        ).first()
        return found.created_at if found is not None else None


def suppression_key(*, channel: str, address: str) -> str:
    """A keyed hash (HMAC-SHA256 with a key derived from SECRET_KEY) of a normalized address on a channel: it
    recognises the address again without keeping it. Rotating SECRET_KEY forgets every suppression."""
    return salted_hmac("contacts.Suppression", f"{channel}:{address}", algorithm="sha256").hexdigest()


class Suppression(models.Model):
    """An address that must not be messaged on a channel (a STOP), kept as a keyed hash of the address.

    It is per address, as Twilio's own opt-out is, and outlives the customer: erasing a contact deletes their
    identities but not this row, so a campaign never texts an erased customer who said STOP; START lifts it."""

    SMS = "sms"
    CHANNEL_CHOICES = [(SMS, "SMS (STOP)")]

    channel = models.CharField(max_length=16, choices=CHANNEL_CHOICES)
    # contacts.models.suppression_key of the normalized address (E.164 phone, lower-case email).
    key = models.CharField(max_length=64)
    created_at = models.DateTimeField(help_text="When the customer asked to stop")

    class Meta:
        constraints = [models.UniqueConstraint(fields=["channel", "key"], name="suppression_unique")]

    def __str__(self) -> str:
        return f"{self.channel} suppression {self.key[:12]}…"


class ContactImport(models.Model):
    """A CSV of customers being imported: the file, how far the task got, and the rows it refused."""

    PENDING, RUNNING, DONE, FAILED = "pending", "running", "done", "failed"
    STATE_CHOICES = [(PENDING, "Pending"), (RUNNING, "Running"), (DONE, "Done"), (FAILED, "Failed")]

    created_by = models.ForeignKey(
        "auth.User", null=True, blank=True, on_delete=models.SET_NULL, related_name="+"
    )
    filename = models.CharField(max_length=255, blank=True)
    # The file as uploaded, read as a stream by the task; `source` holds the text of imports made before.
    file = models.FileField(upload_to="imports/%Y/%m/", blank=True)
    encoding = models.CharField(
        max_length=16, blank=True, help_text="How the file was read: utf-8, cp1252..."
    )
    source = models.TextField(
        blank=True, help_text="The CSV of an import made before files were kept (UTF-8)"
    )
    state = models.CharField(max_length=16, choices=STATE_CHOICES, default=PENDING)
    total_rows = models.PositiveIntegerField(default=0)
    # Rows done so far (created, merged or refused); the task resumes after them if it is run again.
    processed_rows = models.PositiveIntegerField(default=0)
    created_count = models.PositiveIntegerField(default=0)
    merged_count = models.PositiveIntegerField(default=0)
    # The first refused rows (conversations.imports.REFUSED_LISTED), and how many were refused in all.
    refused = models.JSONField(default=list, blank=True, help_text='[{"line": 3, "reason": "..."}]')
    refused_count = models.PositiveIntegerField(default=0)
    error = models.TextField(blank=True)
    created_at = models.DateTimeField(auto_now_add=True)
    finished_at = models.DateTimeField(null=True, blank=True)

    class Meta:
        ordering = ["-created_at"]

    def __str__(self) -> str:
        return f"import {self.pk} ({self.filename})"

    @property
    def percent(self) -> int:
        return 100 if not self.total_rows else min(100, round(100 * self.processed_rows / self.total_rows))

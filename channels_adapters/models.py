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


class EmailMessage(models.Model):
    """The email side of an entry: threading headers, sanitized HTML, whether it was machine-sent."""

    AUTO_REPLY, BOUNCE, LIST = "auto_reply", "bounce", "list"
    AUTO_CHOICES = [(AUTO_REPLY, "Auto-reply"), (BOUNCE, "Bounce"), (LIST, "List or bulk mail")]

    entry = models.OneToOneField("conversations.Entry", on_delete=models.CASCADE, related_name="email")
    # As in the header, without the angle brackets; found again by its digest (threading, bounces).
    message_id = models.TextField(blank=True)
    message_id_digest = models.CharField(max_length=64, blank=True, db_index=True)
    in_reply_to = models.TextField(blank=True)
    references = models.JSONField(default=list, blank=True)
    from_header = models.TextField(blank=True)
    to = models.JSONField(default=list, blank=True)
    cc = models.JSONField(default=list, blank=True)
    html = models.TextField(blank=True, help_text="Sanitized with nh3; safe to show")
    auto = models.CharField(max_length=16, choices=AUTO_CHOICES, blank=True)
    # Where the visible text ends and quoted history or a signature begins (collapsed in the view).
    quote_at = models.PositiveIntegerField(null=True, blank=True)
    raw_attachment = models.ForeignKey(
        "conversations.Attachment", null=True, blank=True, on_delete=models.SET_NULL, related_name="+"
    )
    created_at = models.DateTimeField(auto_now_add=True)

    def __str__(self) -> str:
        return f"email of entry {self.entry_id}"


class EmailMailbox(models.Model):
    """An IMAP mailbox polled for an email inbox. Mail is never deleted unless `delete_after_import`."""

    inbox = models.ForeignKey("conversations.Inbox", on_delete=models.CASCADE, related_name="mailboxes")
    host = models.CharField(max_length=255)
    port = models.PositiveIntegerField(default=993)
    security = models.CharField(
        max_length=8, choices=[("ssl", "TLS"), ("starttls", "STARTTLS"), ("none", "None")], default="ssl"
    )
    username = models.CharField(max_length=255)
    password = EncryptedTextField(blank=True)
    folder = models.CharField(max_length=255, default="INBOX")
    delete_after_import = models.BooleanField(default=False)
    enabled = models.BooleanField(default=True)
    uidvalidity = models.BigIntegerField(null=True, blank=True)
    last_uid = models.BigIntegerField(default=0)
    last_polled_at = models.DateTimeField(null=True, blank=True)
    last_error = models.TextField(blank=True)

    class Meta:
        verbose_name_plural = "email mailboxes"

    def __str__(self) -> str:
        return f"{self.username}@{self.host}/{self.folder}"


class MessageTemplate(models.Model):
    """A Twilio Content template (on WhatsApp, Meta's "message template"), synced from the Content API.

    The only way to open a WhatsApp conversation more than 24 hours after the customer last wrote: Meta must
    have approved it. `account_sid` is "sandbox" for the sandbox's demo templates.
    """

    APPROVED = "approved"

    account_sid = models.CharField(max_length=64)
    content_sid = models.CharField(max_length=64)
    name = models.CharField(max_length=200)
    language = models.CharField(max_length=16, blank=True)
    body = models.TextField(blank=True, help_text="The text with {{1}}-style placeholders")
    variables = models.JSONField(default=dict, blank=True, help_text="Placeholder -> Twilio's sample value")
    whatsapp_status = models.CharField(max_length=32, blank=True)
    whatsapp_category = models.CharField(max_length=32, blank=True)
    rejection_reason = models.TextField(blank=True)
    synced_at = models.DateTimeField()

    class Meta:
        constraints = [
            models.UniqueConstraint(fields=["account_sid", "content_sid"], name="template_account_content")
        ]

    def __str__(self) -> str:
        return f"{self.name} ({self.language or '?'}, {self.whatsapp_status or 'not submitted'})"

from __future__ import annotations

import secrets
from collections.abc import Callable
from typing import Any

from django.conf import settings
from django.db import models
from django.db.models import Q
from django.utils import timezone

from config.fields import EncryptedTextField
from contacts.models import Contact


class Team(models.Model):
    name = models.CharField(max_length=100, unique=True)
    # New threads of the team's inboxes go round-robin to its online agents (under each agent's limit).
    auto_assign = models.BooleanField(default=False)
    created_at = models.DateTimeField(auto_now_add=True)

    class Meta:
        ordering = ["name"]

    def __str__(self) -> str:
        return self.name


class AgentProfile(models.Model):
    """What the hub knows of a user who works the inbox."""

    AGENT, MANAGER, ADMIN = "agent", "manager", "admin"
    ROLE_CHOICES = [(AGENT, "Agent"), (MANAGER, "Manager"), (ADMIN, "Admin")]
    ONLINE, AWAY, OFFLINE = "online", "away", "offline"
    AVAILABILITY_CHOICES = [(ONLINE, "Online"), (AWAY, "Away"), (OFFLINE, "Offline")]

    user = models.OneToOneField(settings.AUTH_USER_MODEL, on_delete=models.CASCADE, related_name="agent")
    role = models.CharField(max_length=16, choices=ROLE_CHOICES, default=AGENT)
    teams = models.ManyToManyField(Team, blank=True, related_name="agents")
    phone = models.CharField(max_length=32, blank=True)
    availability = models.CharField(max_length=16, choices=AVAILABILITY_CHOICES, default=OFFLINE)
    # Since when the availability is what it is: an agent away longer than ASSIGNMENT_HANDOVER_AFTER_S
    # hands their open threads back to the queue.
    availability_changed_at = models.DateTimeField(default=timezone.now)
    # Automatic assignment stops giving an agent threads once they hold this many open ones.
    max_open = models.PositiveSmallIntegerField(default=10)
    # Round-robin: the next thread goes to the available agent who was given one longest ago.
    last_assigned_at = models.DateTimeField(null=True, blank=True)

    def __str__(self) -> str:
        return f"{self.user.get_username()} ({self.role})"

    @property
    def sees_everything(self) -> bool:
        return self.role in (self.MANAGER, self.ADMIN)


# Checks an inbox kind's own settings must pass (kind -> check raising config.errors.ValidationError), registered
# by the channel adapters when they start: the web chat's allowed origins, colors and identity site.
INBOX_SETTINGS_CHECKS: dict[str, Callable[[Inbox], None]] = {}


class Inbox(models.Model):
    """A channel endpoint customers write to: a Twilio number (or Messaging Service), later a mailbox or a widget."""

    PHONE, EMAIL, WEBCHAT = "phone", "email", "webchat"
    KIND_CHOICES = [
        (PHONE, "Phone number (SMS, MMS, WhatsApp, voice)"),
        (EMAIL, "Email"),
        (WEBCHAT, "Web chat"),
    ]

    name = models.CharField(max_length=100)
    kind = models.CharField(max_length=16, choices=KIND_CHOICES, default=PHONE)
    address = models.CharField(
        max_length=320, blank=True, help_text="E.164 business number for a phone inbox; an address for email"
    )
    team = models.ForeignKey(Team, null=True, blank=True, on_delete=models.SET_NULL, related_name="inboxes")
    twilio_account = models.ForeignKey(
        "channels_adapters.TwilioAccount",
        null=True,
        blank=True,
        on_delete=models.SET_NULL,
        related_name="inboxes",
    )
    messaging_service_sid = models.CharField(
        max_length=64,
        blank=True,
        help_text="Twilio Messaging Service whose pool this inbox stands for (MG...)",
    )
    whatsapp_enabled = models.BooleanField(default=False)
    # Business hours, shared by voice, web chat and the reports (conversations.hours.is_open reads them).
    time_zone = models.CharField(max_length=64, default="UTC", help_text="IANA name, e.g. America/New_York")
    business_hours = models.JSONField(
        default=dict,
        blank=True,
        help_text='Weekly schedule, e.g. {"mon": [["09:00", "17:00"]], ...}; empty means always open',
    )
    holidays = models.JSONField(
        default=list, blank=True, help_text='Closed days in the inbox\'s time zone, e.g. ["2026-12-25"]'
    )
    # The funnel's unanswered-message leak: how long a customer may wait for an answer, in business minutes.
    target_response_minutes = models.PositiveIntegerField(
        default=60,
        help_text="Business minutes a customer's message may wait for an answer before it is a leak",
    )
    # Voice: what a caller hears and how long the agents' phones ring.
    voice_greeting = models.TextField(blank=True, help_text="Said when a call comes in; empty: a default")
    voicemail_prompt = models.TextField(blank=True, help_text="Said before the beep; empty: a default")
    ring_timeout_s = models.PositiveSmallIntegerField(default=20)
    voicemail_max_s = models.PositiveSmallIntegerField(
        default=120, help_text="Longest voicemail; Twilio transcribes recordings up to 120 seconds"
    )
    # Web chat: the widget's public key (in the embed tag), the sites that may embed it, what it says and
    # looks like, and the secret the host site signs a logged-in user's id with (Hub.identify's user_hash).
    widget_key = models.CharField(max_length=64, blank=True, help_text="Web chat: the key in the embed tag")
    allowed_origins = models.JSONField(
        default=list,
        blank=True,
        help_text='Web chat: sites that may embed it, e.g. ["https://shop.example.com"]',
    )
    widget_greeting = models.CharField(max_length=500, blank=True, help_text="Web chat: the first line shown")
    widget_color = models.CharField(max_length=7, default="#2563eb", help_text="Web chat: #rrggbb")
    identity_secret = EncryptedTextField(
        blank=True,
        help_text="Web chat: HMAC-SHA256 key for Hub.identify's user_hash; never shown to visitors",
    )
    # After a rotation the previous secret keeps verifying for a day, so the host site can deploy the new one.
    identity_secret_previous = EncryptedTextField(
        blank=True, help_text="Web chat: the secret before the last rotation; verifies until a day after it"
    )
    identity_secret_rotated_at = models.DateTimeField(null=True, blank=True)
    # Web chat inboxes whose sites truly share one user base are linked on purpose, to one "site": its secret
    # signs for all of them and a user id names the same customer on each. Unlinked, user ids never cross.
    identity_site = models.ForeignKey(
        "self",
        null=True,
        blank=True,
        on_delete=models.SET_NULL,
        related_name="identity_members",
        limit_choices_to={"kind": "webchat"},
        help_text="Web chat: share signed user ids with this inbox's site (its identity secret signs for both)",
    )
    # Where messages no inbox claims land, flagged for an admin to route.
    is_default = models.BooleanField(default=False)
    created_at = models.DateTimeField(auto_now_add=True)

    class Meta:
        verbose_name_plural = "inboxes"
        ordering = ["name"]
        constraints = [
            models.UniqueConstraint(
                fields=["kind", "address"], condition=~Q(address=""), name="inbox_unique_address"
            ),
            models.UniqueConstraint(
                fields=["is_default"], condition=Q(is_default=True), name="inbox_one_default"
            ),
            models.UniqueConstraint(
                fields=["widget_key"], condition=~Q(widget_key=""), name="inbox_unique_widget_key"
            ),
        ]

    def __str__(self) -> str:
        return self.name

    def save(self, *args: Any, **kwargs: Any) -> None:
        if self.kind == self.WEBCHAT and not self.widget_key:
            self.widget_key = secrets.token_urlsafe(18)
            if kwargs.get("update_fields") is not None:
                kwargs["update_fields"] = {*kwargs["update_fields"], "widget_key"}
        super().save(*args, **kwargs)

    @property
    def business_hours_json(self) -> str:
        """The schedule as the settings page's form edits it."""
        import json

        return json.dumps(self.business_hours or {})

    def clean(self) -> None:
        """The admin's form refuses business hours `is_open` could not read."""
        from django.core.exceptions import ValidationError as FormError

        from config.errors import ValidationError
        from conversations.hours import business_hours_validate

        try:
            business_hours_validate(
                schedule=self.business_hours, holidays=self.holidays, time_zone=self.time_zone
            )
        except ValidationError as error:
            raise FormError({"business_hours": error.message}) from error
        check = INBOX_SETTINGS_CHECKS.get(self.kind)
        if check is not None:
            try:
                check(self)
            except ValidationError as error:
                raise FormError(error.message) from error


class Conversation(models.Model):
    """The lifetime thread: exactly one per contact, forever."""

    OPEN, PENDING, SNOOZED, RESOLVED = "open", "pending", "snoozed", "resolved"
    STATUS_CHOICES = [(OPEN, "Open"), (PENDING, "Pending"), (SNOOZED, "Snoozed"), (RESOLVED, "Resolved")]

    contact = models.OneToOneField(Contact, on_delete=models.PROTECT, related_name="conversation")
    status = models.CharField(max_length=16, choices=STATUS_CHOICES, default=OPEN)
    team = models.ForeignKey(Team, null=True, blank=True, on_delete=models.SET_NULL, related_name="+")
    assignee = models.ForeignKey(
        settings.AUTH_USER_MODEL,
        null=True,
        blank=True,
        on_delete=models.SET_NULL,
        related_name="assigned_conversations",
    )
    inboxes = models.ManyToManyField(Inbox, through="ConversationInbox", related_name="conversations")
    created_at = models.DateTimeField(auto_now_add=True)
    last_activity_at = models.DateTimeField(db_index=True)
    # Set by a customer's message while nobody has answered it yet: the thread is waiting for the business.
    waiting_since = models.DateTimeField(null=True, blank=True)
    last_inbound_at = models.DateTimeField(null=True, blank=True)
    last_inbound_channel = models.CharField(max_length=16, blank=True)
    last_inbound_inbox = models.ForeignKey(
        Inbox, null=True, blank=True, on_delete=models.SET_NULL, related_name="+"
    )
    last_preview = models.CharField(max_length=200, blank=True)
    last_preview_direction = models.CharField(max_length=16, blank=True)
    # Bumped (under the row lock) by every logged event of the thread, so a page keeps the newest drawing.
    version = models.PositiveBigIntegerField(default=0)
    # A snoozed thread wakes (reopens) at this time, or sooner when the customer writes.
    snoozed_until = models.DateTimeField(null=True, blank=True)
    # A blocked sender's messages are still recorded, but the thread is in no view and never reopens.
    blocked_at = models.DateTimeField(null=True, blank=True)
    # How soon it needs an answer, set by an agent or a rule: the list sorts and filters by it.
    URGENT, HIGH, NORMAL, LOW = "urgent", "high", "normal", "low"
    PRIORITY_CHOICES = [(URGENT, "Urgent"), (HIGH, "High"), (NORMAL, "Normal"), (LOW, "Low")]
    # A database default too, so rows written by SQL (the benchmarks' data sets) need not name it.
    priority = models.CharField(max_length=8, choices=PRIORITY_CHOICES, default=NORMAL, db_default=NORMAL)

    class Meta:
        indexes = [
            # A view filtered by priority reads its range of the index, newest first.
            models.Index(
                fields=["priority", "status", "-last_activity_at", "-id"],
                include=["blocked_at"],
                name="conversation_priority_recent",
            ),
            models.Index(fields=["-last_activity_at", "-id"], name="conversation_recent"),
            # One per view of the inbox list, so a view's first page and its capped count read an index
            # range even over millions of threads (and an empty view costs nothing). Every view leaves out
            # blocked senders: `blocked_at` rides in each index so that test needs no visit to the table.
            models.Index(
                fields=["status", "-last_activity_at", "-id"],
                include=["blocked_at"],
                name="conversation_status_recent",
            ),
            models.Index(
                fields=["assignee", "status", "-last_activity_at", "-id"],
                include=["blocked_at"],
                name="conversation_mine_recent",
            ),
            models.Index(
                fields=["status", "-last_activity_at", "-id"],
                include=["blocked_at"],
                condition=Q(assignee__isnull=True),
                name="conversation_unassigned_recent",
            ),
            models.Index(
                fields=["status", "-last_activity_at", "-id"],
                include=["blocked_at"],
                condition=Q(waiting_since__isnull=False),
                name="conversation_unanswered_recent",
            ),
            models.Index(
                fields=["snoozed_until"], condition=Q(status="snoozed"), name="conversation_snoozed"
            ),
        ]

    def __str__(self) -> str:
        return f"Thread of {self.contact}"

    @property
    def is_unanswered(self) -> bool:
        return self.waiting_since is not None


class ConversationInbox(models.Model):
    """A thread belongs to every inbox its entries came through; visibility follows from it.

    Each link also carries a copy of the thread's list fields (status, assignee, waiting, last activity),
    kept in step by the services that change them, so the inbox views of one inbox read one index of
    this table however few of its threads match (a count over a join cannot stop early when they are few).
    """

    MERGED = "merged"  # the link's status once its customer was merged into another: in no view
    BLOCKED = "blocked"  # the link's status while its sender is blocked: in no view

    conversation = models.ForeignKey(Conversation, on_delete=models.CASCADE, related_name="inbox_links")
    inbox = models.ForeignKey(Inbox, on_delete=models.CASCADE, related_name="conversation_links")
    created_at = models.DateTimeField(auto_now_add=True)
    status = models.CharField(max_length=16, default=Conversation.OPEN)
    assignee = models.ForeignKey(
        settings.AUTH_USER_MODEL, null=True, blank=True, on_delete=models.SET_NULL, related_name="+"
    )
    waiting = models.BooleanField(default=False)
    last_activity_at = models.DateTimeField(default=timezone.now)

    class Meta:
        constraints = [
            models.UniqueConstraint(fields=["conversation", "inbox"], name="conversation_inbox_unique")
        ]
        indexes = [
            models.Index(fields=["inbox", "conversation"], name="inbox_conversations"),
            models.Index(
                fields=["inbox", "status", "-last_activity_at", "-conversation"], name="inbox_link_recent"
            ),
            models.Index(
                fields=["inbox", "assignee", "status", "-last_activity_at", "-conversation"],
                name="inbox_link_mine_recent",
            ),
            models.Index(
                fields=["inbox", "status", "-last_activity_at", "-conversation"],
                condition=Q(assignee__isnull=True),
                name="inbox_link_unassigned_recent",
            ),
            models.Index(
                fields=["inbox", "status", "-last_activity_at", "-conversation"],
                condition=Q(waiting=True),
                name="inbox_link_waiting_recent",
            ),
        ]

    def __str__(self) -> str:
        return f"conversation {self.conversation_id} via inbox {self.inbox_id}"


class Episode(models.Model):
    """One stretch of work on a thread, from open to resolved; response-time reports read these."""

    conversation = models.ForeignKey(Conversation, on_delete=models.CASCADE, related_name="episodes")
    team = models.ForeignKey(Team, null=True, blank=True, on_delete=models.SET_NULL, related_name="+")
    assignee = models.ForeignKey(
        settings.AUTH_USER_MODEL, null=True, blank=True, on_delete=models.SET_NULL, related_name="+"
    )
    opened_at = models.DateTimeField()
    first_inbound_at = models.DateTimeField(null=True, blank=True)
    first_response_at = models.DateTimeField(null=True, blank=True)
    resolved_at = models.DateTimeField(null=True, blank=True)

    class Meta:
        ordering = ["opened_at"]
        constraints = [
            models.UniqueConstraint(
                fields=["conversation"], condition=Q(resolved_at__isnull=True), name="episode_one_open"
            )
        ]

    def __str__(self) -> str:
        return f"episode {self.pk} of conversation {self.conversation_id}"

    @property
    def first_response_seconds(self) -> float | None:
        start = self.first_inbound_at or self.opened_at
        return (self.first_response_at - start).total_seconds() if self.first_response_at else None

    @property
    def resolution_seconds(self) -> float | None:
        return (self.resolved_at - self.opened_at).total_seconds() if self.resolved_at else None


class Entry(models.Model):
    """One item of a lifetime thread: a message, a note, a call or an event."""

    MESSAGE, NOTE, CALL, EVENT = "message", "note", "call", "event"
    KIND_CHOICES = [(MESSAGE, "Message"), (NOTE, "Note"), (CALL, "Call"), (EVENT, "Event")]
    SMS, WHATSAPP, VOICE, EMAIL, WEBCHAT = "sms", "whatsapp", "voice", "email", "webchat"
    CHANNEL_CHOICES = [
        (SMS, "SMS"),
        (WHATSAPP, "WhatsApp"),
        (VOICE, "Voice"),
        (EMAIL, "Email"),
        (WEBCHAT, "Web chat"),
    ]
    INBOUND, OUTBOUND, INTERNAL = "inbound", "outbound", "internal"
    DIRECTION_CHOICES = [(INBOUND, "Inbound"), (OUTBOUND, "Outbound"), (INTERNAL, "Internal")]
    QUEUED, SENDING, SENT, DELIVERED, READ = "queued", "sending", "sent", "delivered", "read"
    UNDELIVERED, FAILED, UNKNOWN = "undelivered", "failed", "unknown"
    DELIVERY_CHOICES = [
        (QUEUED, "Queued"),
        (SENDING, "Sending"),
        (SENT, "Sent"),
        (DELIVERED, "Delivered"),
        (READ, "Read"),
        (UNDELIVERED, "Undelivered"),
        (FAILED, "Failed"),
        (UNKNOWN, "Unknown"),
    ]

    conversation = models.ForeignKey(Conversation, on_delete=models.CASCADE, related_name="entries")
    # The thread the entry first belonged to, so a merge can be undone.
    origin_conversation = models.ForeignKey(
        Conversation, null=True, blank=True, on_delete=models.SET_NULL, related_name="+"
    )
    episode = models.ForeignKey(
        Episode, null=True, blank=True, on_delete=models.SET_NULL, related_name="entries"
    )
    kind = models.CharField(max_length=16, choices=KIND_CHOICES)
    channel = models.CharField(max_length=16, choices=CHANNEL_CHOICES, blank=True)
    direction = models.CharField(max_length=16, choices=DIRECTION_CHOICES)
    inbox = models.ForeignKey(Inbox, null=True, blank=True, on_delete=models.SET_NULL, related_name="entries")
    body = models.TextField(blank=True)
    subject = models.CharField(max_length=500, blank=True)
    author = models.ForeignKey(
        settings.AUTH_USER_MODEL, null=True, blank=True, on_delete=models.SET_NULL, related_name="+"
    )
    event_type = models.CharField(max_length=64, blank=True)
    # Channel details (media count, sender flags, event specifics). Never used for access decisions.
    data = models.JSONField(default=dict, blank=True)
    # When the hub received (or created) it: the thread's order.
    created_at = models.DateTimeField()
    updated_at = models.DateTimeField(auto_now=True)
    delivery_status = models.CharField(max_length=16, choices=DELIVERY_CHOICES, blank=True)
    status_reason = models.TextField(blank=True)
    provider = models.CharField(max_length=32, blank=True)
    provider_id = models.CharField(max_length=128, blank=True)
    # The business address it went out from or came in to (E.164 number, WhatsApp sender).
    from_address = models.CharField(max_length=320, blank=True)
    to_address = models.CharField(max_length=320, blank=True)
    sending_started_at = models.DateTimeField(null=True, blank=True)
    sent_at = models.DateTimeField(null=True, blank=True)
    attempts = models.PositiveSmallIntegerField(default=0)
    # Bumped on every change, so a client that hears of an entry twice keeps the newest.
    version = models.PositiveIntegerField(default=1)

    class Meta:
        verbose_name_plural = "entries"
        constraints = [
            models.UniqueConstraint(
                fields=["provider", "provider_id"],
                condition=~Q(provider_id=""),
                name="entry_unique_provider_id",
            )
        ]
        indexes = [
            models.Index(fields=["conversation", "-created_at", "-id"], name="entry_timeline"),
            models.Index(
                fields=["delivery_status", "sending_started_at"],
                condition=Q(delivery_status__in=["queued", "sending"]),
                name="entry_in_flight",
            ),
            # When the customer last wrote on WhatsApp (its 24-hour window), without reading a long thread.
            models.Index(
                fields=["conversation", "-created_at"],
                condition=Q(channel="whatsapp", direction="inbound"),
                name="entry_whatsapp_inbound",
            ),
        ]

    def __str__(self) -> str:
        return f"{self.kind} {self.pk}"

    @property
    def author_name(self) -> str:
        if self.author_id is None:
            return ""
        assert self.author is not None
        return self.author.get_full_name() or self.author.get_username()


class Attachment(models.Model):
    """A file on an entry (MMS media so far). Served only through an authenticated view."""

    PENDING, STORED, FAILED, REFUSED = "pending", "stored", "failed", "refused"
    STATE_CHOICES = [(PENDING, "Pending"), (STORED, "Stored"), (FAILED, "Failed"), (REFUSED, "Refused")]

    entry = models.ForeignKey(Entry, on_delete=models.CASCADE, related_name="attachments")
    position = models.PositiveSmallIntegerField(default=0)
    filename = models.CharField(max_length=255, blank=True)
    declared_content_type = models.CharField(max_length=255, blank=True)
    content_type = models.CharField(max_length=100, blank=True, help_text="What the bytes are, sniffed by us")
    size = models.PositiveBigIntegerField(default=0)
    file = models.FileField(upload_to="attachments/%Y/%m/", blank=True)
    source_url = models.URLField(max_length=2000, blank=True)
    state = models.CharField(max_length=16, choices=STATE_CHOICES, default=PENDING)
    error = models.TextField(blank=True)
    attempts = models.PositiveSmallIntegerField(default=0)
    # When a fetch is next due; the sweeper enqueues pending attachments whose time has long passed.
    next_try_at = models.DateTimeField(default=timezone.now)
    created_at = models.DateTimeField(auto_now_add=True)

    class Meta:
        ordering = ["entry", "position"]
        indexes = [
            models.Index(fields=["next_try_at"], condition=Q(state="pending"), name="attachment_pending"),
        ]

    INLINE_TYPES = ("image/png", "image/jpeg", "image/gif", "image/webp")

    def __str__(self) -> str:
        return self.filename or f"attachment {self.pk}"

    @property
    def is_inline_image(self) -> bool:
        return self.state == self.STORED and self.content_type in self.INLINE_TYPES

    INLINE_AUDIO_TYPES = ("audio/mpeg", "audio/wav", "audio/ogg")

    @property
    def is_inline_audio(self) -> bool:
        """A call recording (or a voice note), played in the thread."""
        return self.state == self.STORED and self.content_type in self.INLINE_AUDIO_TYPES


class RealtimeEvent(models.Model):
    """The event log: every broadcast, numbered, written with the change, so a reconnecting client catches up."""

    type = models.CharField(max_length=64)
    conversation = models.ForeignKey(
        Conversation, null=True, blank=True, on_delete=models.CASCADE, related_name="+", db_index=False
    )
    entry = models.ForeignKey(
        Entry, null=True, blank=True, on_delete=models.CASCADE, related_name="+", db_index=False
    )
    agent = models.ForeignKey(
        settings.AUTH_USER_MODEL,
        null=True,
        blank=True,
        on_delete=models.CASCADE,
        related_name="+",
        db_index=False,
    )
    created_at = models.DateTimeField(db_index=True)
    payload = models.JSONField(default=dict, blank=True)

    class Meta:
        indexes = [models.Index(fields=["conversation", "id"], name="realtime_event_conversation")]

    def __str__(self) -> str:
        return f"{self.type} #{self.pk}"


class Notification(models.Model):
    """Something an agent should know of: a colleague mentioned them in a note, or a customer is now theirs."""

    MENTION = "mention"
    OWNER = "owner"
    TARGET = "target"
    KIND_CHOICES = [
        (MENTION, "Mention"),
        (OWNER, "Customer handed to you"),
        (TARGET, "Response target at risk"),
    ]

    recipient = models.ForeignKey(
        settings.AUTH_USER_MODEL, on_delete=models.CASCADE, related_name="notifications"
    )
    kind = models.CharField(max_length=16, choices=KIND_CHOICES, default=MENTION)
    conversation = models.ForeignKey(Conversation, on_delete=models.CASCADE, related_name="notifications")
    entry = models.ForeignKey(Entry, null=True, blank=True, on_delete=models.CASCADE, related_name="+")
    actor = models.ForeignKey(
        settings.AUTH_USER_MODEL, null=True, blank=True, on_delete=models.SET_NULL, related_name="+"
    )
    created_at = models.DateTimeField(default=timezone.now)
    read_at = models.DateTimeField(null=True, blank=True)

    class Meta:
        ordering = ["-created_at", "-id"]
        indexes = [
            models.Index(fields=["recipient", "-created_at", "-id"], name="notification_recent"),
            models.Index(fields=["recipient"], condition=Q(read_at__isnull=True), name="notification_unread"),
            models.Index(fields=["recipient", "kind", "conversation"], name="notification_mentions"),
        ]

    def __str__(self) -> str:
        return f"{self.kind} for {self.recipient_id} in conversation {self.conversation_id}"


class CannedResponse(models.Model):
    """A saved reply an agent picks in the composer by typing `/` and its shortcut; `{{contact.first_name}}`
    and the other variables of `conversations.canned.VARIABLES` are filled in for the thread at hand."""

    SHORTCUT_MAX, TITLE_MAX, BODY_MAX = 50, 100, 5000

    shortcut = models.SlugField(max_length=SHORTCUT_MAX, unique=True)
    title = models.CharField(max_length=TITLE_MAX)
    body = models.TextField()
    created_by = models.ForeignKey(
        settings.AUTH_USER_MODEL, null=True, blank=True, on_delete=models.SET_NULL, related_name="+"
    )
    created_at = models.DateTimeField(auto_now_add=True)
    updated_at = models.DateTimeField(auto_now=True)

    class Meta:
        ordering = ["shortcut"]

    def __str__(self) -> str:
        return f"/{self.shortcut}"


class SavedView(models.Model):
    """An agent's own named filter set for the inbox list (view, status, inbox, team, channel, label)."""

    NAME_MAX = 60

    agent = models.ForeignKey(settings.AUTH_USER_MODEL, on_delete=models.CASCADE, related_name="saved_views")
    name = models.CharField(max_length=NAME_MAX)
    filters = models.JSONField(default=dict, blank=True)
    created_at = models.DateTimeField(auto_now_add=True)

    class Meta:
        ordering = ["name"]
        constraints = [models.UniqueConstraint(fields=["agent", "name"], name="saved_view_unique_name")]

    def __str__(self) -> str:
        return self.name


class PeriodicJobRun(models.Model):
    """How one periodic job (an entry of CELERY_BEAT_SCHEDULE) last went: one row per job, updated in place by
    every run, in either mode (conversations.periodic_jobs), and read by /healthz/jobs and the admin."""

    ERROR_MAX = 200

    name = models.CharField(max_length=100, unique=True)
    task = models.CharField(max_length=200)
    last_run_at = models.DateTimeField(null=True, blank=True)
    last_success_at = models.DateTimeField(null=True, blank=True)
    last_error = models.CharField(max_length=ERROR_MAX, blank=True)
    last_error_at = models.DateTimeField(null=True, blank=True)

    class Meta:
        ordering = ["name"]

    def __str__(self) -> str:
        return self.name

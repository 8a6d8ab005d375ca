"""Where each contact stands in the funnel, how it got there, what happened elsewhere, and the leaks."""

from __future__ import annotations

from django.conf import settings
from django.db import models
from django.db.models import Q

from contacts.models import Contact
from conversations.models import Conversation, Entry, Inbox


class Stage(models.Model):
    """One step of the lifecycle; the main line is the funnel, the rest (lost, churned) sit beside it."""

    key = models.SlugField(max_length=32, unique=True, help_text="Fixed once created; the rules use it")
    name = models.CharField(max_length=64)
    position = models.PositiveSmallIntegerField(default=0, help_text="Order along the funnel")
    on_main_line = models.BooleanField(default=True)
    owner_team = models.ForeignKey(
        "conversations.Team",
        null=True,
        blank=True,
        on_delete=models.SET_NULL,
        related_name="+",
        help_text="A contact reaching this stage without an owner is handed to an agent of this team, round robin",
    )

    class Meta:
        ordering = ["-on_main_line", "position", "id"]

    def __str__(self) -> str:
        return self.name


class ContactStage(models.Model):
    """The contact's current stage, and the facts of their first contact the funnel breaks down by."""

    contact = models.OneToOneField(Contact, on_delete=models.CASCADE, related_name="lifecycle")
    stage = models.ForeignKey(Stage, null=True, blank=True, on_delete=models.PROTECT, related_name="holders")
    entered_at = models.DateTimeField(null=True, blank=True)
    # The furthest main-line stage ever reached, so cohorts count how far each got in one pass.
    furthest_stage = models.ForeignKey(
        Stage, null=True, blank=True, on_delete=models.SET_NULL, related_name="+"
    )
    first_contact_at = models.DateTimeField()
    first_channel = models.CharField(max_length=16, blank=True, help_text="sms, email, ... or api")
    first_inbox = models.ForeignKey(Inbox, null=True, blank=True, on_delete=models.SET_NULL, related_name="+")

    class Meta:
        indexes = [
            models.Index(fields=["stage", "entered_at"], name="contact_stage_current"),
            models.Index(fields=["first_contact_at"], name="contact_stage_first_contact"),
        ]

    def __str__(self) -> str:
        return f"{self.contact_id} in {self.stage_id}"


class ContactOwner(models.Model):
    """Who owns the relationship with a customer, whoever holds their thread today: the lead's next steps are
    theirs. Handed round robin to the team a stage names (Stage.owner_team), or set by a manager."""

    contact = models.OneToOneField(
        Contact, on_delete=models.CASCADE, primary_key=True, related_name="ownership"
    )
    owner = models.ForeignKey(
        settings.AUTH_USER_MODEL,
        null=True,
        blank=True,
        on_delete=models.SET_NULL,
        related_name="owned_contacts",
    )
    team = models.ForeignKey(
        "conversations.Team", null=True, blank=True, on_delete=models.SET_NULL, related_name="+"
    )
    since = models.DateTimeField()
    reason = models.CharField(max_length=300, blank=True)

    class Meta:
        indexes = [models.Index(fields=["owner", "since"], name="contact_owner_since")]

    def __str__(self) -> str:
        return f"{self.contact_id} owned by {self.owner_id}"


class StageChange(models.Model):
    """One move of a contact between stages: the funnel report is computed from these rows."""

    contact = models.ForeignKey(Contact, on_delete=models.CASCADE, related_name="stage_changes")
    from_stage = models.ForeignKey(Stage, null=True, blank=True, on_delete=models.SET_NULL, related_name="+")
    to_stage = models.ForeignKey(Stage, null=True, on_delete=models.SET_NULL, related_name="+")
    at = models.DateTimeField()
    # When the contact moved on from `to_stage` (null while they are still in it): time in stage is left_at - at.
    left_at = models.DateTimeField(null=True, blank=True)
    by = models.ForeignKey(
        settings.AUTH_USER_MODEL, null=True, blank=True, on_delete=models.SET_NULL, related_name="+"
    )
    rule = models.CharField(max_length=32, blank=True, help_text="Empty for a move by hand")
    reason = models.CharField(max_length=300, blank=True)

    class Meta:
        indexes = [
            models.Index(fields=["at", "to_stage", "contact"], name="stage_change_period"),
            models.Index(fields=["contact", "-at"], name="stage_change_contact"),
        ]

    def __str__(self) -> str:
        return f"{self.contact_id}: {self.from_stage_id} -> {self.to_stage_id}"


class Touchpoint(models.Model):
    """Something that happened elsewhere (a purchase, a store visit, a demo booked), posted through the API."""

    contact = models.ForeignKey(Contact, on_delete=models.CASCADE, related_name="touchpoints")
    type = models.CharField(max_length=64)
    occurred_at = models.DateTimeField()
    payload = models.JSONField(default=dict, blank=True)
    client_key = models.CharField(
        max_length=200, help_text="The caller's id for it: posting it again is a no-op"
    )
    entry = models.ForeignKey(Entry, null=True, blank=True, on_delete=models.SET_NULL, related_name="+")
    created_by = models.ForeignKey(
        settings.AUTH_USER_MODEL, null=True, blank=True, on_delete=models.SET_NULL, related_name="+"
    )
    created_at = models.DateTimeField(auto_now_add=True)

    class Meta:
        constraints = [models.UniqueConstraint(fields=["client_key"], name="touchpoint_unique_client_key")]
        indexes = [models.Index(fields=["contact", "type"], name="touchpoint_contact_type")]

    def __str__(self) -> str:
        return f"{self.type} of {self.contact_id}"


class LeakSettings(models.Model):
    """The thresholds managers set (one row). The unanswered-message target lives on each inbox."""

    callback_minutes = models.PositiveIntegerField(
        default=60, help_text="Business minutes a missed call or voicemail may wait for a call back"
    )
    stale_lead_days = models.PositiveIntegerField(
        default=7, help_text="Days a lead or opportunity may go without a message or call"
    )
    customer_followup_days = models.PositiveIntegerField(
        default=3, help_text="Days after converting within which a new customer hears from us"
    )
    digest_hour_utc = models.PositiveSmallIntegerField(default=8, help_text="When the daily digest goes out")
    digest_sent_on = models.DateField(null=True, blank=True)

    class Meta:
        verbose_name_plural = "leak settings"

    def __str__(self) -> str:
        return "Leak thresholds"


class Leak(models.Model):
    """A contact falling through, as the periodic detector saw it: remembered so each is alerted once."""

    UNANSWERED, CALLBACK, STALE_LEAD, NO_FOLLOWUP = "unanswered", "callback", "stale_lead", "no_followup"
    TARGET_MISSED = "target_missed"
    KIND_CHOICES = [
        (UNANSWERED, "Message unanswered"),
        (CALLBACK, "Call not returned"),
        (STALE_LEAD, "Lead gone quiet"),
        (NO_FOLLOWUP, "New customer not followed up"),
        ("target_missed", "Response target missed"),
    ]

    conversation = models.ForeignKey(Conversation, on_delete=models.CASCADE, related_name="+")
    kind = models.CharField(max_length=16, choices=KIND_CHOICES)
    since = models.DateTimeField()
    detected_at = models.DateTimeField()
    resolved_at = models.DateTimeField(null=True, blank=True)

    class Meta:
        constraints = [
            models.UniqueConstraint(
                fields=["conversation", "kind"], condition=Q(resolved_at__isnull=True), name="leak_one_open"
            )
        ]

    def __str__(self) -> str:
        return f"{self.kind} on {self.conversation_id}"


class LeadScoreWeight(models.Model):
    """How many points an admin gives one signal (lifecycle/scores.py lists the signals); a signal without a
    row counts nothing."""

    signal = models.CharField(max_length=80, unique=True)
    points = models.SmallIntegerField()
    updated_at = models.DateTimeField(auto_now=True)

    class Meta:
        ordering = ["signal"]

    def __str__(self) -> str:
        return f"{self.signal}: {self.points:+d}"


class LeadSignal(models.Model):
    """What a contact did for one signal, folded as it happens (from the domain events): how often, when last,
    and `mass`, the sum of 2^((t - epoch) / half-life) over the occurrences for a signal that decays, so the
    decayed total at any time is mass * 2^(-(now - epoch) / half-life), whatever the weights are."""

    contact = models.ForeignKey(Contact, on_delete=models.CASCADE, related_name="+")
    signal = models.CharField(max_length=80)
    decays = models.BooleanField(default=True)
    count = models.PositiveIntegerField(default=0)
    mass = models.FloatField(default=0.0)
    last_at = models.DateTimeField()

    class Meta:
        constraints = [models.UniqueConstraint(fields=["contact", "signal"], name="lead_signal_one")]
        indexes = [models.Index(fields=["signal"], name="lead_signal_signal")]

    def __str__(self) -> str:
        return f"{self.contact_id} {self.signal} x{self.count}"


class LeadScore(models.Model):
    """A contact's score, kept from its signals and the weights in a form that decays without being written:
    score(now) = mass * 2^(-(now - epoch) / half-life) + fixed (+ the silence weight once `last_heard_at` is
    older than the silence window). Sorting by it needs no per-row clock: the decay factor is one number."""

    contact = models.OneToOneField(
        Contact, on_delete=models.CASCADE, primary_key=True, related_name="lead_score"
    )
    mass = models.FloatField(default=0.0)
    fixed = models.IntegerField(default=0)
    last_heard_at = models.DateTimeField(null=True, blank=True)
    computed_at = models.DateTimeField()

    def __str__(self) -> str:
        return f"score of {self.contact_id}"


class ResponseTarget(models.Model):
    """A response target (SLA policy): how many business minutes a thread of an inbox, a team or a stage may
    wait for its first answer, each next answer, its resolution, and a new owner's first touch. Where several
    apply to one thread, the strictest of each kind runs (lifecycle/targets.py)."""

    name = models.CharField(max_length=80, unique=True)
    inbox = models.ForeignKey(Inbox, null=True, blank=True, on_delete=models.CASCADE, related_name="+")
    team = models.ForeignKey(
        "conversations.Team", null=True, blank=True, on_delete=models.CASCADE, related_name="+"
    )
    stage = models.ForeignKey(Stage, null=True, blank=True, on_delete=models.CASCADE, related_name="+")
    first_response_minutes = models.PositiveIntegerField(null=True, blank=True)
    next_response_minutes = models.PositiveIntegerField(null=True, blank=True)
    resolution_minutes = models.PositiveIntegerField(null=True, blank=True)
    owner_touch_minutes = models.PositiveIntegerField(null=True, blank=True)
    warn_percent = models.PositiveSmallIntegerField(
        default=75, help_text="Share of the target after which the assignee is warned"
    )
    created_at = models.DateTimeField(auto_now_add=True)

    class Meta:
        ordering = ["name", "id"]
        constraints = [
            models.CheckConstraint(
                condition=(
                    Q(inbox__isnull=False, team__isnull=True, stage__isnull=True)
                    | Q(inbox__isnull=True, team__isnull=False, stage__isnull=True)
                    | Q(inbox__isnull=True, team__isnull=True, stage__isnull=False)
                ),
                name="response_target_one_scope",
            ),
            models.CheckConstraint(
                condition=Q(warn_percent__gte=10, warn_percent__lte=99), name="response_target_warn_share"
            ),
        ]

    def __str__(self) -> str:
        return self.name


class TargetTimer(models.Model):
    """One target running on one thread: business seconds allowed, spent before the last pause, and the wall
    times at which the periodic check must warn, escalate or call it missed. `due_at` is null while paused,
    and when the inbox's hours never open (the target never runs out)."""

    FIRST_RESPONSE, NEXT_RESPONSE = "first_response", "next_response"
    RESOLUTION, OWNER_TOUCH = "resolution", "owner_touch"
    METRIC_CHOICES = [
        (FIRST_RESPONSE, "First response"),
        (NEXT_RESPONSE, "Next response"),
        (RESOLUTION, "Resolution"),
        (OWNER_TOUCH, "First touch by the owner"),
    ]
    RUNNING, PAUSED, DONE, CANCELLED = "running", "paused", "done", "cancelled"
    STATE_CHOICES = [(RUNNING, "Running"), (PAUSED, "Paused"), (DONE, "Done"), (CANCELLED, "Cancelled")]

    conversation = models.ForeignKey(Conversation, on_delete=models.CASCADE, related_name="+")
    target = models.ForeignKey(ResponseTarget, on_delete=models.CASCADE, related_name="timers")
    metric = models.CharField(max_length=16, choices=METRIC_CHOICES)
    state = models.CharField(max_length=12, choices=STATE_CHOICES, default=RUNNING)
    inbox = models.ForeignKey(Inbox, null=True, blank=True, on_delete=models.SET_NULL, related_name="+")
    team = models.ForeignKey(
        "conversations.Team", null=True, blank=True, on_delete=models.SET_NULL, related_name="+"
    )
    agent = models.ForeignKey(
        settings.AUTH_USER_MODEL, null=True, blank=True, on_delete=models.SET_NULL, related_name="+"
    )
    allowed_s = models.PositiveIntegerField()
    spent_s = models.FloatField(default=0.0, help_text="Business seconds spent before the running stretch")
    started_at = models.DateTimeField()
    running_since = models.DateTimeField(null=True, blank=True)
    due_at = models.DateTimeField(null=True, blank=True)
    warn_at = models.DateTimeField(null=True, blank=True)
    escalate_at = models.DateTimeField(null=True, blank=True)
    warned_at = models.DateTimeField(null=True, blank=True)
    escalated_at = models.DateTimeField(null=True, blank=True)
    breached_at = models.DateTimeField(null=True, blank=True)
    finished_at = models.DateTimeField(null=True, blank=True)
    over_s = models.FloatField(null=True, blank=True, help_text="Business seconds past the target when done")
    overlapping = models.CharField(max_length=300, blank=True, help_text="The other targets this one beat")

    class Meta:
        constraints = [
            models.UniqueConstraint(
                fields=["conversation", "metric"],
                condition=Q(state__in=["running", "paused"]),
                name="target_timer_one_live",
            )
        ]
        indexes = [
            models.Index(
                fields=["warn_at"],
                condition=Q(state="running", warned_at__isnull=True),
                name="target_timer_warn",
            ),
            models.Index(
                fields=["escalate_at"],
                condition=Q(state="running", escalated_at__isnull=True),
                name="target_timer_escalate",
            ),
            models.Index(
                fields=["due_at"],
                condition=Q(state="running", breached_at__isnull=True),
                name="target_timer_due",
            ),
            models.Index(fields=["finished_at"], condition=Q(state="done"), name="target_timer_done"),
        ]

    def __str__(self) -> str:
        return f"{self.metric} on {self.conversation_id} ({self.state})"

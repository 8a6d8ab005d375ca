"""What managers read: response-time facts per episode, follow-ups, satisfaction, the audit log, exports."""

from __future__ import annotations

from django.conf import settings
from django.db import models
from django.db.models import Q

from conversations.models import Conversation, Entry, Episode, Inbox, Team


class EpisodeMetrics(models.Model):
    """An episode's report facts, written with the episode's own (first inbound, each response, resolution).

    Durations are computed once, in clock time and in the inbox's business hours, so the performance report
    is an aggregate over these rows and never reads the entries.
    """

    episode = models.OneToOneField(
        Episode, primary_key=True, on_delete=models.CASCADE, related_name="metrics"
    )
    opened_at = models.DateTimeField()
    # Local to the inbox: the volume heat map's cell.
    opened_weekday = models.PositiveSmallIntegerField(default=0, help_text="0 is Monday")
    opened_hour = models.PositiveSmallIntegerField(default=0)
    inbox = models.ForeignKey(Inbox, null=True, blank=True, on_delete=models.SET_NULL, related_name="+")
    channel = models.CharField(max_length=16, blank=True)
    team = models.ForeignKey(Team, null=True, blank=True, on_delete=models.SET_NULL, related_name="+")
    # Who answered first (or, unanswered, whom the episode was assigned to when resolved).
    agent = models.ForeignKey(
        settings.AUTH_USER_MODEL, null=True, blank=True, on_delete=models.SET_NULL, related_name="+"
    )
    first_response_s = models.FloatField(null=True, blank=True)
    first_response_bh_s = models.FloatField(null=True, blank=True)
    next_responses = models.PositiveIntegerField(default=0)
    next_response_total_s = models.FloatField(default=0)
    next_response_bh_total_s = models.FloatField(default=0)
    resolution_s = models.FloatField(null=True, blank=True)
    resolution_bh_s = models.FloatField(null=True, blank=True)
    rating = models.PositiveSmallIntegerField(null=True, blank=True)

    class Meta:
        verbose_name_plural = "episode metrics"
        indexes = [models.Index(fields=["opened_at"], name="episode_metrics_opened")]

    def __str__(self) -> str:
        return f"metrics of episode {self.episode_id}"


class ScheduledFollowUp(models.Model):
    """A message to the customer or a reminder to the agent, sent by beat at its time unless the customer
    writes first; also a suggested message (a thank-you to a new customer) waiting for an agent to send it."""

    MESSAGE, REMINDER = "message", "reminder"
    KIND_CHOICES = [(MESSAGE, "Message to the customer"), (REMINDER, "Reminder to me")]
    SUGGESTED, SCHEDULED, SENT, CANCELLED, FAILED = "suggested", "scheduled", "sent", "cancelled", "failed"
    STATE_CHOICES = [
        (SUGGESTED, "Suggested"),
        (SCHEDULED, "Scheduled"),
        (SENT, "Sent"),
        (CANCELLED, "Cancelled"),
        (FAILED, "Failed"),
    ]

    conversation = models.ForeignKey(Conversation, on_delete=models.CASCADE, related_name="followups")
    created_by = models.ForeignKey(
        settings.AUTH_USER_MODEL, null=True, blank=True, on_delete=models.SET_NULL, related_name="+"
    )
    kind = models.CharField(max_length=16, choices=KIND_CHOICES, default=MESSAGE)
    channel = models.CharField(max_length=16, blank=True)
    inbox = models.ForeignKey(Inbox, null=True, blank=True, on_delete=models.SET_NULL, related_name="+")
    body = models.TextField()
    due_at = models.DateTimeField(null=True, blank=True)
    cancel_on_reply = models.BooleanField(default=True)
    state = models.CharField(max_length=16, choices=STATE_CHOICES, default=SCHEDULED)
    reason = models.TextField(blank=True)
    entry = models.ForeignKey(Entry, null=True, blank=True, on_delete=models.SET_NULL, related_name="+")
    created_at = models.DateTimeField(auto_now_add=True)
    done_at = models.DateTimeField(null=True, blank=True)

    class Meta:
        ordering = ["due_at", "id"]
        indexes = [
            models.Index(fields=["due_at"], condition=Q(state="scheduled"), name="followup_due"),
            models.Index(fields=["conversation", "state"], name="followup_conversation"),
        ]

    def __str__(self) -> str:
        return f"{self.kind} follow-up {self.pk} ({self.state})"


class SatisfactionSurvey(models.Model):
    """The 1-to-5 question asked after an episode is resolved, on the channel of its last inbound message."""

    SCHEDULED, ASKED, ANSWERED, CLOSED, SKIPPED = "scheduled", "asked", "answered", "closed", "skipped"
    STATE_CHOICES = [
        (SCHEDULED, "Scheduled"),
        (ASKED, "Asked"),
        (ANSWERED, "Answered"),
        (CLOSED, "Closed unanswered"),
        (SKIPPED, "Not asked"),
    ]

    episode = models.OneToOneField(Episode, on_delete=models.CASCADE, related_name="survey")
    conversation = models.ForeignKey(Conversation, on_delete=models.CASCADE, related_name="surveys")
    asked_by = models.ForeignKey(
        settings.AUTH_USER_MODEL, null=True, blank=True, on_delete=models.SET_NULL, related_name="+"
    )
    channel = models.CharField(max_length=16, blank=True)
    inbox = models.ForeignKey(Inbox, null=True, blank=True, on_delete=models.SET_NULL, related_name="+")
    state = models.CharField(max_length=16, choices=STATE_CHOICES, default=SCHEDULED)
    due_at = models.DateTimeField()
    asked_at = models.DateTimeField(null=True, blank=True)
    question = models.ForeignKey(Entry, null=True, blank=True, on_delete=models.SET_NULL, related_name="+")
    reason = models.TextField(blank=True)

    class Meta:
        indexes = [
            models.Index(fields=["due_at"], condition=Q(state="scheduled"), name="survey_due"),
            models.Index(fields=["conversation", "state"], name="survey_conversation"),
        ]

    def __str__(self) -> str:
        return f"survey of episode {self.episode_id} ({self.state})"


class SatisfactionResponse(models.Model):
    """A customer's 1-to-5 answer, kept in the thread as their message and here for the reports."""

    survey = models.OneToOneField(SatisfactionSurvey, on_delete=models.CASCADE, related_name="response")
    episode = models.OneToOneField(Episode, on_delete=models.CASCADE, related_name="satisfaction")
    rating = models.PositiveSmallIntegerField()
    entry = models.ForeignKey(Entry, null=True, blank=True, on_delete=models.SET_NULL, related_name="+")
    channel = models.CharField(max_length=16, blank=True)
    answered_at = models.DateTimeField()

    class Meta:
        constraints = [
            models.CheckConstraint(condition=Q(rating__gte=1, rating__lte=5), name="satisfaction_one_to_five")
        ]

    def __str__(self) -> str:
        return f"{self.rating}/5 for episode {self.episode_id}"


class AuditLog(models.Model):
    """Agent actions that are not events of one thread (exports, logins); the rest of the trail is the threads."""

    EXPORT, LOGIN, ERASE, RETENTION, REDACT = "export", "login", "erase", "retention", "redact"
    SETTINGS, SECRET_REVEAL = "settings", "secret_reveal"
    ACTION_CHOICES = [
        (EXPORT, "Export"),
        (LOGIN, "Login"),
        (ERASE, "Erase a customer"),
        (RETENTION, "Retention (a policy changed, or data removed by one)"),
        (REDACT, "Redact a message"),
        (SETTINGS, "Settings changed (before and after; secrets masked)"),
        (SECRET_REVEAL, "A secret shown to an admin"),
    ]

    at = models.DateTimeField(db_index=True)
    actor = models.ForeignKey(
        settings.AUTH_USER_MODEL, null=True, blank=True, on_delete=models.SET_NULL, related_name="+"
    )
    action = models.CharField(max_length=32, choices=ACTION_CHOICES)
    conversation = models.ForeignKey(
        Conversation, null=True, blank=True, on_delete=models.SET_NULL, related_name="+"
    )
    description = models.CharField(max_length=500)
    data = models.JSONField(default=dict, blank=True)

    class Meta:
        ordering = ["-at", "-id"]

    def __str__(self) -> str:
        return f"{self.action} by {self.actor_id} at {self.at:%Y-%m-%d %H:%M}"


class ExportJob(models.Model):
    """A printable export made in the background, with its progress and its file."""

    QUEUED, RUNNING, DONE, FAILED = "queued", "running", "done", "failed"
    STATE_CHOICES = [(QUEUED, "Queued"), (RUNNING, "Running"), (DONE, "Done"), (FAILED, "Failed")]

    created_by = models.ForeignKey(settings.AUTH_USER_MODEL, on_delete=models.CASCADE, related_name="+")
    created_at = models.DateTimeField(auto_now_add=True)
    conversation = models.ForeignKey(
        Conversation, null=True, blank=True, on_delete=models.SET_NULL, related_name="+"
    )
    filters = models.JSONField(default=dict, blank=True)
    state = models.CharField(max_length=16, choices=STATE_CHOICES, default=QUEUED)
    total = models.PositiveIntegerField(default=0)
    done = models.PositiveIntegerField(default=0)
    file = models.FileField(upload_to="exports/%Y/%m/", blank=True)
    error = models.TextField(blank=True)
    finished_at = models.DateTimeField(null=True, blank=True)

    class Meta:
        ordering = ["-created_at", "-id"]

    def __str__(self) -> str:
        return f"export {self.pk} ({self.state})"

    @property
    def percent(self) -> int:
        if self.state == self.DONE:
            return 100
        return int(100 * self.done / self.total) if self.total else 0

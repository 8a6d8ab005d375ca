from __future__ import annotations

from django.conf import settings
from django.db import models
from django.db.models import Q


class Sequence(models.Model):
    """A multi-step journey for one customer at a time: its steps, in order (sequences/steps.py):

    {"type": "message", "channel": "sms" | "whatsapp" | "email" | "webchat" | "", "text": "..."}
    {"type": "wait", "days": 2, "business_days": true}
    {"type": "task", "text": "..."}   a note for the customer's owner, who is notified
    """

    name = models.CharField(max_length=200, unique=True)
    description = models.TextField(blank=True)
    steps = models.JSONField(default=list)
    enabled = models.BooleanField(default=True)
    # A customer who moves along the lifecycle while enrolled leaves (their journey is another one now).
    exit_on_stage_change = models.BooleanField(default=True)
    # Where messages go out from when the customer never wrote to any inbox (an imported customer); otherwise the
    # inbox they last used, as an agent's reply.
    inbox = models.ForeignKey(
        "conversations.Inbox", null=True, blank=True, on_delete=models.SET_NULL, related_name="+"
    )
    created_by = models.ForeignKey(
        settings.AUTH_USER_MODEL, null=True, blank=True, on_delete=models.SET_NULL, related_name="+"
    )
    created_at = models.DateTimeField(auto_now_add=True)
    updated_at = models.DateTimeField(auto_now=True)

    class Meta:
        ordering = ["name"]

    def __str__(self) -> str:
        return self.name


class Enrollment(models.Model):
    """One customer in one sequence: the next step to take (`step`, an index into the sequence's steps) and
    when (`next_run_at`). Due rows are claimed by the periodic job with SKIP LOCKED."""

    ACTIVE, COMPLETED, EXITED, FAILED = "active", "completed", "exited", "failed"
    STATES = [(s, s) for s in (ACTIVE, COMPLETED, EXITED, FAILED)]
    # Why a customer left: shown in the thread, the panel and the sequences page.
    EXIT_REASONS = {
        "completed": "finished every step",
        "replied": "the customer replied",
        "stage_changed": "the customer moved to another stage",
        "opted_out": "the customer opted out",
        "merged": "merged into a customer already in this sequence",
        "removed": "taken out by an agent",
        "step_failed": "a step could not be taken",
        "disabled": "the sequence was switched off",
        "erased": "the customer's data was erased",
    }

    sequence = models.ForeignKey(Sequence, on_delete=models.CASCADE, related_name="enrollments")
    contact = models.ForeignKey("contacts.Contact", on_delete=models.CASCADE, related_name="enrollments")
    step = models.PositiveIntegerField(default=0)
    state = models.CharField(max_length=10, choices=STATES, default=ACTIVE)
    next_run_at = models.DateTimeField(null=True, blank=True)
    exit_reason = models.CharField(max_length=32, blank=True)
    exit_detail = models.TextField(blank=True)
    # Who or what enrolled them: "agent", "api", "rule:<id>", "macro:<id>".
    source = models.CharField(max_length=64, blank=True)
    enrolled_by = models.ForeignKey(
        settings.AUTH_USER_MODEL, null=True, blank=True, on_delete=models.SET_NULL, related_name="+"
    )
    enrolled_at = models.DateTimeField(auto_now_add=True)
    finished_at = models.DateTimeField(null=True, blank=True)

    class Meta:
        ordering = ["-id"]
        constraints = [
            models.UniqueConstraint(
                fields=["sequence", "contact"], condition=Q(state="active"), name="enrollment_one_active"
            )
        ]
        indexes = [
            models.Index(fields=["next_run_at", "id"], condition=Q(state="active"), name="enrollment_due"),
            models.Index(fields=["contact", "state"], name="enrollment_contact"),
        ]

    def __str__(self) -> str:
        return f"{self.contact_id} in {self.sequence_id}: {self.state}"

    @property
    def progress_text(self) -> str:
        """How far along: the steps taken (a wait counts once it has begun)."""
        total = len(self.sequence.steps)
        return f"{min(self.step, total)} of {total} step{'s' if total != 1 else ''} done"

    @property
    def exit_reason_text(self) -> str:
        return self.EXIT_REASONS.get(self.exit_reason, self.exit_reason)


class StepRun(models.Model):
    """One step taken for one enrolment: unique per enrolment and step, so a step is never taken twice, whatever
    two workers or an edited sequence do."""

    SENT, DONE, FAILED = "sent", "done", "failed"

    enrollment = models.ForeignKey(Enrollment, on_delete=models.CASCADE, related_name="runs")
    step = models.PositiveIntegerField()
    step_type = models.CharField(max_length=16)
    outcome = models.CharField(max_length=8)
    entry_id = models.BigIntegerField(null=True, blank=True)
    detail = models.TextField(blank=True)
    at = models.DateTimeField(auto_now_add=True)

    class Meta:
        constraints = [models.UniqueConstraint(fields=["enrollment", "step"], name="step_run_once")]

    def __str__(self) -> str:
        return f"{self.enrollment_id} step {self.step}: {self.outcome}"

from __future__ import annotations

from django.conf import settings
from django.db import models
from django.db.models import Q


class Rule(models.Model):
    """When `event_type` happens, if every condition holds, take the actions, in order (rules/catalog.py)."""

    name = models.CharField(max_length=200)
    event_type = models.CharField(max_length=64)
    # [{"field": "channel", "op": "is", "value": "whatsapp"}, ...]: all must hold.
    conditions = models.JSONField(default=list, blank=True)
    # [{"type": "add_label", "label": 3}, ...]: taken in order.
    actions = models.JSONField(default=list)
    position = models.PositiveIntegerField(default=0)
    enabled = models.BooleanField(default=True)
    # The rules after this one are not evaluated for the event once this one has acted.
    stop_after = models.BooleanField(default=False)
    # A preset's name ("out_of_hours") when the rule was made from one.
    preset = models.CharField(max_length=32, blank=True)
    created_by = models.ForeignKey(
        settings.AUTH_USER_MODEL, null=True, blank=True, on_delete=models.SET_NULL, related_name="+"
    )
    created_at = models.DateTimeField(auto_now_add=True)
    updated_at = models.DateTimeField(auto_now=True)

    class Meta:
        ordering = ["position", "id"]
        indexes = [models.Index(fields=["event_type", "position"], name="rule_event_type")]

    def __str__(self) -> str:
        return self.name


class RuleRun(models.Model):
    """One rule meeting one event: queued after commit, then applied, skipped (a condition failed), stopped
    (the loop guard) or failed (an action raised). The rule's run log."""

    PENDING, APPLIED, SKIPPED, STOPPED, FAILED = "pending", "applied", "skipped", "stopped", "failed"
    STATES = [(s, s) for s in (PENDING, APPLIED, SKIPPED, STOPPED, FAILED)]

    rule = models.ForeignKey(Rule, on_delete=models.CASCADE, related_name="runs")
    event_id = models.BigIntegerField()
    event_uid = models.CharField(max_length=40)
    event_type = models.CharField(max_length=64)
    conversation_id = models.BigIntegerField(null=True, blank=True)
    depth = models.PositiveSmallIntegerField(default=0)
    state = models.CharField(max_length=8, choices=STATES, default=PENDING)
    # What was done, or why not: one line per action, or the condition that failed, or the error.
    detail = models.TextField(blank=True)
    errors = models.PositiveSmallIntegerField(default=0)
    created_at = models.DateTimeField(auto_now_add=True)
    finished_at = models.DateTimeField(null=True, blank=True)

    class Meta:
        constraints = [models.UniqueConstraint(fields=["rule", "event_uid"], name="rule_run_once")]
        indexes = [
            models.Index(fields=["event_id", "id"], condition=Q(state="pending"), name="rule_run_pending"),
            models.Index(fields=["rule", "-id"], name="rule_run_log"),
            models.Index(fields=["rule", "conversation_id", "created_at"], name="rule_run_rate"),
        ]

    def __str__(self) -> str:
        return f"{self.rule_id} on {self.event_uid}: {self.state}"


class Macro(models.Model):
    """A named list of the rules' actions (rules/catalog.py) an agent applies to threads in one click."""

    name = models.CharField(max_length=200, unique=True)
    actions = models.JSONField(default=list)
    created_by = models.ForeignKey(
        settings.AUTH_USER_MODEL, null=True, blank=True, on_delete=models.SET_NULL, related_name="+"
    )
    created_at = models.DateTimeField(auto_now_add=True)
    updated_at = models.DateTimeField(auto_now=True)

    class Meta:
        ordering = ["name"]

    def __str__(self) -> str:
        return self.name

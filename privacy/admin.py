from __future__ import annotations

from typing import Any

from django.contrib import admin
from django.http import HttpRequest

from config.errors import HubError
from privacy.models import ContactErasure, RetentionPolicy
from privacy.services import retention_policy_set


@admin.register(RetentionPolicy)
class RetentionPolicyAdmin(admin.ModelAdmin[RetentionPolicy]):
    """Admins set the policies here; each change is audited (reports' audit trail)."""

    list_display = ["kind", "days", "enabled", "updated_at", "updated_by"]
    fields = ["kind", "days", "enabled"]

    def save_model(self, request: HttpRequest, obj: RetentionPolicy, form: Any, change: bool) -> None:
        try:
            saved = retention_policy_set(kind=obj.kind, days=obj.days, enabled=obj.enabled, by=request.user)  # type: ignore[arg-type]
        except HubError as error:
            self.message_user(request, error.message, level="error")
            return
        obj.pk = saved.pk


@admin.register(ContactErasure)
class ContactErasureAdmin(admin.ModelAdmin[ContactErasure]):
    """Read-only: who erased which customer when, and what Twilio still holds."""

    list_display = ["contact", "erased_at", "erased_by", "provider_done_at"]
    readonly_fields = [
        "contact",
        "erased_at",
        "erased_by",
        "reason",
        "counts",
        "provider_pending",
        "provider_failed",
        "provider_done_at",
    ]

    def has_add_permission(self, request: HttpRequest) -> bool:
        return False

    def has_change_permission(self, request: HttpRequest, obj: Any = None) -> bool:
        return False

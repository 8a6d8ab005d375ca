from __future__ import annotations

from typing import Any

from django.contrib import admin
from django.http import HttpRequest, HttpResponse

from conversations.models import (
    AgentProfile,
    Attachment,
    Conversation,
    Entry,
    Episode,
    Inbox,
    PeriodicJobRun,
    Team,
)


@admin.register(Team)
class TeamAdmin(admin.ModelAdmin[Team]):
    list_display = ["name", "auto_assign", "created_at"]
    list_editable = ["auto_assign"]


@admin.register(AgentProfile)
class AgentProfileAdmin(admin.ModelAdmin[AgentProfile]):
    list_display = ["user", "role", "availability", "max_open", "phone"]
    list_editable = ["max_open"]
    list_filter = ["role", "teams"]
    filter_horizontal = ["teams"]


@admin.register(Inbox)
class InboxAdmin(admin.ModelAdmin[Inbox]):
    list_display = ["name", "kind", "address", "messaging_service_sid", "team", "is_default"]
    list_filter = ["kind", "team"]


@admin.register(Conversation)
class ConversationAdmin(admin.ModelAdmin[Conversation]):
    list_display = [
        "id",
        "contact",
        "status",
        "snoozed_until",
        "assignee",
        "last_activity_at",
        "waiting_since",
    ]
    list_filter = ["status"]
    raw_id_fields = ["contact", "assignee", "last_inbound_inbox"]


@admin.register(Entry)
class EntryAdmin(admin.ModelAdmin[Entry]):
    list_display = ["id", "conversation", "kind", "channel", "direction", "delivery_status", "created_at"]
    list_filter = ["kind", "channel", "direction", "delivery_status"]
    raw_id_fields = ["conversation", "origin_conversation", "episode", "author", "inbox"]


@admin.register(Episode)
class EpisodeAdmin(admin.ModelAdmin[Episode]):
    list_display = ["id", "conversation", "opened_at", "first_response_at", "resolved_at"]
    raw_id_fields = ["conversation"]


@admin.register(Attachment)
class AttachmentAdmin(admin.ModelAdmin[Attachment]):
    list_display = ["id", "entry", "state", "content_type", "size"]
    raw_id_fields = ["entry"]


@admin.register(PeriodicJobRun)
class PeriodicJobRunAdmin(admin.ModelAdmin[PeriodicJobRun]):
    """Read-only: the rows are the jobs' own record (conversations.periodic_jobs). The list shows every job of
    the schedule with its status, the ones that never ran included."""

    change_list_template = "admin/conversations/periodicjobrun/change_list.html"
    list_display = ["name", "last_run_at", "last_success_at", "last_error_at", "last_error"]

    def has_add_permission(self, request: HttpRequest) -> bool:
        return False

    def has_change_permission(self, request: HttpRequest, obj: PeriodicJobRun | None = None) -> bool:
        return False

    def has_delete_permission(self, request: HttpRequest, obj: PeriodicJobRun | None = None) -> bool:
        return False

    def changelist_view(
        self, request: HttpRequest, extra_context: dict[str, Any] | None = None
    ) -> HttpResponse:
        from conversations.periodic_jobs import LATE_AFTER_INTERVALS, periodic_jobs_health

        context = {
            **(extra_context or {}),
            "jobs": periodic_jobs_health(),
            "late_after": LATE_AFTER_INTERVALS,
        }
        return super().changelist_view(request, context)

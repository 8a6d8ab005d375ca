from __future__ import annotations

from django.contrib import admin

from conversations.models import AgentProfile, Attachment, Conversation, Entry, Episode, Inbox, Team


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

from __future__ import annotations

from django.contrib import admin

from lifecycle.models import ContactStage, Leak, LeakSettings, Stage, StageChange, Touchpoint


@admin.register(Stage)
class StageAdmin(admin.ModelAdmin[Stage]):
    list_display = ["name", "key", "position", "on_main_line"]


@admin.register(ContactStage)
class ContactStageAdmin(admin.ModelAdmin[ContactStage]):
    list_display = ["contact", "stage", "entered_at", "first_channel", "first_inbox", "first_contact_at"]
    list_filter = ["stage", "first_channel"]
    raw_id_fields = ["contact", "stage", "furthest_stage", "first_inbox"]


@admin.register(StageChange)
class StageChangeAdmin(admin.ModelAdmin[StageChange]):
    list_display = ["contact", "from_stage", "to_stage", "at", "left_at", "by", "rule", "reason"]
    list_filter = ["to_stage", "rule"]
    raw_id_fields = ["contact", "from_stage", "to_stage", "by"]


@admin.register(Touchpoint)
class TouchpointAdmin(admin.ModelAdmin[Touchpoint]):
    list_display = ["contact", "type", "occurred_at", "client_key", "created_at"]
    list_filter = ["type"]
    raw_id_fields = ["contact", "entry", "created_by"]


admin.site.register(LeakSettings)


@admin.register(Leak)
class LeakAdmin(admin.ModelAdmin[Leak]):
    list_display = ["conversation", "kind", "since", "detected_at", "resolved_at"]
    list_filter = ["kind"]
    raw_id_fields = ["conversation"]

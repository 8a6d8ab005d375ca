from __future__ import annotations

from typing import Any

from django.contrib import admin
from django.db.models import QuerySet
from django.http import HttpRequest

from events.models import DomainEvent


class Undispatched(admin.SimpleListFilter):
    """Events no consumer has taken yet: a few seconds' worth is normal; older ones mean a consumer keeps
    failing (its error is in the log under hub.events) or no worker and no beat runs."""

    title = "dispatch"
    parameter_name = "dispatch"

    def lookups(self, request: HttpRequest, model_admin: Any) -> list[tuple[str, str]]:
        return [("waiting", "Waiting for a consumer")]

    def queryset(self, request: HttpRequest, queryset: QuerySet[DomainEvent]) -> QuerySet[DomainEvent]:
        if self.value() == "waiting":
            return queryset.filter(dispatched_at__isnull=True)
        return queryset


@admin.register(DomainEvent)
class DomainEventAdmin(admin.ModelAdmin[DomainEvent]):
    """The stream, read-only: what happened, in order, and whether the consumers have taken it."""

    list_display = ["uid", "type", "occurred_at", "conversation_id", "thread_seq", "dispatched_at"]
    list_filter = [Undispatched, "type"]
    search_fields = ["uid", "type"]
    ordering = ["-id"]
    show_full_result_count = False

    def has_add_permission(self, request: HttpRequest) -> bool:
        return False

    def has_change_permission(self, request: HttpRequest, obj: DomainEvent | None = None) -> bool:
        return False

    def has_delete_permission(self, request: HttpRequest, obj: DomainEvent | None = None) -> bool:
        return False

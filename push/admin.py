from __future__ import annotations

from django.contrib import admin
from django.http import HttpRequest

from push.models import PushSubscription


@admin.register(PushSubscription)
class PushSubscriptionAdmin(admin.ModelAdmin[PushSubscription]):
    """Agents' devices for Web Push: seen and removed here (a lost phone), never edited."""

    list_display = ("user", "device", "created_at", "last_sent_at", "failures")
    list_select_related = ("user",)
    readonly_fields = (
        "user",
        "endpoint",
        "p256dh",
        "auth",
        "device",
        "created_at",
        "last_sent_at",
        "failures",
    )
    search_fields = ("user__username", "device")

    def has_add_permission(self, request: HttpRequest) -> bool:
        return False

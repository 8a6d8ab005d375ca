from __future__ import annotations

from django.contrib.auth.models import User
from django.db.models import QuerySet

from push.models import PushPreference, PushSubscription


def push_devices(user: User) -> QuerySet[PushSubscription]:
    """The agent's own devices, newest first (the profile page lists them with "remove")."""
    return PushSubscription.objects.filter(user=user).only("pk", "device", "created_at", "last_sent_at")


def push_previews(user: User) -> bool:
    return PushPreference.objects.filter(user=user, previews=True).exists()

"""What every agent page's top bar shows: the count of unread notifications."""

from __future__ import annotations

from django.http import HttpRequest

from conversations.selectors import agent_profile, notification_unread_count


def notifications(request: HttpRequest) -> dict[str, int]:
    user = getattr(request, "user", None)
    if user is None or agent_profile(user) is None:
        return {}
    return {"unread_notifications": notification_unread_count(user)}

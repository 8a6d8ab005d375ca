"""Template helpers of the reports: durations as people read them, the heat map's shades, the thread's
follow-up panel and the Reports link for managers."""

from __future__ import annotations

from typing import Any

from django import template

from conversations.selectors import agent_sees_everything

register = template.Library()


@register.filter
def duration(seconds: float | None) -> str:
    """12 s, 4 min, 2 h 05 min, 3 d 4 h; a dash when nothing was measured."""
    if seconds is None:
        return "—"
    value = round(seconds)
    if value < 60:
        return f"{value} s"
    minutes, _ = divmod(value, 60)
    if minutes < 60:
        return f"{minutes} min"
    hours, minutes = divmod(minutes, 60)
    if hours < 24:
        return f"{hours} h {minutes:02d} min"
    days, hours = divmod(hours, 24)
    return f"{days} d {hours} h"


@register.filter
def lookup(mapping: dict[str, Any], key: str) -> Any:
    return mapping.get(key, "")


@register.filter
def is_manager(user: Any) -> bool:
    return agent_sees_everything(user)


@register.inclusion_tag("reports/_followups.html", takes_context=True)
def thread_followups(context: dict[str, Any], conversation: Any) -> dict[str, Any]:
    from django.conf import settings

    from reports.models import ScheduledFollowUp

    waiting = list(
        ScheduledFollowUp.objects.filter(
            conversation=conversation,
            state__in=(ScheduledFollowUp.SCHEDULED, ScheduledFollowUp.SUGGESTED),
        ).order_by("state", "due_at", "id")[:20]
    )
    return {
        "c": conversation,
        "suggested": [f for f in waiting if f.state == ScheduledFollowUp.SUGGESTED],
        "scheduled": [f for f in waiting if f.state == ScheduledFollowUp.SCHEDULED],
        "csrf_token": context.get("csrf_token"),
        "time_zone": settings.TIME_ZONE,
        "channels": context.get("channels", []),
        "default_channel": context.get("default_channel", ""),
    }


@register.filter
def channel_label(channel: str) -> str:
    from conversations.models import Entry

    return dict(Entry.CHANNEL_CHOICES).get(channel, channel)

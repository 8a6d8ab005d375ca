from __future__ import annotations

from typing import Any

from django import template
from django.utils import timezone

from conversations.models import Conversation
from conversations.selectors import agent_sees_everything, agents_for_conversation
from lifecycle.models import ContactOwner, ContactStage, Stage, TargetTimer
from lifecycle.scores import lead_score_explain, lead_scores_of, score_band
from lifecycle.targets import target_timers_live

register = template.Library()


@register.inclusion_tag("lifecycle/_stage_control.html")
def stage_control(c: Conversation) -> dict[str, Any]:
    """The contact's lifecycle stage in the thread header, and the control that moves it by hand."""
    current = ContactStage.objects.select_related("stage").filter(contact_id=c.contact_id).first()
    return {"c": c, "current": current.stage if current else None, "stages": list(Stage.objects.all())}


@register.inclusion_tag("lifecycle/_contact_owner.html", takes_context=True)
def contact_owner(context: dict[str, Any], c: Conversation) -> dict[str, Any]:
    """The customer panel's owner: who carries this customer's next steps, and (managers) who should."""
    user = context["request"].user
    row = ContactOwner.objects.select_related("owner", "team").filter(contact_id=c.contact_id).first()
    manager = agent_sees_everything(user)
    return {
        "c": c,
        "ownership": row,
        "is_owner": row is not None and row.owner_id == user.pk,
        "manager": manager,
        "agents": agents_for_conversation(c) if manager else [],
    }


@register.inclusion_tag("lifecycle/_lead_star.html")
def lead_star(c: Conversation) -> dict[str, Any]:
    """The list row's ★ score: the list annotates it (`score_now`) for a whole page; a live row asks once."""
    if hasattr(c, "score_now"):
        value = None if c.score_now is None else round(c.score_now)
    else:
        value = lead_scores_of([c.contact_id]).get(c.contact_id)
    return {"score": value, "band": score_band(value)}


@register.inclusion_tag("lifecycle/_lead_score.html")
def lead_score_panel(c: Conversation) -> dict[str, Any]:
    """The customer panel's lead score, with its reasons."""
    return {"explained": lead_score_explain(contact_id=c.contact_id)}


@register.inclusion_tag("lifecycle/_target_chip.html")
def response_target(c: Conversation) -> dict[str, Any]:
    """The thread header's chip: the response target due first, how long is left (counted down in the page)."""
    timers = target_timers_live(conversation_id=c.pk)
    timer = timers[0] if timers else None
    if timer is None:
        return {"timer": None}
    now = timezone.now()
    left_s = (timer.due_at - now).total_seconds() if timer.due_at is not None else None
    return {
        "timer": timer,
        "left_text": _left_text(left_s),
        "late": timer.breached_at is not None or (left_s is not None and left_s < 0),
        "never": timer.state == TargetTimer.RUNNING and timer.due_at is None,
        "others": timers[1:],
    }


def _left_text(seconds: float | None) -> str:
    if seconds is None:
        return ""
    minutes = int(abs(seconds) // 60)
    text = f"{minutes // 60}h {minutes % 60}m" if minutes >= 60 else f"{minutes}m"
    if minutes >= 48 * 60:
        text = f"{minutes // (24 * 60)}d {minutes // 60 % 24}h"
    return f"{text} late" if seconds < 0 else f"{text} left"


@register.filter
def duration_minutes(seconds: float | None) -> str:
    """Business seconds as the report says them: "20 min", "3 h 5 min"."""
    if seconds is None:
        return ""
    minutes = max(0, round(seconds / 60))
    return f"{minutes // 60} h {minutes % 60} min" if minutes >= 60 else f"{minutes} min"

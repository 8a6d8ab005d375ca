from __future__ import annotations

from typing import Any

from django import template

from conversations.models import Conversation
from conversations.selectors import agent_sees_everything, agents_for_conversation
from lifecycle.models import ContactOwner, ContactStage, Stage
from lifecycle.scores import lead_score_explain, lead_scores_of, score_band

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

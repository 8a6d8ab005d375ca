from __future__ import annotations

from typing import Any

from django import template

from conversations.models import Conversation
from lifecycle.models import ContactStage, Stage

register = template.Library()


@register.inclusion_tag("lifecycle/_stage_control.html")
def stage_control(c: Conversation) -> dict[str, Any]:
    """The contact's lifecycle stage in the thread header, and the control that moves it by hand."""
    current = ContactStage.objects.select_related("stage").filter(contact_id=c.contact_id).first()
    return {"c": c, "current": current.stage if current else None, "stages": list(Stage.objects.all())}

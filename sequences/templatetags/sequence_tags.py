from __future__ import annotations

from typing import Any

from django import template

from conversations.models import Conversation
from sequences.models import Enrollment, Sequence

register = template.Library()


@register.inclusion_tag("sequences/_contact_sequences.html")
def contact_sequences(c: Conversation) -> dict[str, Any]:
    """The customer panel's sequences: those they are in (and the step they reached), the last ones they left and
    why, and the switched-on ones an agent can enrol them in."""
    enrollments = list(
        Enrollment.objects.filter(contact_id=c.contact_id).select_related("sequence").order_by("-id")[:8]
    )
    active = [e for e in enrollments if e.state == Enrollment.ACTIVE]
    inside = {e.sequence_id for e in active}
    return {
        "c": c,
        "active": active,
        "finished": [e for e in enrollments if e.state != Enrollment.ACTIVE][:3],
        "offer": [s for s in Sequence.objects.filter(enabled=True).order_by("name") if s.pk not in inside],
    }

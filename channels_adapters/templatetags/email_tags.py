"""Template helpers for drawing an email entry."""

from __future__ import annotations

from django import template

from conversations.models import Entry

register = template.Library()


@register.filter
def email_parts(entry: Entry) -> tuple[str, str]:
    """The visible text and the quoted history or signature (collapsed in the view)."""
    email = getattr(entry, "email", None)
    cut = email.quote_at if email is not None else None
    if not cut or cut >= len(entry.body):
        return entry.body, ""
    return entry.body[:cut].rstrip(), entry.body[cut:]


@register.filter
def exchange_hue(prefix: str) -> int:
    """A hue per email exchange, so the entries of one exchange share a colour in the thread."""
    try:
        return int(prefix, 16) * 360 // 256
    except ValueError:
        return 0

"""Short names people type (a label, a saved view): folded to one line and checked with a clear message."""

from __future__ import annotations

from config.errors import ValidationError


def name_clean(name: str, *, max_length: int, what: str) -> str:
    """`name` on one line, or a ValidationError naming `what` ("a label") and the limit."""
    text = " ".join(str(name).split())
    if not text:
        raise ValidationError(f"Give {what} a name.")
    if len(text) > max_length:
        raise ValidationError(
            f"The name of {what} can be at most {max_length} characters (this one has {len(text)})."
        )
    return text

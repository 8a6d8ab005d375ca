"""Who is visiting: signed visitor ids kept by the browser, and the host site's signed user ids.

A visitor id is ours: `<id>.<tag>`, the tag an HMAC (the hub's SECRET_KEY) of the inbox and the id, so a
visitor cannot pick someone else's id. A host site's `user_hash` is HMAC-SHA256 of its user id (or, for a
site without user ids, of the email) keyed with the inbox's identity secret, as Intercom and Crisp do.
Both are compared in full, in constant time.
"""

from __future__ import annotations

import hashlib
import hmac
import re
import secrets

from django.utils.crypto import salted_hmac

SALT = "hub.webchat.visitor"
_VISITOR = re.compile(r"^([a-f0-9]{32})\.([a-f0-9]{64})$")


def _tag(inbox_id: int, visitor_id: str) -> str:
    return salted_hmac(SALT, f"{inbox_id}:{visitor_id}", algorithm="sha256").hexdigest()


def visitor_token_new(*, inbox_id: int) -> tuple[str, str]:
    """A new visitor: (visitor id, the token the browser keeps)."""
    visitor_id = secrets.token_hex(16)
    return visitor_id, f"{visitor_id}.{_tag(inbox_id, visitor_id)}"


def visitor_token_verify(*, inbox_id: int, token: object) -> str | None:
    """The visitor id a token was made for by this inbox's widget, or None (forged, altered, another site's)."""
    found = _VISITOR.match(token) if isinstance(token, str) else None
    if found is None:
        return None
    visitor_id, tag = found.groups()
    if not hmac.compare_digest(_tag(inbox_id, visitor_id).encode(), tag.encode()):
        return None
    return visitor_id


def user_hash(*, secret: str, value: str) -> str:
    """What the host site computes on its server for a logged-in user: hex HMAC-SHA256 of the user id."""
    return hmac.new(secret.encode(), value.encode(), hashlib.sha256).hexdigest()


def user_hash_valid(*, secret: str, value: str, given: object) -> bool:
    if not secret or not value or not isinstance(given, str) or len(given) != 64:
        return False
    return hmac.compare_digest(user_hash(secret=secret, value=value).encode(), given.lower().encode())

"""Signed reply addresses: `reply+<entry id>.<tag>@<domain>`, the tag an HMAC of the entry id.

The tag is a fixed 32 characters (160 bits, base32, lower case so MTAs that fold case keep it) and is compared
in full, in constant time: a forged, altered or truncated tag never verifies.
"""

from __future__ import annotations

import base64
import hmac
import re

from django.utils.crypto import salted_hmac

SALT = "hub.email.reply-address"
TAG_LENGTH = 32
_TOKEN = re.compile(r"^reply\+(\d{1,18})\.([a-z2-7]+)@", re.IGNORECASE)


def _tag(entry_id: int) -> str:
    mac = salted_hmac(SALT, str(entry_id), algorithm="sha256").digest()[:20]
    return base64.b32encode(mac).decode("ascii").lower()


def reply_address(*, entry_id: int, domain: str) -> str:
    return f"reply+{entry_id}.{_tag(entry_id)}@{domain}"


def is_reply_address(address: str) -> bool:
    return address.lower().startswith("reply+")


def reply_address_verify(address: str) -> int | None:
    """The entry id a reply address was made for, or None when the address was not made by us."""
    found = _TOKEN.match(address or "")
    if found is None:
        return None
    entry_id, tag = int(found.group(1)), found.group(2).lower()
    expected = _tag(entry_id)
    # compare_digest is constant-time and fails on any length difference, so a truncated tag never passes.
    if len(tag) != TAG_LENGTH or not hmac.compare_digest(expected.encode(), tag.encode()):
        return None
    return entry_id

"""The Standard Webhooks format (https://www.standardwebhooks.com): `whsec_` secrets, the JSON body, the headers.

    webhook-id:        the event's uid ("evt_..."), the same on every attempt: the receiver's idempotency key
    webhook-timestamp: when this attempt was signed, in seconds since the epoch
    webhook-signature: "v1,<base64 HMAC-SHA256 of f"{id}.{timestamp}.{body}">", keyed with the base64-decoded
                       part of the secret after `whsec_`; during a rotation's overlap one per secret, separated
                       by a space

Receivers verify with any Standard Webhooks library (`standardwebhooks` on PyPI and npm, Svix's libraries).
"""

from __future__ import annotations

import base64
import hashlib
import hmac
import json
import secrets
from collections.abc import Sequence
from typing import Any, TypedDict

from events.models import DomainEvent

SECRET_PREFIX = "whsec_"
SECRET_BYTES = 32  # the spec asks for 24 to 64
# Keys of `data` the hub sets itself; an event payload never overrides them.
RESERVED_DATA_KEYS = ("id", "conversation", "contact", "sequence")


class WebhookBody(TypedDict):
    type: str
    timestamp: str
    data: dict[str, Any]


def secret_generate() -> str:
    return SECRET_PREFIX + base64.b64encode(secrets.token_bytes(SECRET_BYTES)).decode()


def _key(secret: str) -> bytes:
    encoded = secret.removeprefix(SECRET_PREFIX)
    return base64.b64decode(encoded + "=" * (-len(encoded) % 4))


def signature(*, secret: str, msg_id: str, timestamp: int, body: bytes) -> str:
    digest = hmac.new(_key(secret), f"{msg_id}.{timestamp}.".encode() + body, hashlib.sha256).digest()
    return "v1," + base64.b64encode(digest).decode()


def headers_signed(*, secrets_: Sequence[str], msg_id: str, timestamp: int, body: bytes) -> dict[str, str]:
    """The three headers of one attempt, signed with every secret given (current first)."""
    return {
        "webhook-id": msg_id,
        "webhook-timestamp": str(timestamp),
        "webhook-signature": " ".join(
            signature(secret=s, msg_id=msg_id, timestamp=timestamp, body=body) for s in secrets_
        ),
    }


def body_of(event: DomainEvent) -> WebhookBody:
    """What a receiver gets for an event: the same on every attempt, so only the headers change."""
    data: dict[str, Any] = {
        "id": event.uid,
        "conversation": event.conversation_id,
        "contact": event.contact_id,
        "sequence": event.thread_seq,
    }
    data.update({key: value for key, value in event.payload.items() if key not in RESERVED_DATA_KEYS})
    return {"type": event.type, "timestamp": event.occurred_at.isoformat(), "data": data}


def body_bytes(event: DomainEvent) -> bytes:
    return json.dumps(body_of(event), ensure_ascii=False, separators=(",", ":")).encode()

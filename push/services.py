"""Web Push: the hub's VAPID key pair, agents' devices and their preferences, and what to push when.

An agent gets a push for a customer's message on a thread assigned to them, and for a note that mentions
them, only while no tab of the hub is open (an open tab already shows it). `push_events_take` is the
after-commit consumer of the domain events: it queues one task per device after its own commit; the task
(push/delivery.py) checks again, at send time, that the agent still may see the thread and still has no tab
open, so an agent removed from a team stops getting that team's pushes at once.
"""

from __future__ import annotations

import base64
import binascii
import logging
from collections.abc import Mapping, Sequence
from typing import Any
from urllib.parse import urlsplit

import requests
from django.conf import settings
from django.contrib.auth.models import User
from django.db import connection, transaction

from config import safe_http
from config.enqueue import enqueue_on_commit
from config.errors import NotFound, ValidationError
from conversations.models import Conversation, Notification
from events.models import DomainEvent
from push.models import PushPreference, PushSubscription, VapidKey

logger = logging.getLogger("hub.push")

ENDPOINT_MAX = 2000
DEVICE_MAX = 200
# Any number taken by no other advisory lock of the hub: "the VAPID key is being made".
_VAPID_LOCK = 0x70757368  # "push"


def _b64url_decode(value: str) -> bytes:
    return base64.urlsafe_b64decode(value + "=" * (-len(value) % 4))


def _b64url(raw: bytes) -> str:
    return base64.urlsafe_b64encode(raw).rstrip(b"=").decode()


# --- the key pair -----------------------------------------------------------------------------------------
def vapid_key_get() -> VapidKey:
    """The hub's VAPID key pair, made on first use. Made under a lock (a PostgreSQL advisory lock; SQLite
    writes one at a time anyway) so two web hosts asking at once agree on one pair."""
    existing = VapidKey.objects.order_by("pk").first()
    if existing is not None:
        return existing
    with transaction.atomic():
        if connection.vendor == "postgresql":
            with connection.cursor() as cursor:
                cursor.execute("SELECT pg_advisory_xact_lock(%s)", [_VAPID_LOCK])
        existing = VapidKey.objects.order_by("pk").first()
        if existing is not None:
            return existing
        from cryptography.hazmat.primitives import serialization
        from cryptography.hazmat.primitives.asymmetric import ec

        private = ec.generate_private_key(ec.SECP256R1())
        pem = private.private_bytes(
            serialization.Encoding.PEM,
            serialization.PrivateFormat.PKCS8,
            serialization.NoEncryption(),
        ).decode()
        point = private.public_key().public_bytes(
            serialization.Encoding.X962, serialization.PublicFormat.UncompressedPoint
        )
        logger.info("Made the hub's VAPID key pair")
        return VapidKey.objects.create(private_pem=pem, public_key=_b64url(point))


def vapid_contact() -> str:
    """The VAPID `sub` claim: how a push service reaches whoever runs this hub."""
    contact = str(settings.PUSH_CONTACT or "").strip()
    if contact.startswith(("mailto:", "https:")):
        return contact
    return f"mailto:{contact or settings.DEFAULT_FROM_EMAIL}"


# --- devices ----------------------------------------------------------------------------------------------
def _endpoint_check(endpoint: Any) -> str:
    if not isinstance(endpoint, str) or not endpoint.strip():
        raise ValidationError(
            "endpoint: the push service address of this browser (PushSubscription.endpoint)."
        )
    endpoint = endpoint.strip()
    if len(endpoint) > ENDPOINT_MAX:
        raise ValidationError(f"endpoint: at most {ENDPOINT_MAX} characters.")
    checked = safe_http.url_checked(endpoint)
    if checked is None:
        raise ValidationError("endpoint: not an address the hub can read one way only.")
    parts = urlsplit(checked)
    host = (parts.hostname or "").lower()
    port = parts.port or (443 if parts.scheme == "https" else 80)
    loopback = f"{host}:{port}" in {str(a).lower() for a in settings.SAFE_HTTP_ALLOW_LOOPBACK}
    if parts.scheme != "https" and not loopback:
        raise ValidationError("endpoint: push services are reached over https:// only.")
    try:
        safe_http.resolve_vetted(host, port, policy=safe_http.PUBLIC)
    except safe_http.DestinationRefused as refused:
        raise ValidationError(
            f"endpoint: {refused.message} Push services are on the public internet."
        ) from None
    except requests.exceptions.ConnectionError:
        pass  # a name that does not resolve now may later; the send will tell
    return checked


def _key_check(name: str, value: Any, *, size: int) -> str:
    if not isinstance(value, str):
        raise ValidationError(f"keys.{name}: missing (send PushSubscription.toJSON() as it is).")
    try:
        raw = _b64url_decode(value.strip())
    except (binascii.Error, ValueError):
        raise ValidationError(f"keys.{name}: not base64url.") from None
    if len(raw) != size:
        raise ValidationError(f"keys.{name}: {size} bytes expected, {len(raw)} given.")
    return value.strip()


def push_subscribe(*, user: User, subscription: Mapping[str, Any], device: str = "") -> PushSubscription:
    """This browser's subscription (PushSubscription.toJSON()) for `user`. The same endpoint subscribed again
    is updated, and moves to `user` if another account signed in on that device before."""
    endpoint = _endpoint_check(subscription.get("endpoint"))
    keys = subscription.get("keys")
    if not isinstance(keys, Mapping):
        raise ValidationError("keys: missing (send PushSubscription.toJSON() as it is).")
    p256dh = _key_check("p256dh", keys.get("p256dh"), size=65)
    auth = _key_check("auth", keys.get("auth"), size=16)
    if _b64url_decode(p256dh)[0] != 4:
        raise ValidationError("keys.p256dh: an uncompressed P-256 point is expected.")
    device = " ".join(str(device or "").split())[:DEVICE_MAX]
    row, _ = PushSubscription.objects.update_or_create(
        endpoint=endpoint,
        defaults={"user": user, "p256dh": p256dh, "auth": auth, "device": device, "failures": 0},
    )
    return row


def push_unsubscribe(*, user: User, endpoint: str) -> int:
    """This browser stopped its subscription (or the agent turned pushes off on it)."""
    deleted, _ = PushSubscription.objects.filter(user=user, endpoint=str(endpoint or "").strip()).delete()
    return deleted


def push_device_remove(*, user: User, device_id: int) -> None:
    """Remove one of the agent's own devices; another agent's id is not found, like one that does not exist."""
    deleted, _ = PushSubscription.objects.filter(user=user, pk=device_id).delete()
    if not deleted:
        raise NotFound("No such device.")


def push_previews_set(*, user: User, previews: bool) -> PushPreference:
    pref, _ = PushPreference.objects.update_or_create(user=user, defaults={"previews": previews})
    return pref


# --- who gets a push for an event -------------------------------------------------------------------------
PUSHED_TYPES = ("message.received", "note.added")


def push_recipients(event: DomainEvent) -> list[int]:
    """The agents `event` should reach: a thread's assignee for a customer's message (not an auto-reply),
    each mentioned agent for a note."""
    if event.conversation_id is None:
        return []
    if event.type == "message.received":
        if event.payload.get("automatic"):
            return []
        assignee = (
            Conversation.objects.filter(pk=event.conversation_id)
            .values_list("assignee_id", flat=True)
            .first()
        )
        return [assignee] if assignee is not None else []
    if event.type == "note.added":
        return list(
            Notification.objects.filter(kind=Notification.MENTION, entry_id=event.payload.get("entry"))
            .values_list("recipient_id", flat=True)
            .distinct()
        )
    return []


def push_events_take(events: Sequence[DomainEvent]) -> None:
    """The after-commit consumer: one task per (device, event), queued when the dispatch commits."""
    from push import tasks

    for event in events:
        if event.type not in PUSHED_TYPES:
            continue
        recipients = push_recipients(event)
        if not recipients:
            continue
        devices = PushSubscription.objects.filter(user_id__in=recipients, user__is_active=True)
        for device_id in devices.values_list("pk", flat=True):
            enqueue_on_commit(tasks.push_send, device_id, event.pk)

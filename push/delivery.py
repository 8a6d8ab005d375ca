"""Sending one push to one device, through pywebpush (RFC 8291 encryption, RFC 8292 VAPID).

Checked at send time, not when queued: the agent still may see the thread (removed from its team: no
push), is still its assignee or mentioned, and has no tab of the hub open. The push service gets
PUSH_TIMEOUT_S to answer, so one that hangs costs that and no more. 404 and 410 mean the subscription is
gone: it is deleted at once. Other failures are retried a few times by the task, then dropped.
"""

from __future__ import annotations

import json
import logging
from enum import Enum
from typing import TypedDict

import requests
from django.conf import settings
from django.core.cache import cache
from django.db.models import F
from django.utils import timezone

from config import safe_http
from conversations.models import Conversation, Entry, Notification
from conversations.presence import agent_has_socket
from conversations.selectors import agent_can_see
from events.models import DomainEvent
from push.models import PushPreference, PushSubscription
from push.services import vapid_contact, vapid_key_get

logger = logging.getLogger("hub.push")

PREVIEW_CHARS = 200  # a push carries at most 4 kB, and a lock screen shows two lines
TTL_S = 24 * 3600  # a push not delivered in a day (phone off) is stale
GONE = (404, 410)
FAILURES_MAX = 20  # failed sends in a row (each after its retries) before a device is dropped


class Outcome(Enum):
    SENT = "sent"
    SKIPPED = "skipped"  # nothing to send: a tab is open, the thread moved, the device is gone
    GONE = "gone"  # the push service says the subscription no longer exists: deleted
    RETRY = "retry"  # the push service failed or did not answer in time: worth another try
    FAILED = "failed"  # refused for good (a bad request): not tried again


class PushPayload(TypedDict):
    """What the service worker receives (static/sw.js): never the text unless the agent allows previews."""

    title: str
    body: str
    url: str
    tag: str


def _customer_name(conversation: Conversation) -> str:
    contact = conversation.contact
    return str(getattr(contact, "name", "") or "").strip() or "A customer"


def push_payload(*, event: DomainEvent, conversation: Conversation, previews: bool) -> PushPayload:
    customer = _customer_name(conversation)
    text = " ".join(str(event.payload.get("body", "")).split())
    if len(text) > PREVIEW_CHARS:
        text = text[: PREVIEW_CHARS - 1] + "…"
    entry_id = event.payload.get("entry")
    url = f"/inbox/{conversation.pk}/" + (f"#entry-{entry_id}" if entry_id else "")
    if event.type == "note.added":
        author = Entry.objects.filter(pk=entry_id).select_related("author").first()
        who = "A colleague"
        if author is not None and author.author is not None:
            who = author.author.get_full_name() or author.author.get_username()
        return {
            "title": f"{who} mentioned you",
            "body": text if previews else f"In the conversation with {customer}",
            "url": url,
            "tag": f"mention-{entry_id}",
        }
    return {
        "title": customer,
        "body": text if previews else "New message",
        "url": url,
        "tag": f"conversation-{conversation.pk}",
    }


def _still_wanted(device: PushSubscription, event: DomainEvent) -> Conversation | None:
    """The thread, when the push is still for this agent; None when it no longer is."""
    conversation = (
        Conversation.objects.filter(pk=event.conversation_id).select_related("contact").first()
        if event.conversation_id is not None
        else None
    )
    user = device.user
    if conversation is None or not user.is_active or not agent_can_see(user, conversation):
        return None
    if event.type == "message.received" and conversation.assignee_id != user.pk:
        return None
    if (
        event.type == "note.added"
        and not Notification.objects.filter(
            recipient=user, kind=Notification.MENTION, entry_id=event.payload.get("entry")
        ).exists()
    ):
        return None
    return conversation


def push_claim(*, subscription_id: int, event_id: int) -> bool:
    """True once per (device, event): the outbox hands an event to its consumers at least once (again when
    another consumer failed on it), and a phone should buzz once. Kept in the shared cache for a day, past
    which a push is stale anyway."""
    return bool(cache.add(f"push:sent:{subscription_id}:{event_id}", 1, timeout=TTL_S))


def push_deliver(*, subscription_id: int, event_id: int) -> Outcome:
    from pywebpush import WebPushException, webpush

    device = PushSubscription.objects.filter(pk=subscription_id).select_related("user").first()
    event = DomainEvent.objects.filter(pk=event_id).first()
    if device is None or event is None:
        return Outcome.SKIPPED
    conversation = _still_wanted(device, event)
    if conversation is None:
        return Outcome.SKIPPED
    if agent_has_socket(device.user_id):
        return Outcome.SKIPPED  # a tab of the hub is open: it shows the message already
    previews = PushPreference.objects.filter(user_id=device.user_id, previews=True).exists()
    payload = push_payload(event=event, conversation=conversation, previews=previews)
    key = vapid_key_get()
    from py_vapid import Vapid

    session = safe_http.safe_session()
    try:
        webpush(
            subscription_info={
                "endpoint": device.endpoint,
                "keys": {"p256dh": device.p256dh, "auth": device.auth},
            },
            data=json.dumps(payload),
            vapid_private_key=Vapid.from_pem(key.private_pem.encode()),
            vapid_claims={"sub": vapid_contact()},
            timeout=float(settings.PUSH_TIMEOUT_S),
            ttl=TTL_S,
            headers={"Urgency": "high"},
            requests_session=session,
        )
    except WebPushException as error:
        status = error.response.status_code if error.response is not None else None
        if status in GONE:
            PushSubscription.objects.filter(pk=device.pk).delete()
            logger.info("Push subscription %s is gone (%s): deleted", device.pk, status)
            return Outcome.GONE
        logger.warning("Push to subscription %s failed: %s", device.pk, status)
        if status is not None and 400 <= status < 500 and status not in (408, 425, 429):
            _failed(device)
            return Outcome.FAILED
        return Outcome.RETRY
    except safe_http.DestinationRefused as refused:
        logger.warning("Push to subscription %s refused: %s", device.pk, refused.message)
        _failed(device)
        return Outcome.FAILED
    except requests.exceptions.RequestException as error:  # a timeout, a refused connection
        logger.warning("Push to subscription %s did not go through: %s", device.pk, type(error).__name__)
        return Outcome.RETRY
    finally:
        session.close()
    PushSubscription.objects.filter(pk=device.pk).update(last_sent_at=timezone.now(), failures=0)
    return Outcome.SENT


def _failed(device: PushSubscription) -> None:
    PushSubscription.objects.filter(pk=device.pk).update(failures=F("failures") + 1)
    PushSubscription.objects.filter(pk=device.pk, failures__gte=FAILURES_MAX).delete()


def push_given_up(*, subscription_id: int) -> None:
    """The task's retries ran out: count it against the device (a dead one is dropped after FAILURES_MAX)."""
    device = PushSubscription.objects.filter(pk=subscription_id).first()
    if device is not None:
        _failed(device)

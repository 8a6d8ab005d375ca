"""Subscriptions to the domain events: creating, changing, rotating a secret, redelivering by hand.

Who may: admins and managers (they see every team's threads, and a subscription receives every thread's
events); agents may not. The API and the Django admin both call these functions.
"""

from __future__ import annotations

import logging
from datetime import timedelta
from typing import Any
from urllib.parse import urlsplit

import requests
from django.conf import settings
from django.contrib.auth.models import AbstractBaseUser, AnonymousUser
from django.db import transaction
from django.utils import timezone

from config import safe_http
from config.errors import Conflict, ValidationError
from events.catalog import EVENT_TYPES, event_type_names
from events.models import WebhookDelivery, WebhookEndpoint
from events.services import on_commit_once
from webhooks.signing import secret_generate

logger = logging.getLogger("hub.webhooks")

URL_MAX = 2000
MAX_OVERLAP_H = 7 * 24


def url_policy(host: str) -> safe_http.Policy:
    """WEBHOOK_ALLOWED_HOSTS (an on-premises receiver) may be on a private network; every other host must
    resolve to the public internet. Link-local and cloud metadata addresses are refused for all."""
    allowed = {name.strip().strip("[]").lower() for name in settings.WEBHOOK_ALLOWED_HOSTS}
    return safe_http.ADMIN if host.strip("[]").lower() in allowed else safe_http.PUBLIC


def webhook_url_check(url: str) -> str:
    """The URL as it will be requested, or ValidationError saying what to change."""
    url = url.strip()
    if not url:
        raise ValidationError("url: the address that receives the events, https://... .")
    if len(url) > URL_MAX:
        raise ValidationError(f"url: at most {URL_MAX} characters.")
    if "\\" in url or any(ord(char) <= 0x20 or ord(char) == 0x7F for char in url):
        raise ValidationError(
            "url: it holds spaces, backslashes or control characters; percent-encode them (%20, %5C)."
        )
    try:
        split = urlsplit(url)
        has_credentials = split.username is not None or split.password is not None
    except ValueError:
        raise ValidationError("url: not a URL the hub can read.") from None
    if split.scheme.lower() not in ("http", "https"):
        raise ValidationError(
            "url: only http:// and https:// addresses receive webhooks (https:// is better)."
        )
    if has_credentials or "@" in split.netloc:
        raise ValidationError(
            "url: remove the user name and password (user:pass@): every request is signed with the endpoint's "
            "secret instead; verify the webhook-signature header."
        )
    checked = safe_http.url_checked(url)
    if checked is None:
        raise ValidationError(
            "url: it holds spaces, backslashes or control characters, or could be read as two different hosts."
        )
    parts = urlsplit(checked)
    host = (parts.hostname or "").lower()
    port = parts.port or (443 if parts.scheme == "https" else 80)
    try:
        safe_http.resolve_vetted(host, port, policy=url_policy(host))
    except safe_http.DestinationRefused as refused:
        raise ValidationError(
            f"url: {refused.message} Webhooks go only to addresses on the public internet; a receiver on your "
            "own network must be listed in the WEBHOOK_ALLOWED_HOSTS setting."
        ) from None
    except requests.exceptions.ConnectionError:
        pass  # it does not resolve today: every delivery checks again where it leads
    return checked


def event_types_check(value: Any) -> list[str]:
    known = ", ".join(event_type_names())
    if (
        not isinstance(value, list)
        or not value
        or not all(isinstance(item, str) and item.strip() for item in value)
    ):
        raise ValidationError(
            f'event_types: a list of the event types to receive, or ["*"] for all. The types: {known}.'
        )
    names = sorted({item.strip() for item in value})
    unknown = [name for name in names if name != WebhookEndpoint.ALL_TYPES and name not in EVENT_TYPES]
    if unknown:
        raise ValidationError(
            f'event_types: no event is called {", ".join(unknown)}. The types: {known}; or "*" for all.'
        )
    return [WebhookEndpoint.ALL_TYPES] if WebhookEndpoint.ALL_TYPES in names else names


def _user(by: AbstractBaseUser | AnonymousUser | None) -> Any:
    return by if by is not None and by.is_authenticated else None


def webhook_endpoint_create(
    *,
    url: str,
    event_types: Any,
    description: str = "",
    by: AbstractBaseUser | AnonymousUser | None = None,
) -> tuple[WebhookEndpoint, str]:
    """A new subscription and its secret (shown once: only its hash-like use is visible afterwards)."""
    secret = secret_generate()
    endpoint = WebhookEndpoint.objects.create(
        url=webhook_url_check(url),
        event_types=event_types_check(event_types),
        description=description.strip()[:200],
        secret=secret,
        created_by=_user(by),
    )
    logger.info("Webhook endpoint %s created for %s", endpoint.pk, endpoint.event_types)
    return endpoint, secret


def webhook_endpoint_update(
    *,
    endpoint: WebhookEndpoint,
    url: str | None = None,
    event_types: Any = None,
    description: str | None = None,
    active: bool | None = None,
    by: AbstractBaseUser | AnonymousUser | None = None,
) -> WebhookEndpoint:
    """Change what is given. Switching an endpoint back on forgets its failures and sends what waited."""
    if url is not None:
        endpoint.url = webhook_url_check(url)
    if event_types is not None:
        endpoint.event_types = event_types_check(event_types)
    if description is not None:
        endpoint.description = description.strip()[:200]
    if active is not None and active != endpoint.active:
        endpoint.active = active
        if active:
            endpoint.disabled_at, endpoint.disabled_reason, endpoint.failing_since = None, "", None
            deliveries_nudge_on_commit()
        else:
            user = _user(by)
            endpoint.disabled_at = timezone.now()
            endpoint.disabled_reason = f"Switched off by {user.get_username()}." if user else "Switched off."
    endpoint.save()
    return endpoint


def webhook_secret_rotate(*, endpoint: WebhookEndpoint, overlap_hours: int | None = None) -> str:
    """A new current secret; the old one keeps signing alongside for `overlap_hours` (default
    WEBHOOK_SECRET_OVERLAP_H), so a receiver can switch at its own pace. Returns the new secret, once."""
    hours = settings.WEBHOOK_SECRET_OVERLAP_H if overlap_hours is None else overlap_hours
    if not 0 <= hours <= MAX_OVERLAP_H:
        raise ValidationError(f"overlap_hours: from 0 to {MAX_OVERLAP_H}.")
    secret = secret_generate()
    with transaction.atomic():
        locked = WebhookEndpoint.objects.select_for_update().get(pk=endpoint.pk)
        locked.previous_secret = locked.secret if hours else ""
        locked.previous_secret_until = timezone.now() + timedelta(hours=hours) if hours else None
        locked.secret = secret
        locked.save(update_fields=["secret", "previous_secret", "previous_secret_until", "updated_at"])
    endpoint.refresh_from_db()
    return secret


def webhook_delivery_redeliver(*, delivery: WebhookDelivery) -> WebhookDelivery:
    """Send an event again now, whatever happened before, with a fresh retry schedule (same webhook-id)."""
    if not delivery.endpoint.active:
        raise Conflict("This endpoint is switched off: switch it on first, and what waited is sent with it.")
    with transaction.atomic():
        WebhookDelivery.objects.filter(pk=delivery.pk).update(
            state=WebhookDelivery.PENDING, attempts=0, next_attempt_at=timezone.now(), succeeded_at=None
        )
        deliveries_nudge_on_commit()
    delivery.refresh_from_db()
    return delivery


def deliveries_nudge_on_commit() -> None:
    """Once per transaction, after it commits: deliver what it queued now rather than at the next beat."""
    on_commit_once(_nudge)


def _nudge() -> None:
    from config.enqueue import enqueue_now
    from webhooks import tasks

    if settings.EMBEDDED and tasks.deliver_webhooks.app.conf.task_always_eager:
        return  # no worker: the embedded beat delivers within WEBHOOK_DELIVER_EVERY_S, off the web request
    enqueue_now(tasks.deliver_webhooks)

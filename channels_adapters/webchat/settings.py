"""A web chat inbox's settings: checked the same way from the admin, the settings page and the API."""

from __future__ import annotations

import re
import secrets
from datetime import datetime, timedelta
from typing import Any

from django.db import transaction
from django.utils import timezone

from config.errors import ValidationError
from config.websocket import origin_normalized

_COLOR = re.compile(r"^#[0-9a-fA-F]{6}$")
GREETING_MAX = 500
# How long the secret before a rotation keeps verifying: a day to deploy the new one on the host site.
PREVIOUS_SECRET_VALID = timedelta(hours=24)


def origins_clean(value: Any) -> list[str]:
    """A list of origins (`https://shop.example.com`), each as a browser sends it, without duplicates."""
    if isinstance(value, str):
        value = [line for line in re.split(r"[\s,]+", value) if line]
    if not isinstance(value, list) or not all(isinstance(item, str) for item in value):
        raise ValidationError("allowed_origins is a list of origins such as https://shop.example.com.")
    cleaned: list[str] = []
    for item in value:
        origin = item.strip().rstrip("/")
        if origin_normalized(origin) is None:
            raise ValidationError(
                f"{item!r} is not an origin: write the scheme and host (and port if not the default), "
                "such as https://shop.example.com, with no path."
            )
        if origin.lower() not in cleaned:
            cleaned.append(origin.lower())
    if len(cleaned) > 50:
        raise ValidationError("At most 50 allowed origins.")
    return cleaned


def widget_settings_validate(*, inbox: Any) -> None:
    """Refuse, with what to fix, settings the widget could not use."""
    inbox.allowed_origins = origins_clean(inbox.allowed_origins or [])
    if not _COLOR.match(inbox.widget_color or ""):
        raise ValidationError(f"{inbox.widget_color!r} is not a color; write it as #2563eb.")
    if len(inbox.widget_greeting or "") > GREETING_MAX:
        raise ValidationError(f"The greeting can be at most {GREETING_MAX} characters.")
    if inbox.identity_secret and len(inbox.identity_secret) < 16:
        raise ValidationError("The identity secret must be at least 16 characters.")
    identity_site_validate(inbox=inbox)


def identity_site(inbox: Any) -> Any:
    """The site whose identity secret signs this widget's user ids, and within which a user id names one
    customer: the inbox itself, or the inbox an admin linked it to because both sites share their users."""
    return inbox.identity_site if inbox.identity_site_id else inbox


def identity_site_validate(*, inbox: Any) -> None:
    """One level only: a site is an inbox of its own, so a user id's scope never depends on a chain."""
    from conversations.models import Inbox

    site_id = inbox.identity_site_id
    if not site_id:
        return
    site = Inbox.objects.filter(pk=site_id).first()
    if site is None or site.kind != Inbox.WEBCHAT:
        raise ValidationError("A web chat inbox shares user ids only with another web chat inbox.")
    if inbox.pk and site.pk == inbox.pk:
        raise ValidationError("An inbox cannot share user ids with itself; leave the field empty.")
    if site.identity_site_id:
        raise ValidationError(
            f"{site.name} itself shares the user ids of {site.identity_site}: link to that inbox instead."
        )
    if inbox.pk and Inbox.objects.filter(identity_site_id=inbox.pk).exists():
        raise ValidationError(
            f"Other inboxes share {inbox.name}'s user ids: it stays a site of its own while they do."
        )


def widget_settings_update(*, inbox: Any, form: Any) -> Any:
    """An admin's web chat settings from the settings page: each field checked, all saved or none."""
    import json

    from django.core.exceptions import ValidationError as ModelError

    from conversations.models import Inbox

    if inbox.kind != Inbox.WEBCHAT:
        raise ValidationError("Only a web chat inbox has widget settings.")
    inbox.allowed_origins = origins_clean(str(form.get("allowed_origins", "")))
    inbox.widget_greeting = str(form.get("widget_greeting", "")).strip()
    inbox.widget_color = str(form.get("widget_color", "")).strip() or "#2563eb"
    # Hours have their own page now (/inbox/settings/<id>/hours/); a form that still sends them is heard.
    if "time_zone" in form:
        inbox.time_zone = str(form.get("time_zone", "")).strip() or "UTC"
    if "business_hours" in form:
        hours = str(form.get("business_hours", "")).strip()
        try:
            inbox.business_hours = json.loads(hours) if hours else {}
        except json.JSONDecodeError:
            raise ValidationError(
                'Business hours are JSON, e.g. {"mon": [["09:00", "17:00"]]}; leave empty for always open.'
            ) from None
    secret = str(form.get("identity_secret", "")).strip()
    if secret and secret != inbox.identity_secret:
        identity_secret_replace(inbox, secret)
    site = str(form.get("identity_site", "")).strip()
    inbox.identity_site_id = int(site) if site.isdigit() else None
    try:
        inbox.clean()
    except ModelError as error:
        raise ValidationError(" ".join(error.messages)) from error
    inbox.save(
        update_fields=[
            "allowed_origins",
            "widget_greeting",
            "widget_color",
            "time_zone",
            "business_hours",
            "identity_secret",
            "identity_secret_previous",
            "identity_secret_rotated_at",
            "identity_site",
        ]
    )
    return inbox


def identity_secrets(site: Any, *, at: datetime | None = None) -> list[str]:
    """The secrets that verify a user_hash for this site now: its own, and for a day after a rotation the one
    before it."""
    found = [site.identity_secret] if site.identity_secret else []
    rotated = site.identity_secret_rotated_at
    if site.identity_secret_previous and rotated and (at or timezone.now()) < rotated + PREVIOUS_SECRET_VALID:
        found.append(site.identity_secret_previous)
    return found


def previous_secret_valid_until(inbox: Any) -> datetime | None:
    rotated = inbox.identity_secret_rotated_at
    if not inbox.identity_secret_previous or rotated is None:
        return None
    until: datetime = rotated + PREVIOUS_SECRET_VALID
    return until if until > timezone.now() else None


def identity_secret_replace(inbox: Any, secret: str) -> None:
    """Set a new secret (unsaved), keeping the current one as the previous one for PREVIOUS_SECRET_VALID."""
    if inbox.identity_secret:
        inbox.identity_secret_previous = inbox.identity_secret
        inbox.identity_secret_rotated_at = timezone.now()
    inbox.identity_secret = secret


def identity_secret_rotate(*, inbox: Any) -> Any:
    """A new random identity secret for a web chat inbox; the old one keeps verifying for PREVIOUS_SECRET_VALID
    so signed-in visitors are not turned away while the host site deploys the new one."""
    from conversations.models import Inbox

    if inbox.kind != Inbox.WEBCHAT:
        raise ValidationError("Only a web chat inbox has an identity secret.")
    with transaction.atomic():
        locked = Inbox.objects.select_for_update().get(pk=inbox.pk)
        identity_secret_replace(locked, secrets.token_urlsafe(32))
        locked.save(
            update_fields=["identity_secret", "identity_secret_previous", "identity_secret_rotated_at"]
        )
    return locked

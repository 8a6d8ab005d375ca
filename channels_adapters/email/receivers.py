"""django-anymail's signals: thin. anymail has checked the webhook secret (and the ESP's signature)."""

from __future__ import annotations

import logging
from typing import Any

from anymail.signals import AnymailInboundEvent, AnymailTrackingEvent

logger = logging.getLogger("hub.email")


def inbound_received(sender: Any, event: AnymailInboundEvent, esp_name: str, **kwargs: Any) -> None:
    """Store the raw message and queue it; an exception here answers the ESP with an error and it retries."""
    from channels_adapters.email.services import EmailRefused, email_store

    message = event.message
    raw = _raw_bytes(message)
    try:
        email_store(
            raw=raw,
            source=f"anymail:{str(esp_name).lower()}",
            envelope_recipient=str(getattr(message, "envelope_recipient", "") or ""),
        )
    except EmailRefused as error:
        # Retrying would not change the answer: log it and let the ESP consider it delivered.
        logger.warning("Refused an inbound email from %s: %s", esp_name, error.message)


def tracking_received(sender: Any, event: AnymailTrackingEvent, esp_name: str, **kwargs: Any) -> None:
    from channels_adapters.email.services import email_status_apply

    email_status_apply(
        payload={
            "event_type": str(event.event_type or ""),
            "message_id": str(event.message_id or ""),
            "description": str(event.description or ""),
            "mta_response": str(event.mta_response or ""),
        }
    )


def _raw_bytes(message: Any) -> bytes:
    try:
        return bytes(message.as_bytes())
    except Exception:
        return str(message.as_string()).encode("utf-8", "surrogateescape")

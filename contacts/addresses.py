"""Normalizing the addresses customers reach us from, so one person is one identity."""

from __future__ import annotations

import re
from dataclasses import dataclass

import phonenumbers
from django.conf import settings

PHONE = "phone"
EMAIL = "email"
VISITOR = "visitor"
EXTERNAL = "external"

_CHANNEL_PREFIX = re.compile(r"^(whatsapp|sms|mms|tel):", re.IGNORECASE)
_MAX_ADDRESS = 320


@dataclass(frozen=True)
class NormalizedAddress:
    kind: str
    address: str
    valid: bool
    raw: str


def normalize_phone(raw: str, region: str | None = None) -> NormalizedAddress:
    """E.164 for anything that can be a phone number; otherwise the raw text, flagged invalid.

    `whatsapp:+14155550100`, `+1 415-555-0100` and `(415) 555-0100` are one address.
    """
    text = (raw or "").strip()[:_MAX_ADDRESS]
    bare = _CHANNEL_PREFIX.sub("", text).strip()
    try:
        number = phonenumbers.parse(bare, region or settings.DEFAULT_PHONE_REGION)
    except phonenumbers.NumberParseException:
        return NormalizedAddress(PHONE, bare or text, False, text)
    if not phonenumbers.is_possible_number(number):
        return NormalizedAddress(PHONE, bare or text, False, text)
    e164 = phonenumbers.format_number(number, phonenumbers.PhoneNumberFormat.E164)
    return NormalizedAddress(PHONE, e164, phonenumbers.is_valid_number(number), text)


def normalize_email(raw: str) -> NormalizedAddress:
    text = (raw or "").strip()[:_MAX_ADDRESS]
    address = text.lower()
    local, at, domain = address.rpartition("@")
    return NormalizedAddress(EMAIL, address, bool(at and local and "." in domain), text)


def normalize(kind: str, raw: str) -> NormalizedAddress:
    if kind == PHONE:
        return normalize_phone(raw)
    if kind == EMAIL:
        return normalize_email(raw)
    text = (raw or "").strip()[:_MAX_ADDRESS]
    return NormalizedAddress(kind, text, bool(text), text)


def normalize_any(raw: str) -> NormalizedAddress:
    """Guess the kind of an address typed by a person or a script (the API's ?identity=)."""
    if "@" in (raw or ""):
        return normalize_email(raw)
    return normalize_phone(raw)


def site_scope(site_id: int) -> str:
    """The scope of a host site's user ids: the web chat inbox (site) whose identity secret signs them."""
    return f"webchat:{site_id}"

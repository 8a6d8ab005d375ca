"""When a sequence's next step is due: waits in days or in the inbox's business days, and quiet hours (a message
due at night in the customer's time zone waits for their morning)."""

from __future__ import annotations

from datetime import date, datetime, time, timedelta
from zoneinfo import ZoneInfo

from django.conf import settings

from contacts.models import Contact
from conversations.hours import is_business_day, zone_of
from conversations.models import Inbox


def contact_zone(contact: Contact, inbox: Inbox | None) -> ZoneInfo:
    """The customer's time zone when known (a `time_zone` attribute holding an IANA name), else the inbox's."""
    attributes = contact.attributes if isinstance(contact.attributes, dict) else {}
    known = str(attributes.get("time_zone") or "").strip()
    if known and zone_of(known).key == known:
        return zone_of(known)
    return zone_of(inbox.time_zone if inbox is not None else "UTC")


def quiet_hours_shift(at: datetime, zone: ZoneInfo) -> datetime:
    """`at` when it falls in the day in `zone`, else the next SEQUENCES_QUIET_END_H o'clock there."""
    start, end = settings.SEQUENCES_QUIET_START_H, settings.SEQUENCES_QUIET_END_H
    local = at.astimezone(zone)
    if end <= local.hour < start:
        return at
    day = local.date() + timedelta(days=1) if local.hour >= start else local.date()
    return datetime.combine(day, time(end), tzinfo=zone)


def _business_day(inbox: Inbox | None, day: date) -> bool:
    return is_business_day(inbox, day) if inbox is not None else day.weekday() < 5


def wait_until(*, start: datetime, days: int, business_days: bool, inbox: Inbox | None) -> datetime:
    """`days` days after `start`, or `days` business days of the inbox (its weekdays with hours, holidays
    excluded; Monday to Friday without an inbox), at the same time of day in the inbox's zone."""
    if not business_days:
        return start + timedelta(days=days)
    zone = zone_of(inbox.time_zone if inbox is not None else "UTC")
    local = start.astimezone(zone)
    day, counted = local.date(), 0
    for _ in range(days * 7 + 366):  # a schedule with no open day at all must not loop forever
        day += timedelta(days=1)
        if _business_day(inbox, day):
            counted += 1
            if counted == days:
                break
    return datetime.combine(day, local.time(), tzinfo=zone)

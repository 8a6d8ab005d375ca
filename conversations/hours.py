"""Business hours of an inbox: a weekly schedule in its time zone, with holidays. Voice, web chat and the
reports all ask `is_open`, so one schedule decides for every channel."""

from __future__ import annotations

import re
from datetime import date, datetime, time
from typing import Any
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

from django.utils import timezone

from config.errors import ValidationError
from conversations.models import Inbox

WEEKDAYS = ("mon", "tue", "wed", "thu", "fri", "sat", "sun")
_HHMM = re.compile(r"^([01]\d|2[0-3]):[0-5]\d$|^24:00$")


def is_open(inbox: Inbox, at: datetime | None = None) -> bool:
    """Whether the inbox is within its business hours at `at` (now by default).

    An empty schedule means always open (a new inbox answers around the clock until someone sets hours);
    a holiday closes the whole day in the inbox's time zone. A range may end at "24:00"; a range whose end
    is before its start runs past midnight into the next day.
    """
    local = (at or timezone.now()).astimezone(_zone(inbox.time_zone))
    if local.date().isoformat() in set(inbox.holidays or []):
        return False
    schedule: dict[str, Any] = inbox.business_hours or {}
    if not schedule:
        return True
    now = local.time()
    today = WEEKDAYS[local.weekday()]
    yesterday = WEEKDAYS[(local.weekday() - 1) % 7]
    for start, end in _ranges(schedule.get(today)):
        if start < end and start <= now < end:
            return True
        if end <= start and now >= start:  # an overnight range, evening part
            return True
    # The morning part of an overnight range that started yesterday.
    return any(end <= start and now < end for start, end in _ranges(schedule.get(yesterday)))


def business_hours_validate(*, schedule: Any, holidays: Any, time_zone: str) -> None:
    """Refuse, with a message an admin can act on, a schedule `is_open` could not read."""
    _zone(time_zone, strict=True)
    if not isinstance(schedule, dict):
        raise ValidationError(
            'Business hours are a mapping of weekday to ranges, e.g. {"mon": [["09:00", "17:00"]]}.'
        )
    for day, ranges in schedule.items():
        if day not in WEEKDAYS:
            raise ValidationError(f"Unknown weekday {day!r}; use {', '.join(WEEKDAYS)}.")
        if not isinstance(ranges, list):
            raise ValidationError(f"The hours of {day} are a list of [start, end] pairs.")
        for pair in ranges:
            if not (isinstance(pair, list | tuple) and len(pair) == 2 and all(_is_hhmm(v) for v in pair)):
                raise ValidationError(f'{pair!r} on {day} is not a ["HH:MM", "HH:MM"] pair.')
    if not isinstance(holidays, list):
        raise ValidationError('Holidays are a list of dates, e.g. ["2026-12-25"].')
    for day in holidays:
        try:
            date.fromisoformat(str(day))
        except ValueError:
            raise ValidationError(f"{day!r} is not a date (YYYY-MM-DD).") from None


def _is_hhmm(value: Any) -> bool:
    return isinstance(value, str) and bool(_HHMM.match(value))


def _parse(value: str) -> time:
    if value == "24:00":
        return time.max
    hours, minutes = value.split(":")
    return time(int(hours), int(minutes))


def _ranges(value: Any) -> list[tuple[time, time]]:
    if not isinstance(value, list):
        return []
    found = []
    for pair in value:
        if isinstance(pair, list | tuple) and len(pair) == 2 and all(_is_hhmm(v) for v in pair):
            found.append((_parse(pair[0]), _parse(pair[1])))
    return found


def _zone(name: str, *, strict: bool = False) -> ZoneInfo:
    try:
        return ZoneInfo(name or "UTC")
    except (ZoneInfoNotFoundError, ValueError):
        if strict:
            raise ValidationError(
                f"{name!r} is not a time zone; use an IANA name such as Europe/Paris."
            ) from None
        return ZoneInfo("UTC")

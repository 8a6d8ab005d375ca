"""Business hours of an inbox: a weekly schedule in its time zone, with holidays. Voice, web chat and the
reports all ask `is_open`, so one schedule decides for every channel."""

from __future__ import annotations

import re
from datetime import date, datetime, time, timedelta
from itertools import pairwise
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


def open_intervals(inbox: Inbox, start: datetime, end: datetime) -> list[tuple[datetime, datetime]]:
    """The stretches of [start, end) the inbox is open, merged and in order (the same rules as `is_open`)."""
    if end <= start:
        return []
    zone = _zone(inbox.time_zone)
    holidays = {str(day) for day in (inbox.holidays or [])}
    schedule: dict[str, Any] = inbox.business_hours or {}
    day = start.astimezone(zone).date() - timedelta(days=1)  # yesterday's overnight range reaches today
    last = end.astimezone(zone).date()
    pieces: list[tuple[datetime, datetime]] = []
    while day <= last:
        if not schedule:
            ranges = [(_local(day, time(0), zone), _local(day + timedelta(days=1), time(0), zone))]
        else:
            ranges = [
                (
                    _local(day, begin, zone),
                    _local(day if begin < finish else day + timedelta(days=1), finish, zone),
                )
                for begin, finish in _ranges(schedule.get(WEEKDAYS[day.weekday()]))
            ]
        for begin, finish in ranges:
            # A holiday closes its whole local day, even the morning part of yesterday's overnight range.
            midnight = _local(day + timedelta(days=1), time(0), zone)
            for part_begin, part_end, part_day in (
                (begin, min(finish, midnight), day),
                (max(begin, midnight), finish, day + timedelta(days=1)),
            ):
                if part_begin < part_end and part_day.isoformat() not in holidays:
                    clipped = (max(part_begin, start), min(part_end, end))
                    if clipped[0] < clipped[1]:
                        pieces.append(clipped)
        day += timedelta(days=1)
    merged: list[tuple[datetime, datetime]] = []
    for begin, finish in sorted(pieces):
        if merged and begin <= merged[-1][1]:
            merged[-1] = (merged[-1][0], max(merged[-1][1], finish))
        else:
            merged.append((begin, finish))
    return merged


def open_seconds_between(inbox: Inbox, start: datetime, end: datetime) -> float:
    """How many seconds of [start, end) fall within the inbox's business hours (a response-time report's clock)."""
    return sum((finish - begin).total_seconds() for begin, finish in open_intervals(inbox, start, end))


def next_open_at(inbox: Inbox, at: datetime, *, within_days: int = 14) -> datetime:
    """`at` if the inbox is open then, else when it next opens (or `at` when nothing opens within the horizon)."""
    upcoming = open_intervals(inbox, at, at + timedelta(days=within_days))
    return upcoming[0][0] if upcoming else at


def is_business_day(inbox: Inbox, day: date) -> bool:
    """Whether the inbox opens at all on `day` (its own calendar date): not a holiday, and a weekday with hours in
    its schedule (Monday to Friday when it has none). A sequence's "wait 3 business days" counts these."""
    if day.isoformat() in {str(d) for d in (inbox.holidays or [])}:
        return False
    schedule: dict[str, Any] = inbox.business_hours or {}
    if not schedule:
        return day.weekday() < 5
    return bool(_ranges(schedule.get(WEEKDAYS[day.weekday()])))


def zone_of(name: str) -> ZoneInfo:
    """The IANA zone `name`, or UTC when it is not one."""
    return _zone(name)


def _local(day: date, moment: time, zone: ZoneInfo) -> datetime:
    if moment == time.max:  # "24:00": the next midnight
        return datetime.combine(day + timedelta(days=1), time(0), tzinfo=zone)
    return datetime.combine(day, moment, tzinfo=zone)


# --- the weekly editor (/inbox/settings/<id>/hours/) ---------------------------------------------------
DAY_NAMES = {
    "mon": "Monday",
    "tue": "Tuesday",
    "wed": "Wednesday",
    "thu": "Thursday",
    "fri": "Friday",
    "sat": "Saturday",
    "sun": "Sunday",
}


def business_hours_by_day(inbox: Inbox) -> dict[str, list[tuple[str, str]]]:
    """The stored schedule as the editor shows it: each day's ranges in order, an overnight range shown as its
    evening (until 24:00) and the next day's morning (from 00:00), which `is_open` reads the same way."""
    days: dict[str, list[tuple[str, str]]] = {day: [] for day in WEEKDAYS}
    schedule: dict[str, Any] = inbox.business_hours or {}
    for index, day in enumerate(WEEKDAYS):
        for pair in schedule.get(day) or []:
            if not (isinstance(pair, list | tuple) and len(pair) == 2 and all(_is_hhmm(v) for v in pair)):
                continue
            start, end = str(pair[0]), str(pair[1])
            if _parse(end) <= _parse(start) and end != "00:00":
                days[day].append((start, "24:00"))
                days[WEEKDAYS[(index + 1) % 7]].append(("00:00", end))
            else:
                days[day].append((start, "24:00" if end == "00:00" else end))
    return {day: sorted(ranges) for day, ranges in days.items()}


def business_hours_from_editor(
    *, always_open: bool, days: dict[str, tuple[bool, list[tuple[str, str]]]], holidays: list[str]
) -> tuple[dict[str, list[list[str]]], list[str], list[str]]:
    """(schedule, holidays, errors) from the editor's fields: per weekday open or closed and its ranges
    (an empty pair is ignored; an end of 00:00 or 24:00 means midnight), and the dates closed.

    Every problem is reported, by day and range, so one round trip fixes them all."""
    errors: list[str] = []
    schedule: dict[str, list[list[str]]] = {}
    for day in WEEKDAYS:
        is_open_day, pairs = days.get(day, (False, []))
        name = DAY_NAMES[day]
        ranges: list[tuple[str, str]] = []
        for start, end in pairs:
            start, end = start.strip(), end.strip()
            if not start and not end:
                continue
            if not start or not end:
                errors.append(
                    f"{name}: give both an opening and a closing time ({start or end} has no pair)."
                )
                continue
            end = "24:00" if end in ("00:00", "24:00") else end
            if not (_is_hhmm(start) and start != "24:00" and _is_hhmm(end)):
                errors.append(f"{name}: {start} to {end} is not a time range; write times as 09:00.")
                continue
            if _parse(end) <= _parse(start):
                errors.append(
                    f"{name}: {start} to {end} closes before it opens; the end must be after the start."
                )
                continue
            ranges.append((start, end))
        ranges.sort()
        for (first_start, first_end), (next_start, next_end) in pairwise(ranges):
            if _parse(next_start) < _parse(first_end):
                errors.append(f"{name}: {first_start} to {first_end} and {next_start} to {next_end} overlap.")
        if is_open_day and not ranges and not any(f"{name}:" in error for error in errors):
            errors.append(f"{name} is marked open but has no hours: add a range or mark it closed.")
        schedule[day] = [[start, end] for start, end in ranges] if is_open_day else []
    if not always_open and not any(schedule.values()) and not errors:
        errors.append("No day is open: open at least one day, or choose “Always open”.")
    closed: list[str] = []
    for value in holidays:
        text = value.strip()
        if not text:
            continue
        try:
            day_closed = date.fromisoformat(text).isoformat()
        except ValueError:
            errors.append(f"{text[:20]!r} is not a date; pick one in the calendar (YYYY-MM-DD).")
            continue
        if day_closed not in closed:
            closed.append(day_closed)
    return ({} if always_open else schedule), sorted(closed), errors


def inbox_hours_set(*, inbox: Inbox, schedule: dict[str, Any], holidays: list[str], time_zone: str) -> Inbox:
    """Save an inbox's business hours, time zone and holidays: what voice, web chat, the rules and the reports
    read through `is_open`. Refused whole, with the reason, if `is_open` could not read them."""
    business_hours_validate(schedule=schedule, holidays=holidays, time_zone=time_zone)
    inbox.business_hours, inbox.holidays, inbox.time_zone = schedule, holidays, time_zone
    inbox.save(update_fields=["business_hours", "holidays", "time_zone"])
    return inbox

"""A report's period: whole days in the hub's time zone, both ends included, parsed from what a manager
typed. The funnel and the performance report both take one; each says how long a default and a longest
period are."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import date, datetime, time, timedelta
from zoneinfo import ZoneInfo

from django.conf import settings
from django.utils import timezone

from config.errors import ValidationError


@dataclass(frozen=True)
class Period:
    first_day: date
    last_day: date  # inclusive

    @property
    def start(self) -> datetime:
        return datetime.combine(self.first_day, time.min, tzinfo=report_zone())

    @property
    def end(self) -> datetime:
        """Exclusive: the start of the day after the last one."""
        return datetime.combine(self.last_day + timedelta(days=1), time.min, tzinfo=report_zone())

    @property
    def days(self) -> int:
        return (self.last_day - self.first_day).days + 1

    @property
    def dates(self) -> list[date]:
        return [self.first_day + timedelta(days=n) for n in range(self.days)]


def period_parse(
    *,
    start: str = "",
    end: str = "",
    default_days: int,
    max_days: int,
    longest: str,
    today: date | None = None,
) -> Period:
    """The period from two YYYY-MM-DD dates; without a start, the `default_days` up to the end (today by
    default). Refused with the reason: a date that is not one, an end before the start, a period of
    `max_days` or more (`longest` names the limit: "two years")."""
    today = today or timezone.localdate()
    last = _date(end, "end") if end else today
    first = _date(start, "start") if start else last - timedelta(days=default_days - 1)
    if last < first:
        raise ValidationError(
            f"The period ends ({last.isoformat()}) before it starts ({first.isoformat()}); swap the two dates."
        )
    if (last - first).days >= max_days:
        raise ValidationError(f"A report covers at most {longest}; pick a shorter period.")
    return Period(first, last)


def _date(value: str, which: str) -> date:
    try:
        return date.fromisoformat(value.strip())
    except ValueError:
        raise ValidationError(f"The {which} date {value!r} is not a date; write it as YYYY-MM-DD.") from None


def report_zone() -> ZoneInfo:
    """The hub's time zone: days of a report begin and end there."""
    return ZoneInfo(settings.TIME_ZONE)

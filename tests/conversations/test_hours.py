"""Business hours: a weekly schedule in the inbox's time zone, with holidays (voice, web chat and reports)."""

from __future__ import annotations

from datetime import datetime
from zoneinfo import ZoneInfo

import pytest

from config.errors import ValidationError
from conversations.hours import business_hours_validate, is_open
from conversations.models import Inbox

PARIS = ZoneInfo("Europe/Paris")


def inbox(**fields) -> Inbox:
    return Inbox(name="Support", time_zone="Europe/Paris", **fields)


def at(day: int, hour: int, minute: int = 0) -> datetime:
    """A moment in Paris in the week of Monday 2026-11-23."""
    return datetime(2026, 11, 23 + day, hour, minute, tzinfo=PARIS)


WEEKDAYS = {"mon": [["09:00", "12:30"], ["13:30", "18:00"]], "sat": [["10:00", "14:00"]]}


@pytest.mark.parametrize(
    "moment,expected",
    [
        (at(0, 8, 59), False),
        (at(0, 9, 0), True),
        (at(0, 12, 30), False),  # the end is exclusive: lunch
        (at(0, 13, 30), True),
        (at(0, 17, 59), True),
        (at(0, 18, 0), False),
        (at(1, 10), False),  # Tuesday has no hours
        (at(5, 11), True),
        (at(6, 11), False),
    ],
)
def test_the_weekly_schedule_in_the_inbox_time_zone(moment: datetime, expected: bool) -> None:
    assert is_open(inbox(business_hours=WEEKDAYS), moment) is expected


def test_the_time_zone_is_the_inboxs_not_the_servers() -> None:
    # 08:30 UTC on Monday is 09:30 in Paris: open there, though a UTC reading would say closed.
    assert is_open(inbox(business_hours=WEEKDAYS), datetime(2026, 11, 23, 8, 30, tzinfo=ZoneInfo("UTC")))
    assert not is_open(
        Inbox(time_zone="America/New_York", business_hours=WEEKDAYS),
        datetime(2026, 11, 23, 8, 30, tzinfo=ZoneInfo("UTC")),
    )


def test_a_holiday_closes_the_whole_day_in_the_inbox_time_zone() -> None:
    closed = inbox(business_hours=WEEKDAYS, holidays=["2026-11-23"])
    assert not is_open(closed, at(0, 10))
    assert is_open(closed, at(5, 11))
    assert not is_open(inbox(holidays=["2026-11-23"]), at(0, 3))


def test_an_empty_schedule_is_always_open_and_overnight_ranges_cross_midnight() -> None:
    assert is_open(inbox(), at(2, 3))
    night = inbox(business_hours={"fri": [["22:00", "06:00"]]})
    assert is_open(night, at(4, 23))
    assert is_open(night, at(5, 5, 59))
    assert not is_open(night, at(5, 6))
    assert not is_open(night, at(4, 21))
    assert is_open(inbox(business_hours={"mon": [["00:00", "24:00"]]}), at(0, 23, 59))


@pytest.mark.parametrize(
    "schedule,holidays,zone",
    [
        ({"monday": [["09:00", "17:00"]]}, [], "UTC"),
        ({"mon": [["9am", "5pm"]]}, [], "UTC"),
        ({"mon": "09:00-17:00"}, [], "UTC"),
        ({}, ["25/12/2026"], "UTC"),
        ({}, [], "Mars/Olympus_Mons"),
        ([], [], "UTC"),
    ],
)
def test_what_is_open_could_not_read_is_refused_with_a_reason(schedule, holidays, zone) -> None:
    with pytest.raises(ValidationError):
        business_hours_validate(schedule=schedule, holidays=holidays, time_zone=zone)


def test_a_well_formed_schedule_is_accepted() -> None:
    business_hours_validate(schedule=WEEKDAYS, holidays=["2026-12-25"], time_zone="Europe/Paris")


def test_the_admins_form_refuses_hours_is_open_could_not_read() -> None:
    from django.core.exceptions import ValidationError as FormError

    with pytest.raises(FormError) as refused:
        Inbox(name="Support", business_hours={"mon": [["9", "5"]]}).clean()
    assert "business_hours" in refused.value.message_dict
    Inbox(name="Support", business_hours=WEEKDAYS, time_zone="Europe/Paris").clean()


# --- business seconds between two moments (the response-time reports' clock) ----------------------
from conversations.hours import next_open_at, open_seconds_between  # noqa: E402

NINE_TO_FIVE = {day: [["09:00", "17:00"]] for day in ("mon", "tue", "wed", "thu", "fri")}


@pytest.mark.parametrize(
    "start,end,expected_s",
    [
        (at(0, 10), at(0, 10, 5), 300),  # inside the day: the clock
        (at(4, 16, 59), at(7, 9, 1), 120),  # Friday 16:59 answered Monday 09:01: two business minutes
        (at(5, 12), at(5, 12, 10), 0),  # all of it on a Saturday
        (at(0, 8), at(0, 9, 15), 900),  # before opening: only from 09:00
        (at(0, 16), at(1, 10), 2 * 3600),  # over a night: 16-17 and 09-10
        (at(0, 10), at(0, 9), 0),  # backwards: nothing
    ],
)
def test_open_seconds_count_only_business_hours(start, end, expected_s) -> None:
    assert open_seconds_between(inbox(business_hours=NINE_TO_FIVE), start, end) == expected_s


def test_open_seconds_skip_holidays_and_an_empty_schedule_is_the_clock() -> None:
    tuesday_off = inbox(business_hours=NINE_TO_FIVE, holidays=["2026-11-24"])
    assert open_seconds_between(tuesday_off, at(0, 16), at(2, 10)) == 2 * 3600  # Mon 16-17, Wed 09-10
    always = inbox()
    assert open_seconds_between(always, at(0, 10), at(1, 10)) == 24 * 3600
    assert open_seconds_between(inbox(holidays=["2026-11-24"]), at(0, 12), at(2, 12)) == 24 * 3600


def test_open_seconds_follow_overnight_ranges_and_the_inbox_time_zone() -> None:
    nights = inbox(business_hours={"fri": [["22:00", "02:00"]]})
    assert open_seconds_between(nights, at(4, 21), at(5, 3)) == 4 * 3600
    # 09:00 in Paris is 08:00 UTC in November: an answer at 08:30 UTC came after 30 open minutes.
    utc = ZoneInfo("UTC")
    assert (
        open_seconds_between(
            inbox(business_hours=NINE_TO_FIVE),
            datetime(2026, 11, 23, 7, 0, tzinfo=utc),
            datetime(2026, 11, 23, 8, 30, tzinfo=utc),
        )
        == 30 * 60
    )


def test_next_open_at_is_now_when_open_and_the_next_opening_otherwise() -> None:
    hours = inbox(business_hours=NINE_TO_FIVE)
    assert next_open_at(hours, at(0, 10)) == at(0, 10)
    assert next_open_at(hours, at(4, 17, 30)) == at(7, 9)

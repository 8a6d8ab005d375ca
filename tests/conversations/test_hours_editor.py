"""The weekly business-hours editor writes the schedule every channel reads through `is_open`, and refuses
ranges that end before they start or overlap, with the reasons and without losing what was typed."""

from __future__ import annotations

from datetime import datetime
from typing import Any
from zoneinfo import ZoneInfo

import pytest
from django.test import Client

from conversations.hours import is_open
from conversations.models import Inbox

pytestmark = pytest.mark.django_db
NY = ZoneInfo("America/New_York")


def logged_in(user: Any) -> Client:
    client = Client()
    client.force_login(user)
    return client


def week(**overrides: Any) -> dict[str, Any]:
    form: dict[str, Any] = {"mode": "weekly", "time_zone": "America/New_York", "holiday": ["2026-12-25", ""]}
    for day in ("mon", "tue", "wed", "thu", "fri"):
        form[f"{day}_open"] = "on"
        form[f"{day}_start"] = ["09:00", ""]
        form[f"{day}_end"] = ["17:00", ""]
    form.update(overrides)
    return form


def test_an_admin_sets_a_week_with_a_lunch_break_and_a_holiday(inbox_support: Inbox, admin_ada: Any) -> None:
    url = f"/inbox/settings/{inbox_support.pk}/hours/"
    form = week(mon_start=["09:00", "13:00", ""], mon_end=["12:00", "00:00", ""])
    response = logged_in(admin_ada).post(url, form)
    assert response.status_code == 302, response.content.decode()

    inbox_support.refresh_from_db()
    assert inbox_support.time_zone == "America/New_York"
    assert inbox_support.business_hours["mon"] == [["09:00", "12:00"], ["13:00", "24:00"]]
    assert inbox_support.business_hours["sat"] == []
    assert inbox_support.holidays == ["2026-12-25"]
    # Monday 2026-12-07, in New York: open in the morning, closed at lunch, open until midnight.
    assert is_open(inbox_support, datetime(2026, 12, 7, 10, 0, tzinfo=NY))
    assert not is_open(inbox_support, datetime(2026, 12, 7, 12, 30, tzinfo=NY))
    assert is_open(inbox_support, datetime(2026, 12, 7, 23, 30, tzinfo=NY))
    assert not is_open(inbox_support, datetime(2026, 12, 12, 10, 0, tzinfo=NY))  # Saturday
    assert not is_open(inbox_support, datetime(2026, 12, 25, 10, 0, tzinfo=NY))  # the holiday, a Friday

    page = logged_in(admin_ada).get(url + "?saved=1").content.decode()
    assert "Saved." in page and 'value="13:00"' in page and 'value="2026-12-25"' in page


def test_backwards_and_overlapping_ranges_are_refused_with_the_reason_and_nothing_lost(
    inbox_support: Inbox, admin_ada: Any
) -> None:
    inbox_support.business_hours = {"mon": [["08:00", "16:00"]]}
    inbox_support.save()
    form = week(
        mon_start=["09:00", "11:00", ""],
        mon_end=["12:00", "14:00", ""],
        tue_start=["17:00", ""],
        tue_end=["09:00", ""],
        time_zone="Mars/Olympus",
    )
    response = logged_in(admin_ada).post(f"/inbox/settings/{inbox_support.pk}/hours/", form)
    assert response.status_code == 400
    page = response.content.decode()
    assert "Monday: 09:00 to 12:00 and 11:00 to 14:00 overlap." in page
    assert "Tuesday: 17:00 to 09:00 closes before it opens" in page
    assert "&#x27;Mars/Olympus&#x27; is not a time zone" in page
    assert 'value="11:00"' in page and 'value="14:00"' in page  # what was typed is still there
    inbox_support.refresh_from_db()
    assert inbox_support.business_hours == {"mon": [["08:00", "16:00"]]}


def test_an_overnight_range_is_shown_as_evening_and_morning_and_reads_the_same_once_saved(
    inbox_support: Inbox, admin_ada: Any
) -> None:
    inbox_support.business_hours = {"fri": [["22:00", "02:00"]]}
    inbox_support.save()
    client = logged_in(admin_ada)
    page = client.get(f"/inbox/settings/{inbox_support.pk}/hours/").content.decode()
    assert 'name="fri_start" value="22:00"' in page and 'name="sat_start" value="00:00"' in page

    saturday_1am = datetime(2026, 12, 12, 1, 0, tzinfo=ZoneInfo("UTC"))
    assert is_open(inbox_support, saturday_1am)
    form = {"mode": "weekly", "time_zone": "UTC", "fri_open": "on", "sat_open": "on"}
    form |= {"fri_start": ["22:00"], "fri_end": ["00:00"], "sat_start": ["00:00"], "sat_end": ["02:00"]}
    assert client.post(f"/inbox/settings/{inbox_support.pk}/hours/", form).status_code == 302
    inbox_support.refresh_from_db()
    assert is_open(inbox_support, saturday_1am)
    assert not is_open(inbox_support, datetime(2026, 12, 12, 3, 0, tzinfo=ZoneInfo("UTC")))


def test_only_admins_edit_hours(inbox_support: Inbox, manager_maria: Any) -> None:
    response = logged_in(manager_maria).get(f"/inbox/settings/{inbox_support.pk}/hours/")
    assert response.status_code == 403

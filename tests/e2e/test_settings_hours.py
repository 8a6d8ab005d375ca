"""An admin sets an inbox's week in the hours editor with the browser's time pickers: a lunch break, a closed
weekend and a holiday; an overlapping range is refused with the reason, and nothing typed is lost."""

from __future__ import annotations

import pytest
from playwright.sync_api import Page, expect

from conversations.models import AgentProfile, Inbox
from tests import factories

pytestmark = [pytest.mark.browser, pytest.mark.integration]


def test_an_admin_sets_a_week_with_time_pickers_and_an_overlap_is_refused(live_hub, page: Page) -> None:
    factories.agent("admin_ada", role=AgentProfile.ADMIN)
    inbox: Inbox = live_hub.inbox
    live_hub.login(page, "admin_ada")
    page.goto(f"{live_hub.url}/inbox/settings/")
    page.get_by_role("navigation", name="Settings").get_by_role("link", name="Business hours").click()
    page.wait_for_url(f"**/inbox/settings/{inbox.pk}/hours/")

    page.get_by_label("Open on these hours").check()
    page.get_by_label("Time zone").select_option("Europe/Paris")
    monday = page.locator("tr[data-day=mon]")
    monday.get_by_label("Monday, range 1: closes at").fill("12:00")
    monday.get_by_label("Monday, range 2: opens at").fill("13:00")
    monday.get_by_label("Monday, range 2: closes at").fill("18:00")
    expect(monday.get_by_label("Monday, range 3: opens at")).to_be_visible()  # another empty range offered
    page.get_by_label("Add a date closed").fill("2026-12-25")
    page.get_by_role("button", name="Save business hours").click()
    expect(page.get_by_role("status")).to_contain_text("Saved.")
    inbox.refresh_from_db()
    assert inbox.time_zone == "Europe/Paris"
    assert inbox.business_hours["mon"] == [["09:00", "12:00"], ["13:00", "18:00"]]
    assert inbox.business_hours["sat"] == [] and inbox.holidays == ["2026-12-25"]

    page.locator("tr[data-day=tue]").get_by_label("Tuesday, range 2: opens at").fill("16:00")
    page.locator("tr[data-day=tue]").get_by_label("Tuesday, range 2: closes at").fill("19:00")
    page.get_by_role("button", name="Save business hours").click()
    alert = page.get_by_role("alert")
    expect(alert).to_contain_text("Tuesday: 09:00 to 17:00 and 16:00 to 19:00 overlap.")
    expect(alert).to_be_focused()
    expect(page.locator("tr[data-day=tue]").get_by_label("Tuesday, range 2: opens at")).to_have_value("16:00")
    inbox.refresh_from_db()
    assert inbox.business_hours["tue"] == [["09:00", "17:00"]]

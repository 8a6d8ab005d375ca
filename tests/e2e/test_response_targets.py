"""A manager marks a lead Qualified from the thread's header: the sales team's next agent owns them, and the header
shows the time left to the owner's first touch, counted down in the page.

Set SHOTS_DIR to also write screenshots of the header chip and Settings → Response targets (1440x900, 1280x800,
390x844).
"""

from __future__ import annotations

import os
import re
from pathlib import Path

import pytest
from playwright.sync_api import Page, expect

from conversations.models import AgentProfile
from lifecycle.models import ContactOwner, Stage
from lifecycle.services import stages_seed
from lifecycle.targets import response_target_save
from tests import factories
from tests.conftest import SALES_NUMBER, sms_in

pytestmark = [pytest.mark.browser, pytest.mark.integration]
SIZES = [(1440, 900), (1280, 800), (390, 844)]


def test_a_qualified_lead_gets_an_owner_and_the_header_shows_the_time_to_their_first_touch(
    live_hub, page: Page
) -> None:
    stages_seed()  # a transactional test before this one may have flushed the migration's rows
    sales = factories.TeamFactory(name="Sales")
    inbox = factories.InboxFactory(name="Sales line", address=SALES_NUMBER, team=sales)
    qualified = Stage.objects.get(key="qualified")
    qualified.owner_team = sales
    qualified.save(update_fields=["owner_team"])
    factories.agent("manager_maria", role=AgentProfile.ADMIN)  # sees every thread, owns none
    seller = factories.agent("agent_bob", teams=(sales,))
    response_target_save(
        target=None,
        name="Owners call within 2 hours",
        scope=f"team:{sales.pk}",
        minutes={"owner_touch": 120},
        warn_percent=75,
    )
    thread = sms_in(inbox, "Could you send a quote for 20 seats?", phone="+12125550160").conversation

    live_hub.login(page, "manager_maria")
    page.goto(f"{live_hub.url}/inbox/{thread.pk}/")
    page.wait_for_selector("#connection[data-state=live]")
    page.click("#more-button")
    menu = page.locator("#thread-menu")
    menu.get_by_label("Lifecycle stage").select_option("qualified")
    menu.get_by_role("button", name="Move").click()

    chip = page.locator("#thread-header #thread-target")
    expect(chip).to_contain_text("First touch by the owner", timeout=10_000)
    expect(chip.locator("[data-target-left]")).to_have_text(re.compile(r"^1h 5\dm left$"))
    expect(chip).to_have_attribute(
        "title", "First touch by the owner: target “Owners call within 2 hours”, 2 h 0 min of business time"
    )
    assert ContactOwner.objects.get(contact=thread.contact).owner == seller
    expect(page.locator("#timeline")).to_contain_text("is now owned by")

    shots = Path(os.environ["SHOTS_DIR"]) if os.environ.get("SHOTS_DIR") else None
    if shots is not None:
        shots.mkdir(parents=True, exist_ok=True)
        for width, height in SIZES:
            page.set_viewport_size({"width": width, "height": height})
            page.goto(f"{live_hub.url}/inbox/{thread.pk}/")
            expect(chip).to_be_visible()
            page.screenshot(path=str(shots / f"target-chip-{width}x{height}.png"))
            page.goto(f"{live_hub.url}/inbox/settings/targets/")
            page.screenshot(path=str(shots / f"targets-settings-{width}x{height}.png"), full_page=True)
            page.goto(f"{live_hub.url}/reports/targets/")
            page.screenshot(path=str(shots / f"targets-report-{width}x{height}.png"), full_page=True)

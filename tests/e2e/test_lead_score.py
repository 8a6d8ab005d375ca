"""An admin weighs a signal on Settings → Lead score, and the customer panel's score and reasons follow.

Set SHOTS_DIR to also write screenshots of the settings page and the panel (1440x900, 1280x800, 390x844).
"""

from __future__ import annotations

import os
from pathlib import Path

import pytest
from playwright.sync_api import Page, expect

from conversations.models import AgentProfile
from conversations.services import conversation_get_or_create
from lifecycle.scores import lead_score_weights_seed
from lifecycle.services import stages_seed, touchpoint_record
from tests import factories

pytestmark = [pytest.mark.browser, pytest.mark.integration]


def test_an_admin_changes_a_weight_and_the_panel_follows(live_hub, page: Page) -> None:
    stages_seed()  # a transactional test before this one may have flushed the migration's rows
    lead_score_weights_seed()
    factories.agent("admin_ada", role=AgentProfile.ADMIN)
    contact = factories.ContactFactory(name="Priya Shah")
    for n in range(2):
        touchpoint_record(contact=contact, type="pricing_view", client_key=f"pv-{n}")
    conversation = conversation_get_or_create(contact=contact)

    live_hub.login(page, "admin_ada")
    page.goto(f"{live_hub.url}/inbox/{conversation.pk}/")
    panel = page.locator("#lead-score")
    expect(panel.locator("#lead-score-value")).to_have_text("★ 20")
    expect(panel.locator("#lead-score-reasons")).to_contain_text("+20 pricing view twice")
    shots = Path(os.environ["SHOTS_DIR"]) if os.environ.get("SHOTS_DIR") else None
    if shots is not None:
        shots.mkdir(parents=True, exist_ok=True)
        for width, height in [(1440, 900), (1280, 800), (390, 844)]:
            page.set_viewport_size({"width": width, "height": height})
            page.goto(f"{live_hub.url}/inbox/{conversation.pk}/")
            if width < 600:
                page.get_by_role("button", name="Customer").first.click()
            panel.scroll_into_view_if_needed()
            page.screenshot(path=str(shots / f"panel-{width}x{height}.png"))
        page.set_viewport_size({"width": 1440, "height": 900})

    page.goto(f"{live_hub.url}/inbox/settings/lead-score/")
    points = page.get_by_label("Points for touchpoint:pricing_view")
    points.fill("250")  # out of range: refused with the reason, the typed value kept
    page.get_by_role("button", name="Save weights").click()
    expect(page.locator("#lead-score-error")).to_contain_text("250 is out of range")
    expect(points).to_have_value("250")
    points.fill("15")
    page.get_by_role("button", name="Save weights").click()
    expect(page.locator("#lead-score-saved")).to_be_visible()
    if shots is not None:
        for width, height in [(1440, 900), (1280, 800), (390, 844)]:
            page.set_viewport_size({"width": width, "height": height})
            page.screenshot(path=str(shots / f"lead-score-settings-{width}x{height}.png"), full_page=True)
        page.set_viewport_size({"width": 1440, "height": 900})

    page.goto(f"{live_hub.url}/inbox/{conversation.pk}/")
    expect(panel.locator("#lead-score-value")).to_have_text("★ 30")
    expect(panel.locator("#lead-score-reasons")).to_contain_text("+30 pricing view twice")
    expect(page.locator(f"#conv-{conversation.pk} .lead-star")).to_have_text("★ 30")

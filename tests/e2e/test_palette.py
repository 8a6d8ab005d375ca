"""An agent applies a macro from the command palette (Ctrl+K) and the thread shows what it did and who."""

from __future__ import annotations

import pytest
from playwright.sync_api import Page, expect

from conversations.models import Conversation
from rules.models import Macro
from tests.conftest import ACCOUNT_SID, AUTH_TOKEN, SUPPORT_NUMBER
from tests.live import post_signed_sms

pytestmark = [pytest.mark.browser, pytest.mark.integration]


def test_an_agent_escalates_a_thread_with_a_macro_from_the_palette(live_hub, page: Page) -> None:
    Macro.objects.create(
        name="Escalate to tier 2",
        actions=[
            {"type": "set_priority", "priority": "urgent"},
            {"type": "add_note", "text": "Tier 2, please"},
        ],
    )
    response = post_signed_sms(
        live_hub.url,
        ACCOUNT_SID,
        AUTH_TOKEN,
        sender="+14155550142",
        to=SUPPORT_NUMBER,
        body="Still broken",
        sid="SM" + "d4" * 16,
    )
    assert response.status_code == 200, response.text
    live_hub.login(page)
    row = page.locator("#conversation-list .conversation-row", has_text="Still broken")
    expect(row).to_be_visible(timeout=10_000)
    row.locator("a").click()
    page.wait_for_selector("#connection[data-state=live]")

    page.keyboard.press("Control+k")
    palette = page.get_by_role("combobox", name="Type a command")
    expect(palette).to_be_focused()
    palette.fill("escalate")
    expect(page.get_by_role("listbox", name="Commands").get_by_role("option")).to_have_count(1)
    expect(page.get_by_role("listbox", name="Commands").get_by_role("option")).to_contain_text("this thread")
    palette.press("Enter")

    page.wait_for_selector("#connection[data-state=live]")
    expect(page.locator(".entry", has_text="applied macro “Escalate to tier 2”")).to_be_visible()
    expect(page.locator(".entry", has_text="Tier 2, please")).to_be_visible()
    assert Conversation.objects.get().priority == "urgent"

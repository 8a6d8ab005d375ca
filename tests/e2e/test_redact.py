"""An agent redacts a card number from a text in the browser; another open inbox redraws it at once."""

from __future__ import annotations

import os
from pathlib import Path

import pytest
from playwright.sync_api import Browser, Page, expect

from conversations.models import Conversation
from tests.conftest import ACCOUNT_SID, AUTH_TOKEN, SUPPORT_NUMBER
from tests.live import post_signed_sms

pytestmark = [pytest.mark.browser, pytest.mark.integration]

CARD = "4111 1111 1111 1234"


def test_redact_asks_first_then_every_open_inbox_shows_the_redaction(
    live_hub, page: Page, browser: Browser
) -> None:
    for body, sid in (
        (f"My card is {CARD}", "SM" + "c1" * 16),
        ("Can you charge it today?", "SM" + "c2" * 16),
    ):
        response = post_signed_sms(
            live_hub.url,
            ACCOUNT_SID,
            AUTH_TOKEN,
            sender="+14155550142",
            to=SUPPORT_NUMBER,
            body=body,
            sid=sid,
        )
        assert response.status_code == 200, response.text
    live_hub.login(page)
    row = page.locator("#conversation-list .conversation-row", has_text="charge it today")
    expect(row).to_be_visible(timeout=10_000)
    thread = Conversation.objects.get()
    page.goto(f"{live_hub.url}/inbox/{thread.pk}/")
    page.wait_for_selector("#connection[data-state=live]")
    other = browser.new_context().new_page()  # a colleague with the same thread open
    live_hub.login(other)
    other.goto(f"{live_hub.url}/inbox/{thread.pk}/")
    other.wait_for_selector("#connection[data-state=live]")

    message = page.locator(".entry", has_text=CARD)
    message.hover()
    button = message.get_by_role("button", name="Redact…")
    expect(button).to_be_visible()
    shots = os.environ.get("HUB_SHOTS_DIR")  # screenshots to look at, when asked for
    if shots:
        _shots(page, shots, "before", message)
    dialogs: list[str] = []

    def answer(dialog):  # the first time the agent thinks better of it; the second time they confirm
        dialogs.append(dialog.message)
        dialog.dismiss() if len(dialogs) == 1 else dialog.accept()

    page.on("dialog", answer)
    button.click()
    expect(message).to_contain_text(CARD)  # dismissed: nothing changed
    button.click()
    redacted = page.locator(".entry", has_text="redacted by Alice")
    expect(redacted).to_be_visible(timeout=10_000)
    assert "cannot be undone" in dialogs[0]
    expect(page.locator(".entry", has_text=CARD)).to_have_count(0)
    expect(other.locator(".entry", has_text="redacted by Alice")).to_be_visible(timeout=10_000)
    expect(other.locator(".entry", has_text=CARD)).to_have_count(0)
    expect(redacted.locator(".flag.redacted")).to_be_visible()
    if shots:
        _shots(page, shots, "after", redacted)


def _shots(page: Page, folder: str, name: str, entry) -> None:
    for width, height in ((1440, 900), (1280, 800), (390, 844)):
        page.set_viewport_size({"width": width, "height": height})
        entry.hover()
        page.screenshot(path=str(Path(folder) / f"redact-{name}-{width}x{height}.png"))
    page.set_viewport_size({"width": 1280, "height": 720})

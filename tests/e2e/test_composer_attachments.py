"""An agent attaches a photo by picking it, sees it as a chip, sends it: it is in the thread as a thumbnail,
and the fake Twilio fetched it over HTTP from the hub's signed URL, as Twilio does."""

from __future__ import annotations

import os
from pathlib import Path

import pytest
from playwright.sync_api import Page, expect

from tests.conftest import ACCOUNT_SID, AUTH_TOKEN, SUPPORT_NUMBER
from tests.images import png
from tests.live import post_signed_sms

pytestmark = [pytest.mark.browser, pytest.mark.integration]

CUSTOMER = "+14155550142"
PHOTO = png(64, 48)
SHOTS = os.environ.get("SHOTS_DIR", "")  # set to save the composer at the three sizes


def test_an_agent_sends_a_photo_and_twilio_fetches_it(live_hub, page: Page, tmp_path: Path) -> None:
    response = post_signed_sms(
        live_hub.url,
        ACCOUNT_SID,
        AUTH_TOKEN,
        sender=CUSTOMER,
        to=SUPPORT_NUMBER,
        body="Which box?",
        sid="SM" + "d4" * 16,
    )
    assert response.status_code == 200, response.text
    live_hub.login(page)
    page.locator("#conversation-list .conversation-row a", has_text="Which box?").click()
    page.wait_for_selector("#connection[data-state=live]")

    photo = tmp_path / "box label.png"
    photo.write_bytes(PHOTO)
    manual = tmp_path / "returns-policy-and-instructions-for-long-names.pdf"
    manual.write_bytes(b"%PDF-1.4\n%%EOF\n")
    with page.expect_file_chooser() as chooser:
        page.get_by_role("button", name="Attach files").click()
    chooser.value.set_files([str(photo), str(manual)])
    chips = page.locator("#composer-files .file-chip")
    expect(chips).to_have_count(2)
    expect(chips.first).to_contain_text("box label.png")
    expect(chips.first).to_contain_text(
        f"{round(len(PHOTO) / 1024)} KB" if len(PHOTO) >= 1024 else f"{len(PHOTO)} B"
    )
    if SHOTS:
        for width, height in ((1440, 900), (1280, 800), (390, 844)):
            page.set_viewport_size({"width": width, "height": height})
            page.screenshot(path=f"{SHOTS}/composer-chips-{width}x{height}.png")
        page.set_viewport_size({"width": 1280, "height": 800})
    # The PDF goes again: removed from the keyboard, focus stays in the chips.
    page.get_by_role("button", name=f"Remove {manual.name}").press("Enter")
    expect(chips).to_have_count(1)

    page.fill("#reply-body", "This label, on the side of the box")
    page.click("#composer button[type=submit]")
    entry = page.locator(".entry.dir-outbound", has_text="This label")
    expect(entry.locator(".attachments img")).to_be_visible()
    expect(page.locator("#composer-files .file-chip")).to_have_count(0)
    [sent] = live_hub.fake_twilio.wait_for_messages(1, timeout=20)
    assert sent["media_url"].startswith(f"{live_hub.url}/media/outbound/")
    [fetched] = live_hub.fake_twilio.fetched_media
    assert (fetched["status"], fetched["content_type"], fetched["content"]) == (200, "image/png", PHOTO)
    expect(entry.locator(".delivery-status")).to_have_text("Sent", timeout=10_000)
    if SHOTS:
        page.screenshot(path=f"{SHOTS}/thread-with-photo-1280x800.png")
    # The thumbnail really loads (naturalWidth is 0 for a broken image).
    assert entry.locator(".attachments img").evaluate("img => img.naturalWidth") == 64

    # Send later: an hour from now by default, in the browser's zone; scheduled, then cancelled from the thread.
    page.fill("#reply-body", "Did the label help?")
    page.get_by_role("button", name="Send later").click()
    expect(page.locator("#send-at")).to_be_focused()
    if SHOTS:
        page.screenshot(path=f"{SHOTS}/send-later-1280x800.png")
    page.get_by_role("button", name="Schedule").click()
    scheduled = page.locator(".entry.kind-event", has_text="scheduled a follow-up")
    expect(scheduled).to_be_visible()
    expect(page.locator("#send-later")).to_be_hidden()
    page.on("dialog", lambda dialog: dialog.accept())
    scheduled.get_by_role("button", name="Cancel").click()
    expect(page.locator(".entry.kind-event", has_text="was cancelled")).to_be_visible()
    assert len(live_hub.fake_twilio.messages) == 1

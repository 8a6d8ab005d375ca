"""Two agents open the same thread: each sees the other viewing and typing, live, so they do not both answer;
a mention reaches the colleague's top bar live; the keyboard shortcuts are one "?" away."""

from __future__ import annotations

from collections.abc import Iterator

import pytest
from playwright.sync_api import Browser, Page, expect

from tests import factories
from tests.conftest import sms_in

pytestmark = [pytest.mark.browser, pytest.mark.integration]


@pytest.fixture
def second_page(browser: Browser) -> Iterator[Page]:
    context = browser.new_context()
    yield context.new_page()
    context.close()


def test_two_agents_on_one_thread_see_each_other_viewing_and_typing(
    live_hub, page: Page, second_page: Page
) -> None:
    factories.agent("agent_carl", teams=(live_hub.inbox.team,))
    conversation = sms_in(live_hub.inbox, "My parcel never arrived", phone="+14155550142").conversation
    thread = f"{live_hub.url}/inbox/{conversation.pk}/"
    alice, carl = page, second_page
    live_hub.login(alice)
    live_hub.login(carl, "agent_carl")
    alice.goto(thread)
    alice.wait_for_selector("#connection[data-state=live]")
    carl.goto(thread)
    carl.wait_for_selector("#connection[data-state=live]")

    expect(alice.locator("#presence")).to_have_text("Carl is viewing", timeout=10_000)
    expect(carl.locator("#presence")).to_have_text("Alice is viewing", timeout=10_000)

    carl.click("#reply-body")
    carl.keyboard.type("Sorry to hear that, let me check", delay=20)
    expect(alice.locator("#presence")).to_have_text("Carl is typing a reply", timeout=10_000)

    alice.check("#composer input[name=kind][value=note]")
    alice.fill("#reply-body", "")
    alice.click("#reply-body")
    alice.keyboard.type("I'm on it", delay=20)
    expect(carl.locator("#presence")).to_have_text("Alice is writing a note", timeout=10_000)

    # Alice's note mentions Carl: his top bar counts it without a reload.
    alice.fill("#reply-body", "@agent_carl I'll answer this one")
    alice.click("#composer button[type=submit]")
    expect(alice.locator(".entry.kind-note", has_text="I'll answer this one")).to_be_visible(timeout=10_000)
    expect(carl.locator("#unread-count")).to_have_text("1", timeout=10_000)
    expect(carl.locator(".entry.kind-note", has_text="I'll answer this one")).to_be_visible(timeout=10_000)

    # Carl leaves: Alice's warning goes away.
    carl.goto(f"{live_hub.url}/inbox/notifications/")
    expect(carl.locator(".notification.unread")).to_contain_text("Alice mentioned you")
    expect(alice.locator("#presence")).to_be_hidden(timeout=10_000)

    # Snoozed for an hour with one pick from the thread's "More" menu; the header says until when.
    alice.click("#more-button")
    alice.select_option("select[data-snooze-preset]", "1h")
    expect(alice.locator("#thread-status")).to_contain_text("Snoozed until", timeout=10_000)

    # The shortcuts are listed on "?", and "e" resolves the thread.
    alice.evaluate("document.activeElement && document.activeElement.blur()")
    alice.keyboard.press("?")
    expect(alice.locator("#shortcuts")).to_be_visible()
    expect(alice.locator("#shortcuts")).to_contain_text("Next / previous conversation")
    alice.keyboard.press("Escape")
    alice.keyboard.press("e")
    expect(alice.locator("#thread-status")).to_have_text("Resolved", timeout=10_000)

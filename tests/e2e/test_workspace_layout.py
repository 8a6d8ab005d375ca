"""The agent's workspace in Chromium at 1440x900 and 1280x800: the conversation owns the screen.

The timeline gets most of the window, nothing scrolls sideways, nothing covers Send (a leak alert goes to
the tray under the bell), the newest entry stays in view on live updates unless the agent scrolled up
(then an "N new" pill takes them down), and the thread's other actions work from the keyboard menu.
Set SHOTS_DIR to also write screenshots of the inbox with a thread open (1440x900, 1280x800, 390x844).
"""

from __future__ import annotations

import os
from datetime import timedelta
from pathlib import Path

import pytest
from django.utils import timezone
from playwright.sync_api import Page, expect

from contacts.services import contact_resolve
from conversations.models import AgentProfile, Conversation
from conversations.services import conversation_get_or_create, entry_append
from lifecycle.models import Leak
from lifecycle.services import leaks_detect
from tests import factories
from tests.conftest import ACCOUNT_SID, AUTH_TOKEN, SUPPORT_NUMBER
from tests.live import post_signed_sms

pytestmark = [pytest.mark.browser, pytest.mark.integration]

CUSTOMER = "+14155550199"
VIEWPORTS = [(1440, 900), (1280, 800)]

SEND_UNCOVERED = """() => {
  const send = document.querySelector('#composer button[type=submit]');
  const box = send.getBoundingClientRect();
  if (box.width === 0 || box.bottom > innerHeight || box.right > innerWidth) return false;
  const top = document.elementFromPoint(box.x + box.width / 2, box.y + box.height / 2);
  return top === send || send.contains(top);
}"""
NO_SIDEWAYS_SCROLL = "() => document.documentElement.scrollWidth <= innerWidth"
IN_TIMELINE_VIEW = """(id) => {
  const entry = document.getElementById(id), timeline = document.getElementById('timeline');
  if (!entry) return false;
  const e = entry.getBoundingClientRect(), t = timeline.getBoundingClientRect();
  return e.bottom <= t.bottom + 1 && e.top >= t.top - 1;
}"""


def seed_thread(live_hub, entries: int = 40) -> Conversation:
    contact, _ = contact_resolve(kind="phone", address=CUSTOMER, name="Dana Whitaker")
    conversation = conversation_get_or_create(contact=contact)
    start = timezone.now() - timedelta(hours=3)
    for n in range(entries):
        entry_append(
            conversation=conversation,
            kind="message",
            direction="inbound" if n % 2 == 0 else "outbound",
            channel="sms",
            inbox=live_hub.inbox,
            body=f"Message {n}: the blue trail runners, size 9, and when the parcel will arrive.",
            created_at=start + timedelta(minutes=n),
        )
    return conversation


def text(live_hub, body: str, sid: str) -> None:
    response = post_signed_sms(
        live_hub.url, ACCOUNT_SID, AUTH_TOKEN, sender=CUSTOMER, to=SUPPORT_NUMBER, body=body, sid=sid
    )
    assert response.status_code == 200, response.text


def open_thread(live_hub, page: Page, conversation: Conversation, size: tuple[int, int]) -> None:
    page.set_viewport_size({"width": size[0], "height": size[1]})
    live_hub.login(page)
    page.goto(f"{live_hub.url}/inbox/{conversation.pk}/")
    page.wait_for_selector("#connection[data-state=live]")


@pytest.mark.parametrize("size", VIEWPORTS, ids=lambda s: f"{s[0]}x{s[1]}")
def test_the_timeline_owns_the_screen_and_follows_live_updates(live_hub, page: Page, size) -> None:
    conversation = seed_thread(live_hub)
    # An open leak on this thread: its alert waits in the tray, not over the composer.
    Leak.objects.create(
        conversation=conversation,
        kind=Leak.STALE_LEAD,
        since=timezone.now() - timedelta(days=9),
        detected_at=timezone.now(),
    )
    open_thread(live_hub, page, conversation, size)

    share = page.evaluate("() => document.getElementById('timeline').clientHeight / innerHeight")
    assert share >= 0.6, f"the timeline has {share:.0%} of the window's height at {size}"
    assert page.evaluate(NO_SIDEWAYS_SCROLL), f"the inbox scrolls sideways at {size}"
    expect(page.get_by_role("button", name="Log out")).to_be_in_viewport()
    header = page.locator("#thread-header")
    expect(header).to_be_visible()
    # Measured in the page: a live update may redraw the header, and the locator waits for the new one.
    header_height = header.evaluate("(element) => element.getBoundingClientRect().height")
    assert header_height < 60, f"the thread header is {header_height}px tall: one line expected"

    expect(page.locator("#tray-count")).to_have_text("1")
    assert page.evaluate(SEND_UNCOVERED), "something covers Send"
    page.click("#tray-button")
    expect(page.locator("#tray .alert", has_text="Dana Whitaker")).to_be_visible()
    assert page.evaluate(SEND_UNCOVERED), "the open tray covers Send"
    page.keyboard.press("Escape")
    expect(page.locator("#tray")).to_be_hidden()

    # A live update at the bottom: the newest entry is in view, whole.
    text(live_hub, "Newest one: is it shipped yet?", "SM" + "a7" * 16)
    newest = page.locator(".entry", has_text="Newest one: is it shipped yet?")
    expect(newest).to_be_visible(timeout=10_000)
    newest_id = newest.get_attribute("id")
    page.wait_for_function(IN_TIMELINE_VIEW, arg=newest_id, timeout=5_000)
    expect(page.locator("#new-pill")).to_be_hidden()

    # Scrolled up to read: the timeline stays put and a pill counts what arrived.
    page.evaluate("() => { const t = document.getElementById('timeline'); t.scrollTop = 0; }")
    page.wait_for_timeout(200)
    text(live_hub, "Another one while you read", "SM" + "b8" * 16)
    pill = page.locator("#new-pill")
    expect(pill).to_have_text("1 new", timeout=10_000)
    assert page.evaluate("() => document.getElementById('timeline').scrollTop") < 50, "the agent was moved"
    assert page.evaluate(SEND_UNCOVERED), "the pill covers Send"
    pill.click()
    another = page.locator(".entry", has_text="Another one while you read")
    page.wait_for_function(IN_TIMELINE_VIEW, arg=another.get_attribute("id"), timeout=5_000)
    expect(pill).to_be_hidden()

    # The leak is plugged (the detector no longer finds it): its alert leaves the tray.
    leaks_detect()
    expect(page.locator("#tray-count")).to_be_hidden(timeout=10_000)
    expect(page.locator("#tray .alert")).to_have_count(0)


def test_the_more_menu_works_from_the_keyboard_and_its_forms_still_work(live_hub, page: Page) -> None:
    conversation = seed_thread(live_hub, entries=4)
    open_thread(live_hub, page, conversation, (1280, 800))
    menu = page.locator("#thread-menu")
    more = page.locator("#more-button")
    expect(menu).to_be_hidden()

    more.focus()
    page.keyboard.press("Enter")
    expect(menu).to_be_visible()
    expect(more).to_have_attribute("aria-expanded", "true")
    first = page.evaluate("() => document.activeElement.closest('#thread-menu') !== null")
    assert first, "opening the menu moves focus into it"
    before = page.evaluate("() => document.activeElement.outerHTML")
    page.keyboard.press("ArrowDown")
    assert page.evaluate("() => document.activeElement.outerHTML") != before, "arrows move between items"
    page.keyboard.press("Escape")
    expect(menu).to_be_hidden()
    assert page.evaluate("() => document.activeElement.id") == "more-button", "focus returns to More"

    # Snooze from the menu: the header says so and the menu closes.
    page.keyboard.press("ArrowDown")
    expect(menu).to_be_visible()
    menu.locator("[data-snooze-preset]").select_option("1h")
    expect(page.locator("#thread-status")).to_contain_text("Snoozed", timeout=10_000)
    expect(menu).to_be_hidden()
    page.locator("#thread-header").get_by_role("button", name="Reopen").click()
    expect(page.locator("#thread-status")).to_have_text("Open", timeout=10_000)

    # "a" opens the menu on the assignee list; assigning from it works.
    page.locator("body").click(position={"x": 5, "y": 300})
    page.keyboard.press("a")
    expect(menu).to_be_visible()
    expect(page.locator("#assign-select")).to_be_focused()
    alice = AgentProfile.objects.get(user__username="agent_alice").user_id
    page.select_option("#assign-select", str(alice))
    menu.get_by_role("button", name="Assign").click()
    expect(page.locator("#thread-assignee")).not_to_have_text("nobody", timeout=10_000)

    # The menu's actions are in the command palette too.
    page.keyboard.press("Control+k")
    page.get_by_role("combobox", name="Type a command").fill("snooze 4 hours")
    expect(page.get_by_role("listbox", name="Commands").get_by_role("option")).to_have_count(1)
    page.keyboard.press("Enter")
    expect(page.locator("#thread-status")).to_contain_text("Snoozed", timeout=10_000)

    # The customer panel folds away, and stays folded on the next visit.
    page.click("#panel-toggle")
    expect(page.locator("#contact-panel")).to_be_hidden()
    page.reload()
    page.wait_for_selector("#connection[data-state=live]")
    expect(page.locator("#contact-panel")).to_be_hidden()
    page.click("#panel-toggle")
    expect(page.locator("#contact-panel")).to_be_visible()


AGENT_PAGES = [
    "/inbox/",
    "/inbox/new/",
    "/inbox/canned/",
    "/inbox/sandbox/",
    "/inbox/profile/",
    "/inbox/notifications/",
    "/inbox/search/?q=parcel",
    "/inbox/settings/",
    "/inbox/settings/rules/",
    "/inbox/settings/webhooks/",
    "/inbox/settings/lead-score/",
    "/inbox/settings/hours/",
    "/inbox/settings/labels/",
    "/inbox/agents/",
    "/inbox/contacts/import/",
    "/contacts/",
    "/contacts/new/",
    "/reports/",
    "/reports/performance/",
    "/reports/history/",
    "/reports/audit/",
    "/reports/audit/?what=settings",
    "/reports/funnel/",
    "/reports/funnel/stages/",
    "/reports/leaks/",
]


PHONE = (390, 844)


@pytest.mark.parametrize("size", [*VIEWPORTS, PHONE], ids=lambda s: f"{s[0]}x{s[1]}")
def test_no_agent_page_scrolls_sideways_and_log_out_is_in_view(live_hub, page: Page, size) -> None:
    factories.agent("admin_ada", role=AgentProfile.ADMIN)
    page.set_viewport_size({"width": size[0], "height": size[1]})
    live_hub.login(page, "admin_ada")
    wide = []
    for path in AGENT_PAGES:
        response = page.goto(live_hub.url + path)
        assert response is not None and response.status == 200, path
        if not page.evaluate(NO_SIDEWAYS_SCROLL):
            wide.append((path, page.evaluate("() => document.documentElement.scrollWidth")))
        if size == PHONE:  # on a phone it waits in the menu
            page.locator(".topmenu summary").click()
        expect(page.get_by_role("button", name="Log out")).to_be_in_viewport()
    assert wide == [], f"pages wider than {size[0]}px"


TOO_SMALL_TO_TAP = """() => [...document.querySelectorAll('button, select, .topnav a, .filters a')]
  .filter((el) => el.offsetParent !== null && el.getBoundingClientRect().height < 44)
  .map((el) => el.textContent.trim() || el.getAttribute('aria-label') || el.tagName)"""


def test_on_a_phone_the_list_views_thread_and_customer_are_screens_with_a_way_back(
    live_hub, page: Page
) -> None:
    conversation = seed_thread(live_hub, entries=12)
    page.set_viewport_size({"width": PHONE[0], "height": PHONE[1]})
    live_hub.login(page)
    page.goto(f"{live_hub.url}/inbox/?view=all&status=open")
    expect(page.locator(f"#conv-{conversation.pk}")).to_be_in_viewport()
    expect(page.locator(".filters")).to_be_hidden()
    assert page.evaluate(TOO_SMALL_TO_TAP) == []
    # The views are a screen of their own, with a way back to the list.
    page.get_by_role("button", name="Views").click()
    expect(page.get_by_role("link", name="Unassigned")).to_be_in_viewport()
    expect(page.locator(".list")).to_be_hidden()
    page.locator(".filters").get_by_role("button", name="Back to the conversations").click()
    expect(page.locator(f"#conv-{conversation.pk}")).to_be_in_viewport()
    # The thread replaces the list; the newest message and Send are on screen.
    page.locator(f"#conv-{conversation.pk} a").first.click()
    page.wait_for_selector("#connection[data-state=live]")
    expect(page.locator(".list")).to_be_hidden()
    expect(page.get_by_role("heading", name="Dana Whitaker")).to_be_in_viewport()
    expect(page.locator(".timeline .entry").last).to_be_in_viewport()
    expect(page.locator("#composer button[type=submit]")).to_be_in_viewport()
    assert page.evaluate(NO_SIDEWAYS_SCROLL)
    assert page.evaluate(TOO_SMALL_TO_TAP) == []
    # The customer is a screen too, and comes back to the thread.
    page.get_by_role("button", name="Customer").click()
    expect(page.locator("#contact-panel")).to_be_in_viewport()
    expect(page.locator(".timeline")).to_be_hidden()
    page.get_by_role("button", name="Back to the conversation").click()
    expect(page.locator(".timeline")).to_be_visible()
    # The on-screen keyboard takes half the height: the composer stays above it.
    page.set_viewport_size({"width": PHONE[0], "height": 420})
    page.locator("#composer textarea").focus()
    expect(page.locator("#composer button[type=submit]")).to_be_in_viewport()
    page.set_viewport_size({"width": PHONE[0], "height": PHONE[1]})
    # Back goes to the list the agent came from, filters and all.
    page.locator(".thread-bar").get_by_role("link", name="Back to the conversations").click()
    page.wait_for_url("**/inbox/?view=all&status=open")
    expect(page.locator(f"#conv-{conversation.pk}")).to_be_in_viewport()


@pytest.mark.skipif(not os.environ.get("SHOTS_DIR"), reason="screenshots only when SHOTS_DIR is set")
def test_screenshots_of_the_inbox_with_a_thread_open(live_hub, page: Page) -> None:
    shots = Path(os.environ["SHOTS_DIR"])
    shots.mkdir(parents=True, exist_ok=True)
    conversation = seed_thread(live_hub, entries=12)
    Leak.objects.create(
        conversation=conversation, kind=Leak.STALE_LEAD, since=timezone.now(), detected_at=timezone.now()
    )
    open_thread(live_hub, page, conversation, (1440, 900))
    for width, height in [(1440, 900), (1280, 800), (390, 844)]:
        page.set_viewport_size({"width": width, "height": height})
        page.wait_for_timeout(300)
        page.screenshot(path=str(shots / f"inbox-thread-{width}x{height}.png"))
    page.set_viewport_size({"width": 1280, "height": 800})
    page.click("#more-button")
    page.screenshot(path=str(shots / "inbox-more-menu-1280x800.png"))
    page.keyboard.press("Escape")
    page.click("#tray-button")
    page.screenshot(path=str(shots / "inbox-tray-1280x800.png"))
    page.keyboard.press("Escape")
    page.click("#more-button")
    page.get_by_role("button", name="Follow-ups…").click()
    page.screenshot(path=str(shots / "inbox-followups-1280x800.png"))
    page.goto(f"{live_hub.url}/reports/leaks/")
    page.screenshot(path=str(shots / "leaks-1280x800.png"))


SHOT_SIZES = [(1440, 900), (1280, 800), (390, 844)]


@pytest.mark.skipif(not os.environ.get("SHOTS_DIR"), reason="screenshots only when SHOTS_DIR is set")
def test_screenshots_of_every_agent_page(live_hub, page: Page) -> None:
    """`make screenshots`: every agent page at the three sizes agents use, with a thread in the inbox."""
    shots = Path(os.environ["SHOTS_DIR"])
    shots.mkdir(parents=True, exist_ok=True)
    factories.agent("admin_ada", role=AgentProfile.ADMIN)
    seed_thread(live_hub, entries=12)
    live_hub.login(page, "admin_ada")
    for path in AGENT_PAGES:
        name = path.split("?")[0].strip("/").replace("/", "-") or "home"
        for width, height in SHOT_SIZES:
            page.set_viewport_size({"width": width, "height": height})
            response = page.goto(live_hub.url + path)
            assert response is not None and response.status == 200, path
            page.screenshot(path=str(shots / f"{name}-{width}x{height}.png"))

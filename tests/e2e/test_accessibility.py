"""Every agent page, the login page and the web chat widget pass axe-core with no serious or critical
violations, and the agent's main workflow works from the keyboard alone.

axe-core comes bundled in axe-playwright-python (no network); it runs in Debian's Chromium on each page in
turn with one browser and one login. A failure lists each violation's rule, the elements and axe's help.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest
from axe_playwright_python.sync_playwright import Axe
from playwright.sync_api import Browser, Page, expect

from conversations.models import AgentProfile, Inbox
from tests import factories
from tests.e2e import test_webchat
from tests.e2e.test_workspace_layout import AGENT_PAGES, seed_thread
from tests.livehub import PASSWORD

pytestmark = [pytest.mark.browser, pytest.mark.integration]

AXE = Axe()
BLOCKING = {"serious", "critical"}
shop_site = test_webchat.shop_site  # the fixture: a static site on a port of its own, for the widget


def axe_problems(page: Page, where: str, context: Any = None) -> list[str]:
    """The serious and critical violations on the page as it is now, one line per element."""
    results = AXE.run(page, context=context)
    problems = []
    for violation in results.response["violations"]:
        if violation["impact"] not in BLOCKING:
            continue
        for node in violation["nodes"]:
            target = " ".join(str(part) for part in node["target"])
            checks = node.get("any", []) + node.get("all", []) + node.get("none", [])
            detail = "; ".join(check["message"] for check in checks if check.get("message"))
            problems.append(
                f"{where}: {violation['id']} ({violation['impact']}) at {target}: {violation['help']}"
                f" ({detail})"
            )
    return problems


def test_no_page_has_serious_or_critical_axe_violations(
    live_hub, shop_site: tuple[str, Path], browser: Browser, page: Page
) -> None:
    shop, shop_root = shop_site
    factories.agent("admin_ada", role=AgentProfile.ADMIN)
    conversation = seed_thread(live_hub, entries=6)
    problems: list[str] = []

    page.set_viewport_size({"width": 1280, "height": 800})
    page.goto(f"{live_hub.url}/accounts/login/")
    problems += axe_problems(page, "login page")
    live_hub.login(page, "admin_ada")

    for path in AGENT_PAGES:
        response = page.goto(live_hub.url + path)
        assert response is not None and response.status == 200, path
        problems += axe_problems(page, path)

    # The inbox with a thread open, then with its menu, the command palette and the alerts tray open.
    page.goto(f"{live_hub.url}/inbox/{conversation.pk}/")
    page.wait_for_selector("#connection[data-state=live]")
    problems += axe_problems(page, "thread")
    page.click("#more-button")
    expect(page.locator("#thread-menu")).to_be_visible()
    problems += axe_problems(page, "thread menu")
    page.keyboard.press("Escape")
    page.keyboard.press("Control+k")
    expect(page.get_by_role("combobox", name="Type a command")).to_be_focused()
    problems += axe_problems(page, "command palette")
    page.keyboard.press("Escape")
    page.click("#tray-button")
    expect(page.locator("#tray")).to_be_visible()
    problems += axe_problems(page, "alerts tray")
    page.keyboard.press("Escape")
    page.locator("#timeline").click()
    page.keyboard.press("?")
    expect(page.get_by_role("dialog", name="Keyboard shortcuts")).to_be_visible()
    problems += axe_problems(page, "shortcuts dialog")
    page.keyboard.press("Escape")
    page.click("#more-button")
    page.get_by_role("button", name="Follow-ups…").click()
    expect(page.locator("#followups-dialog")).to_be_visible()
    problems += axe_problems(page, "follow-ups dialog")
    page.keyboard.press("Escape")
    # On a phone the thread, the customer and the list are screens of their own, with other controls.
    page.set_viewport_size({"width": 390, "height": 844})
    problems += axe_problems(page, "thread on a phone")
    page.get_by_role("button", name="Customer").click()
    problems += axe_problems(page, "customer on a phone")
    page.goto(f"{live_hub.url}/inbox/")
    problems += axe_problems(page, "list on a phone")

    # The web chat widget, opened, on a shop's page on another origin.
    inbox = Inbox.objects.create(
        name="Trail Shoes chat",
        kind=Inbox.WEBCHAT,
        team=live_hub.inbox.team,
        allowed_origins=[shop],
        widget_greeting="Hi! Ask us about sizes.",
    )
    shop_page = (
        '<!doctype html><html lang="en"><head><title>Trail Shoes</title></head><body><main>'
        "<h1>Trail Shoes pricing</h1></main>"
        f'<script src="{live_hub.url}/widget.js" data-widget-key="{inbox.widget_key}" async></script>'
        "</body></html>"
    )
    visitor = browser.new_context().new_page()
    (shop_root / "index.html").write_text(shop_page)
    visitor.goto(f"{shop}/")
    launcher = visitor.get_by_role("button", name="Open chat with Trail Shoes chat")
    expect(launcher).to_be_visible(timeout=15_000)
    problems += axe_problems(visitor, "web chat (closed)")
    launcher.click()
    expect(visitor.get_by_text("Hi! Ask us about sizes.")).to_be_visible()
    problems += axe_problems(visitor, "web chat (open)")
    visitor.context.close()

    assert problems == [], "axe-core found serious or critical violations:\n" + "\n".join(problems)


FOCUSED = """() => {
  const el = document.activeElement;
  if (!el || el === document.body) return 'nothing';
  const name = (el.getAttribute('aria-label') || el.textContent || el.name || '').trim().replace(/\\s+/g, ' ');
  return el.tagName.toLowerCase() + (el.id ? '#' + el.id : '') + ' "' + name.slice(0, 40) + '"';
}"""
# A keyboard user sees where they are: the focused element matches :focus-visible and draws a ring.
FOCUS_SHOWN = """() => {
  const el = document.activeElement;
  if (!el || el === document.body || !el.matches(':focus-visible')) return false;
  const style = getComputedStyle(el);
  const ring = style.outlineStyle !== 'none' && parseFloat(style.outlineWidth) > 0;
  const box = el.getBoundingClientRect();
  return (ring || style.boxShadow !== 'none') && box.width > 0 && box.bottom > 0 && box.top < innerHeight;
}"""


def tab_to(page: Page, selector: str, *, limit: int, back: bool = False) -> int:
    """Press Tab (or Shift+Tab) until `selector` has the focus; how many presses it took."""
    visited = []
    for presses in range(1, limit + 1):
        page.keyboard.press("Shift+Tab" if back else "Tab")
        if page.evaluate("(selector) => document.activeElement.matches(selector)", selector):
            assert page.evaluate(FOCUS_SHOWN), f"{selector} has the focus but does not show it"
            return presses
        visited.append(page.evaluate(FOCUSED))
    raise AssertionError(
        f"{limit} presses of Tab did not reach {selector}; focus went to:\n" + "\n".join(visited)
    )


def test_the_main_workflow_works_from_the_keyboard_alone(live_hub, page: Page) -> None:
    conversation = seed_thread(live_hub, entries=4)
    page.set_viewport_size({"width": 1280, "height": 800})

    # Log in: the username box has the focus; Tab to the password; Enter logs in.
    page.goto(f"{live_hub.url}/inbox/")
    expect(page.locator("#id_username")).to_be_focused()
    page.keyboard.type("agent_alice")
    page.keyboard.press("Tab")
    page.keyboard.type(PASSWORD)
    page.keyboard.press("Enter")
    page.wait_for_url(f"{live_hub.url}/inbox/")
    page.wait_for_selector("#connection[data-state=live]")

    # The alerts tray opens with Enter on the bell, focus inside; Escape closes it and gives focus back.
    tab_to(page, "#tray-button", limit=10)
    page.keyboard.press("Enter")
    expect(page.locator("#tray")).to_be_visible()
    assert page.evaluate("() => document.activeElement.closest('#tray') !== null"), "focus not in the tray"
    page.keyboard.press("Escape")
    expect(page.locator("#tray")).to_be_hidden()
    expect(page.locator("#tray-button")).to_be_focused()
    assert page.evaluate(FOCUS_SHOWN), "the bell got the focus back but does not show it"

    # The page's first stop is a way past the top bar and the views, straight to the list.
    tab_to(page, "a.skip-link", limit=10, back=True)
    skip = page.get_by_role("link", name="Skip to the conversations")
    expect(skip).to_be_focused()
    expect(skip).to_be_in_viewport()
    assert page.evaluate(FOCUS_SHOWN), "the skip link has the focus but does not show it"
    page.keyboard.press("Enter")
    row = f"#conv-{conversation.pk} a.row-link"
    assert tab_to(page, row, limit=3) <= 2, "the list's first conversation is not next after the skip link"

    # Enter opens the thread.
    page.keyboard.press("Enter")
    page.wait_for_url(f"{live_hub.url}/inbox/{conversation.pk}/")
    page.wait_for_selector("#connection[data-state=live]")

    # The second skip link goes to the composer, however long the thread; Send sends.
    tab_to(page, "a.skip-link[href='#reply-body']", limit=2)
    page.keyboard.press("Enter")
    expect(page.locator("#reply-body")).to_be_focused()
    assert page.evaluate(FOCUS_SHOWN), "the composer has the focus but does not show it"
    page.keyboard.type("Sent without a mouse")
    tab_to(page, "#composer button[type=submit]", limit=2)
    page.keyboard.press("Enter")
    expect(page.locator(".entry", has_text="Sent without a mouse")).to_be_visible(timeout=10_000)
    expect(page.locator("#reply-body")).to_have_value("")

    # Back to the thread's menu button; Enter opens the menu with the focus in it, Escape closes it and
    # gives the focus back, visibly.
    tab_to(page, "#more-button", limit=40, back=True)
    page.keyboard.press("Enter")
    expect(page.locator("#thread-menu")).to_be_visible()
    assert page.evaluate("() => document.activeElement.closest('#thread-menu') !== null"), (
        "focus not in the menu"
    )
    page.keyboard.press("Escape")
    expect(page.locator("#thread-menu")).to_be_hidden()
    expect(page.locator("#more-button")).to_be_focused()
    assert page.evaluate(FOCUS_SHOWN), "the menu button got the focus back but does not show it"

    # Ctrl+K opens the command palette on its search box; Escape closes it and the focus goes back.
    page.keyboard.press("Control+k")
    palette = page.get_by_role("dialog", name="Commands")
    expect(palette).to_be_visible()
    expect(page.get_by_role("combobox", name="Type a command")).to_be_focused()
    page.keyboard.press("Escape")
    expect(palette).to_be_hidden()
    expect(page.locator("#more-button")).to_be_focused()
    assert page.evaluate(FOCUS_SHOWN), (
        "the menu button got the focus back from the palette but does not show it"
    )

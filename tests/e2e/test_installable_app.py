"""The installable app in Chromium: the service worker registers, caches the shell and nothing of the agent's
threads, stands in with the offline page when the network is gone, and shows a push as a notification (the
push delivered through the DevTools protocol, as a push service would hand it to the browser)."""

from __future__ import annotations

import json
import time
from typing import Any

import pytest

pytestmark = pytest.mark.browser

CACHED_URLS = """
async () => {
  const urls = [];
  for (const name of await caches.keys()) {
    const cache = await caches.open(name);
    for (const request of await cache.keys()) urls.push(new URL(request.url).pathname);
  }
  return urls.sort();
}
"""

NOTIFICATIONS = """
async () => {
  const registration = await navigator.serviceWorker.ready;
  const shown = await registration.getNotifications();
  return shown.map((n) => ({ title: n.title, body: n.body, url: n.data && n.data.url, tag: n.tag }));
}
"""


def test_the_service_worker_caches_the_shell_serves_the_offline_page_and_shows_a_push(
    live_hub: Any, page: Any
) -> None:
    context = page.context
    context.grant_permissions(["notifications"], origin=live_hub.url)
    cdp = context.new_cdp_session(page)
    registrations: list[dict[str, Any]] = []
    cdp.on(
        "ServiceWorker.workerRegistrationUpdated", lambda event: registrations.extend(event["registrations"])
    )
    cdp.send("ServiceWorker.enable")

    live_hub.login(page)
    state = page.evaluate("navigator.serviceWorker.ready.then((r) => r.active && r.active.state)")
    assert state in ("activating", "activated")
    page.goto(f"{live_hub.url}/inbox/profile/")
    page.wait_for_selector("#devices")

    # Only the shell is stored: no page, no API answer, nothing of anyone's threads.
    cached = page.evaluate(CACHED_URLS)
    assert "/offline/" in cached and "/static/css/hub.css" in cached
    assert not [url for url in cached if url.startswith(("/inbox", "/api", "/attachments"))], cached

    # Network gone: a page of the hub is the offline page, from the cache.
    context.set_offline(True)
    try:
        page.goto(f"{live_hub.url}/inbox/", wait_until="domcontentloaded")
        assert page.locator("h1").inner_text() == "You are offline"
    finally:
        context.set_offline(False)

    # A push as the push service hands it over: the worker shows it as a notification.
    deadline = time.monotonic() + 10
    while (
        not [r for r in registrations if r["scopeURL"] == f"{live_hub.url}/"] and time.monotonic() < deadline
    ):
        page.wait_for_timeout(100)
    [registration] = [r for r in registrations if r["scopeURL"] == f"{live_hub.url}/"][:1]
    payload = {
        "title": "Dana Scully",
        "body": "New message",
        "url": "/inbox/7/#entry-9",
        "tag": "conversation-7",
    }
    cdp.send(
        "ServiceWorker.deliverPushMessage",
        {
            "origin": live_hub.url,
            "registrationId": registration["registrationId"],
            "data": json.dumps(payload),
        },
    )
    page.goto(f"{live_hub.url}/inbox/profile/")
    page.wait_for_function(f"({NOTIFICATIONS})().then((shown) => shown.length > 0)", timeout=10_000)
    assert page.evaluate(NOTIFICATIONS) == [
        {"title": "Dana Scully", "body": "New message", "url": "/inbox/7/#entry-9", "tag": "conversation-7"}
    ]

    # Logging out still works with the worker in place (push.js first stops this device's pushes, if any).
    page.click("form[action='/accounts/logout/'] button:visible")
    page.wait_for_url(f"{live_hub.url}/accounts/login/**", timeout=10_000)

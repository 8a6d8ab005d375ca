"""The hub as in production for real-browser tests: Debian's Chromium through Playwright, the real ASGI
server and a Celery worker. A package's conftest imports these fixtures (tests/e2e, tests/security/browser).
"""

from __future__ import annotations

import os
import shutil
from collections.abc import Iterator
from dataclasses import dataclass
from typing import Any

import pytest
from playwright.sync_api import Browser, Page, sync_playwright

from conversations.models import AgentProfile, Inbox, Team
from tests.conftest import ACCOUNT_SID, AUTH_TOKEN, SUPPORT_NUMBER
from tests.fakes.twilio_api import FakeTwilioServer
from tests.live import Processes, free_port, hub_env, processes, wait_http

CHROMIUM = shutil.which("chromium") or "/usr/bin/chromium"
CHROMIUM_ARGS = [
    "--no-sandbox",
    "--disable-gpu",
    "--disable-dev-shm-usage",
    "--disable-quic",
    "--no-first-run",
    "--disable-background-networking",
    "--disable-component-update",
    "--disable-sync",
]
PASSWORD = "correct horse battery staple"
# Sync Playwright runs an event loop in the test's thread; the test's own ORM calls are still synchronous.
os.environ.setdefault("DJANGO_ALLOW_ASYNC_UNSAFE", "true")


@pytest.fixture(scope="package")
def browser() -> Iterator[Browser]:
    # Package scope: sync Playwright holds an event loop in the main thread, which later tests must not inherit.
    # So browser tests live in packages of their own (no asyncio tests beside them), each importing this.
    with sync_playwright() as playwright:
        browser = playwright.chromium.launch(executable_path=CHROMIUM, args=CHROMIUM_ARGS)
        yield browser
        browser.close()


@dataclass
class LiveHub:
    url: str
    port: int
    env: dict[str, str]
    fake_twilio: FakeTwilioServer
    running: Processes
    inbox: Inbox
    username: str = "agent_alice"

    def start_web(self, name: str = "web", port: int | None = None) -> str:
        """Start an ASGI process (the hub's own port by default) and wait until it serves."""
        port = port or self.port
        self.running.web(self.env, port, name=name)
        url = f"http://127.0.0.1:{port}"
        try:
            wait_http(f"{url}/healthz")
        except AssertionError:
            raise AssertionError(self.running.log(name)) from None
        return url

    def login(self, page: Page, username: str | None = None) -> None:
        page.goto(f"{self.url}/inbox/")
        page.fill("#id_username", username or self.username)
        page.fill("#id_password", PASSWORD)
        page.click("button[type=submit]")
        page.wait_for_url(f"{self.url}/inbox/")
        page.wait_for_selector("#connection[data-state=live]")


@pytest.fixture
def live_hub(transactional_db: Any, tmp_path: Any) -> Iterator[LiveHub]:
    from tests import factories

    team = Team.objects.create(name="Support")
    inbox = Inbox.objects.create(name="Support line", kind=Inbox.PHONE, address=SUPPORT_NUMBER, team=team)
    factories.agent("agent_alice", role=AgentProfile.AGENT, teams=(team,))
    fake = FakeTwilioServer(ACCOUNT_SID, AUTH_TOKEN).start()
    port = free_port()
    url = f"http://127.0.0.1:{port}"
    env = hub_env(
        tmp_path / "var",
        PUBLIC_BASE_URL=url,
        TWILIO_ACCOUNT_SID=ACCOUNT_SID,
        TWILIO_AUTH_TOKEN=AUTH_TOKEN,
        TWILIO_API_BASE_URL=fake.url,
        SAFE_HTTP_ALLOW_LOOPBACK=fake.url.split("//", 1)[1],
        EMBEDDED_BEAT="0",
    )
    with processes(tmp_path) as running:
        hub = LiveHub(url=url, port=port, env=env, fake_twilio=fake, running=running, inbox=inbox)
        running.worker(env)
        hub.start_web()
        yield hub
    fake.stop()


@pytest.fixture
def page(browser: Browser) -> Iterator[Page]:
    context = browser.new_context()
    page = context.new_page()
    yield page
    context.close()

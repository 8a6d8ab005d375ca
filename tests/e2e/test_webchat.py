"""The widget in a real browser: a shop's page on another origin embeds it with one tag, the visitor
writes, an agent (another browser context, logged in) sees it live and answers, the visitor sees the answer
live, and after a reload the whole conversation is still there."""

from __future__ import annotations

import signal
import threading
from collections.abc import Iterator
from functools import partial
from http.server import SimpleHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path

import pytest
from playwright.sync_api import Browser, Locator, Page, expect

from channels_adapters.webchat.identity import user_hash
from conversations.models import Entry, Inbox
from tests.live import free_port, wait_until
from tests.webchat import customer_with_history

pytestmark = [pytest.mark.browser, pytest.mark.integration]


class QuietHandler(SimpleHTTPRequestHandler):
    def log_message(self, format: str, *args: object) -> None:
        pass


@pytest.fixture
def shop_site(tmp_path: Path) -> Iterator[tuple[str, Path]]:
    """A plain static site on a port of its own: another origin than the hub's."""
    root = tmp_path / "shop"
    root.mkdir()
    port = free_port()
    server = ThreadingHTTPServer(("127.0.0.1", port), partial(QuietHandler, directory=str(root)))
    threading.Thread(target=server.serve_forever, daemon=True).start()
    yield f"http://127.0.0.1:{port}", root
    server.shutdown()


def test_a_visitor_on_another_site_chats_live_with_an_agent_and_keeps_the_history(
    live_hub, shop_site, browser: Browser, page: Page
) -> None:
    shop, root = shop_site
    inbox = Inbox.objects.create(
        name="Trail Shoes chat",
        kind=Inbox.WEBCHAT,
        team=live_hub.inbox.team,
        allowed_origins=[shop],
        widget_greeting="Hi! Ask us about sizes.",
    )
    (root / "index.html").write_text(
        "<!doctype html><html><head><title>Pricing</title>"
        # Hostile host CSS: the widget's shadow root keeps it out.
        "<style>* { color: red !important; font-size: 40px !important; } div { display: none !important; }</style>"
        "</head><body><h1>Trail Shoes pricing</h1>"
        f'<script src="{live_hub.url}/widget.js" data-widget-key="{inbox.widget_key}" async></script>'
        "</body></html>"
    )

    visitor = browser.new_context().new_page()
    visitor.goto(f"{shop}/index.html")
    launcher = visitor.get_by_role("button", name="Open chat with Trail Shoes chat")
    expect(launcher).to_be_visible(timeout=15_000)
    launcher.click()
    expect(visitor.get_by_text("Hi! Ask us about sizes.")).to_be_visible()
    composer = visitor.get_by_role("textbox", name="Message")
    composer.fill("Do the trail runners come in wide?")
    composer.press("Enter")
    expect(visitor.locator(".msg.mine", has_text="come in wide")).to_be_visible()

    live_hub.login(page)
    row = page.locator("#conversation-list .conversation-row", has_text="come in wide")
    expect(row).to_be_visible(timeout=15_000)
    row.locator("a").click()
    page.wait_for_selector("#connection[data-state=live]")
    # Above the question: the page the visitor was reading.
    expect(page.locator(".entry", has_text="Read “Pricing”")).to_be_visible()
    expect(page.locator("#reply-channel")).to_have_value("webchat")
    # The agent opened the thread: the visitor's message shows as seen.
    expect(visitor.locator(".meta.mine", has_text="Seen")).to_be_visible(timeout=10_000)
    page.fill("#reply-body", "They do, from size 7 to 13.")
    expect(visitor.get_by_text("is typing…")).to_be_visible(timeout=10_000)
    page.click("#composer button[type=submit]")
    expect(visitor.locator(".msg:not(.mine)", has_text="from size 7 to 13")).to_be_visible(timeout=15_000)

    # Hostile text from the visitor is text in the widget and in the agent's thread.
    attack = '<img src=x onerror="window.__xss=1">'
    composer.fill(attack)
    composer.press("Enter")
    expect(page.locator(".entry-body", has_text="onerror")).to_be_visible(timeout=15_000)
    expect(visitor.locator(".msg.mine", has_text="onerror")).to_be_visible()
    assert visitor.evaluate("window.__xss") is None
    assert page.evaluate("window.__xss") is None

    # The visitor reloads: the conversation is all there, each message once.
    visitor.reload()
    expect(visitor.locator(".msg")).to_have_count(3, timeout=15_000)
    texts = visitor.locator(".msg").all_inner_texts()
    assert texts == ["Do the trail runners come in wide?", "They do, from size 7 to 13.", attack]
    # The host page's styles did not reach inside the widget.
    assert visitor.locator(".msg").first.evaluate("e => getComputedStyle(e).fontSize") == "15px"
    visitor.context.close()

    # The same page from an origin the inbox does not allow: the visitor is told, not left with an empty panel.
    elsewhere = browser.new_context().new_page()
    elsewhere.goto(shop.replace("127.0.0.1", "localhost") + "/index.html")
    elsewhere.get_by_role("button", name="Open chat").click()
    expect(elsewhere.get_by_role("alert")).to_have_text("Chat is not available on this page.", timeout=15_000)
    expect(elsewhere.get_by_role("textbox", name="Message")).to_be_hidden()
    elsewhere.context.close()


SECRET = "the shop's identity secret, 32+ chars"


def embed(live_hub, shop: str, root: Path, extra: str = "") -> Inbox:
    from django.test import override_settings

    # The secret is stored encrypted: with the key the hub's processes read it with.
    with override_settings(SECRETS_ENCRYPTION_KEY=live_hub.env["SECRET_KEY"]):
        return _embed(live_hub, shop, root, extra)


def open_chat(browser: Browser, shop: str) -> tuple[Page, Locator]:
    """A new visitor on the shop's page, chat open: the page and the message box."""
    visitor = browser.new_context().new_page()
    visitor.goto(f"{shop}/index.html")
    visitor.get_by_role("button", name="Open chat with Trail Shoes chat").click()
    return visitor, visitor.get_by_role("textbox", name="Message")


def _embed(live_hub, shop: str, root: Path, extra: str) -> Inbox:
    inbox = Inbox.objects.create(
        name="Trail Shoes chat",
        kind=Inbox.WEBCHAT,
        team=live_hub.inbox.team,
        allowed_origins=[shop],
        identity_secret=SECRET,
    )
    (root / "index.html").write_text(
        "<!doctype html><html><head><title>Account</title></head><body><h1>Your account</h1>"
        f'<script src="{live_hub.url}/widget.js" data-widget-key="{inbox.widget_key}" async></script>'
        f"{extra}</body></html>"
    )
    return inbox


def test_a_logged_in_customer_identified_with_a_valid_hash_sees_their_history_join(
    live_hub, shop_site, browser: Browser
) -> None:
    shop, root = shop_site
    digest = user_hash(secret=SECRET, value="shop-user-1001")
    # The shop's server renders the hash for the logged-in user; the page hands it to the widget.
    site = embed(
        live_hub,
        shop,
        root,
        "<button id=login onclick=\"Hub.identify({user_id: 'shop-user-1001', name: 'Dana', "
        f"user_hash: '{digest}'}})\">Log in</button>",
    )
    # Dana is user shop-user-1001 of this shop: her user id is scoped to its web chat.
    contact = customer_with_history(live_hub.inbox, site=site)
    visitor, composer = open_chat(browser, shop)
    composer.fill("Where is my order?")
    composer.press("Enter")
    expect(visitor.locator(".meta.mine", has_text="Sent")).to_be_visible(timeout=15_000)
    expect(visitor.locator(".msg")).to_have_count(1)
    visitor.click("#login")
    expect(visitor.locator(".msg")).to_have_text(
        ["Is the blue trail runner back in size 9?", "Where is my order?"], timeout=15_000
    )
    expect(visitor.locator(".meta", has_text="by SMS")).to_be_visible()
    # The worker records the message a moment after "Sent", before or after the merge: either way it
    # lands in Dana's thread, never in the anonymous one merged away.
    wait_until(
        lambda: Entry.objects.filter(conversation__contact=contact, body="Where is my order?").exists(),
        timeout=30,
        message="the chat message joins Dana's thread",
    )
    visitor.context.close()


def test_messages_written_while_the_hub_is_down_arrive_once_when_it_returns(
    live_hub, shop_site, browser: Browser
) -> None:
    """The widget's drill: the hub's ASGI process is killed under an open chat; what the visitor writes
    meanwhile waits in the browser and lands once each, in order, when the hub is back."""
    shop, root = shop_site
    inbox = embed(live_hub, shop, root)
    visitor, composer = open_chat(browser, shop)
    composer.fill("before")
    composer.press("Enter")
    expect(visitor.locator(".meta.mine", has_text="Sent")).to_have_count(1, timeout=15_000)

    live_hub.running.stop("web", signal.SIGKILL)
    for body in ("while down 1", "while down 2", "while down 3"):
        composer.fill(body)
        composer.press("Enter")
    expect(visitor.locator(".meta.mine", has_text="Waiting for connection")).to_have_count(3, timeout=10_000)
    live_hub.start_web()
    expect(visitor.locator(".meta.mine", has_text="Sent")).to_have_count(4, timeout=40_000)
    # "Sent" is the hub's word that the message is stored; the worker puts it in the thread right after.
    expected = ["before", "while down 1", "while down 2", "while down 3"]

    def bodies() -> list[str]:
        entries = Entry.objects.filter(inbox=inbox, kind="message").order_by("created_at", "id")
        return list(entries.values_list("body", flat=True))

    wait_until(lambda: len(bodies()) >= 4, timeout=30, message="the messages reach the thread")
    assert bodies() == expected
    visitor.reload()
    expect(visitor.locator(".msg")).to_have_count(4, timeout=15_000)
    visitor.context.close()

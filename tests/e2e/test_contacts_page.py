"""The Contacts page in Chromium: `/` searches, a row opens the customer's thread, Tab walks the rows, an agent
adds a customer, and nothing scrolls sideways on a phone. Set SHOTS_DIR to also write screenshots of it
(1440x900, 1280x800, 390x844)."""

from __future__ import annotations

import os
from pathlib import Path

import pytest
from playwright.sync_api import Page, expect

from contacts.models import Contact, Label
from conversations.models import Conversation
from conversations.services import entry_append
from lifecycle.models import Stage
from lifecycle.services import stage_move
from tests.conftest import sms_in

pytestmark = [pytest.mark.browser, pytest.mark.integration]

NO_SIDEWAYS_SCROLL = "() => document.documentElement.scrollWidth <= innerWidth"
CUSTOMERS = [
    ("Dana Whitaker", "+14155550142", "Where is my order?"),
    ("Omar Haddad", "+14155550199", "Do you ship to Canada?"),
    ("Mei-Ling Castellanos-Rodríguez", "+447700900123", "Can I change the size on my order?"),
    ("", "+14155550111", "Hello?"),
]


def seed(live_hub) -> dict[str, Conversation]:
    vip = Label.objects.create(name="VIP", color="#b42318")
    wholesale = Label.objects.create(name="Wholesale", color="#2457d6")
    threads = {}
    for name, phone, body in CUSTOMERS:
        thread = sms_in(live_hub.inbox, body, phone=phone).conversation
        Contact.objects.filter(pk=thread.contact_id).update(name=name)
        threads[name or phone] = thread
    threads["Dana Whitaker"].contact.labels.add(vip, wholesale)
    stage_move(contact=threads["Dana Whitaker"].contact, stage=Stage.objects.get(key="customer"), by=None)
    # Dana wrote last: she heads the list.
    entry_append(
        conversation=threads["Dana Whitaker"],
        kind="message",
        direction="inbound",
        channel="sms",
        inbox=live_hub.inbox,
        body="Any news?",
    )
    return threads


def test_an_agent_finds_a_customer_opens_their_thread_and_adds_one(live_hub, page: Page) -> None:
    threads = seed(live_hub)
    page.set_viewport_size({"width": 1280, "height": 800})
    live_hub.login(page)
    page.get_by_role("navigation", name="Main").get_by_role("link", name="Contacts").click()
    page.wait_for_url(f"{live_hub.url}/contacts/")
    rows = page.locator("#contacts-table .contact-row")
    expect(rows).to_have_count(4)
    expect(rows.first).to_contain_text("Dana Whitaker")
    expect(rows.first).to_contain_text("VIP")
    expect(rows.first).to_contain_text("Customer")

    # "/" focuses the search; the last four digits of a number find its customer.
    page.locator("#contacts-title").click()
    page.keyboard.press("/")
    search = page.locator("#contacts-q")
    expect(search).to_be_focused()
    page.keyboard.type("0199")
    page.keyboard.press("Enter")
    expect(rows).to_have_count(1)
    expect(rows.first).to_contain_text("Omar Haddad")
    expect(rows.first).to_contain_text("+14155550199")

    # Tab reaches the row; Enter opens the customer's lifetime thread.
    for _ in range(20):
        page.keyboard.press("Tab")
        if page.evaluate("() => document.activeElement.classList.contains('row-open')"):
            break
    expect(page.locator(".row-open").first).to_be_focused()
    page.keyboard.press("Enter")
    page.wait_for_url(f"{live_hub.url}/inbox/{threads['Omar Haddad'].pk}/")
    expect(page.locator(".entry", has_text="Do you ship to Canada?")).to_be_visible()

    # A new customer, with a phone typed the local way: stored as E.164, listed, their thread one click away.
    page.goto(f"{live_hub.url}/contacts/new/")
    page.get_by_label("Name").fill("Lena Fischer")
    page.get_by_label("Phone").fill("(415) 555-0123")
    page.get_by_label("Email").fill("lena@example.com")
    page.get_by_role("button", name="Add contact").click()
    expect(page.get_by_role("status")).to_contain_text("Added")
    expect(page.get_by_role("heading", name="Lena Fischer")).to_be_visible()
    expect(page.locator(".identity-list")).to_contain_text("+14155550123")
    # The same number again is refused, saying whose it is.
    page.goto(f"{live_hub.url}/contacts/new/")
    page.get_by_label("Name").fill("Lena twice")
    page.get_by_label("Phone").fill("+1 415 555 0123")
    page.get_by_role("button", name="Add contact").click()
    expect(page.get_by_role("alert")).to_contain_text("+14155550123 already belongs to Lena Fischer")
    page.goto(f"{live_hub.url}/contacts/?q=Lena")
    expect(rows).to_have_count(1)
    rows.first.locator(".row-open").click()
    expect(page.locator(".entry", has_text="added this customer")).to_be_visible()


def test_the_contacts_page_fits_a_phone(live_hub, page: Page) -> None:
    seed(live_hub)
    page.set_viewport_size({"width": 390, "height": 844})
    live_hub.login(page)
    page.goto(f"{live_hub.url}/contacts/")
    expect(page.locator("#contacts-table .contact-row")).to_have_count(4)
    assert page.evaluate(NO_SIDEWAYS_SCROLL), "the Contacts page scrolls sideways on a phone"
    expect(page.get_by_role("link", name="New contact")).to_be_in_viewport()


@pytest.mark.skipif(not os.environ.get("SHOTS_DIR"), reason="screenshots only when SHOTS_DIR is set")
def test_screenshots_of_the_contacts_page(live_hub, page: Page) -> None:
    shots = Path(os.environ["SHOTS_DIR"])
    shots.mkdir(parents=True, exist_ok=True)
    threads = seed(live_hub)
    page.set_viewport_size({"width": 1440, "height": 900})
    live_hub.login(page)
    for width, height in [(1440, 900), (1280, 800), (390, 844)]:
        page.set_viewport_size({"width": width, "height": height})
        page.goto(f"{live_hub.url}/contacts/")
        page.screenshot(path=str(shots / f"contacts-{width}x{height}.png"), full_page=True)
        page.goto(f"{live_hub.url}/contacts/{threads['Dana Whitaker'].contact_id}/")
        page.screenshot(path=str(shots / f"contact-edit-{width}x{height}.png"), full_page=True)
    page.set_viewport_size({"width": 1280, "height": 800})
    page.goto(f"{live_hub.url}/contacts/new/")
    page.screenshot(path=str(shots / "contact-new-1280x800.png"), full_page=True)

"""Finding things in the browser: a search hit opens a long thread at the entry; the `/` canned-response picker."""

from __future__ import annotations

import re
from datetime import timedelta

import pytest
from django.utils import timezone
from playwright.sync_api import Page, expect

from contacts.services import contact_resolve
from conversations.canned import canned_save
from conversations.models import Entry
from conversations.services import conversation_get_or_create, entry_append

pytestmark = [pytest.mark.browser, pytest.mark.integration]


def long_thread(inbox, size: int, needle_at: int) -> tuple[int, list[Entry]]:
    contact, _ = contact_resolve(kind="phone", address="+14155550142", name="Dana Whitaker")
    thread = conversation_get_or_create(contact=contact)
    start = timezone.now() - timedelta(days=30)
    entries = [
        entry_append(
            conversation=thread,
            kind="message",
            direction="inbound" if n % 2 else "outbound",
            channel="sms",
            inbox=inbox,
            body="Do the zebra-striped laces fit the trail runner?"
            if n == needle_at
            else f"Message number {n}",
            created_at=start + timedelta(minutes=n),
        )
        for n in range(size)
    ]
    return thread.pk, entries


def test_a_search_lands_on_the_matched_entry_and_scrolling_down_loads_the_rest(live_hub, page: Page) -> None:
    thread, entries = long_thread(live_hub.inbox, 420, needle_at=40)
    needle, newest = entries[40], entries[-1]
    live_hub.login(page)
    page.fill("#top-search", "zebra laces")
    page.press("#top-search", "Enter")
    hit = page.locator(".search-hit", has_text="Dana Whitaker")
    expect(hit).to_have_count(1)
    expect(hit.locator("mark").first).to_have_text("zebra")
    hit.locator("a").click()
    page.wait_for_url(f"**/inbox/{thread}/?entry={needle.pk}*")
    target = page.locator(f"#entry-{needle.pk}")
    expect(target).to_have_class(re.compile(r"\bfocused\b"))
    expect(target).to_be_in_viewport()
    assert page.locator(f"#entry-{newest.pk}").count() == 0, "the newest entries load only when scrolled to"

    # Scrolling down loads newer pages until the newest, and the page keeps only a few hundred entries.
    for _ in range(40):
        if page.locator(f"#entry-{newest.pk}").count():
            break
        page.eval_on_selector("#timeline", "el => { el.scrollTop = el.scrollHeight; }")
        page.wait_for_timeout(150)
    expect(page.locator(f"#entry-{newest.pk}")).to_be_attached()
    assert page.locator("#timeline .entry").count() <= 300
    expect(page.locator(f"#entry-{needle.pk}")).to_have_count(0)
    expect(page.locator("#timeline .load-older")).to_have_count(1)


def test_the_slash_picker_inserts_a_canned_response_for_this_customer(live_hub, page: Page) -> None:
    from django.contrib.auth.models import User

    thread, _ = long_thread(live_hub.inbox, 2, needle_at=0)
    alice = User.objects.get(username="agent_alice")
    canned_save(
        by=alice,
        shortcut="thanks",
        title="Thanks",
        body="Thanks {{contact.first_name}}! {{agent.first_name}}",
    )
    canned_save(by=alice, shortcut="the-hours", title="Opening hours", body="We open at 9.")
    live_hub.login(page)
    page.goto(f"{live_hub.url}/inbox/{thread}/")
    page.wait_for_selector("#connection[data-state=live]")
    page.click("#reply-body")
    page.keyboard.type("Sure. /th")
    picker = page.locator("#canned-picker")
    expect(picker.locator("li")).to_have_count(2)
    expect(picker.locator("li[aria-selected=true]")).to_contain_text("/thanks")
    page.keyboard.press("ArrowDown")
    expect(picker.locator("li[aria-selected=true]")).to_contain_text("/the-hours")
    page.keyboard.press("ArrowUp")
    page.keyboard.press("Enter")
    expect(picker).to_have_count(0)
    expect(page.locator("#reply-body")).to_have_value("Sure. Thanks Dana! Alice")
    page.keyboard.type(" /nothing-like-this")
    expect(picker).to_have_count(0)


def test_the_view_counts_follow_a_new_text_live(live_hub, page: Page) -> None:
    from tests.conftest import ACCOUNT_SID, AUTH_TOKEN, SUPPORT_NUMBER
    from tests.live import post_signed_sms

    live_hub.login(page)
    page.goto(f"{live_hub.url}/inbox/?channel=sms")
    page.wait_for_selector("#connection[data-state=live]")
    unanswered = page.locator('[data-view-count="unanswered"]')
    expect(unanswered).to_have_text("0")
    response = post_signed_sms(
        live_hub.url,
        ACCOUNT_SID,
        AUTH_TOKEN,
        sender="+14155550166",
        to=SUPPORT_NUMBER,
        body="Hello?",
        sid="SM" + "e5" * 16,
    )
    assert response.status_code == 200
    expect(page.locator("#conversation-list .conversation-row", has_text="Hello?")).to_be_visible(
        timeout=10_000
    )
    expect(unanswered).to_have_text("1", timeout=10_000)
    expect(page.locator('[data-view-count="all"]')).to_have_text("1")

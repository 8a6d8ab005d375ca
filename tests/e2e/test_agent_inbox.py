"""An agent's day in the browser: a text arrives live and the agent answers.

A socket cut while messages arrive is drilled at scale in tests/faults/test_realtime_faults.py.
"""

from __future__ import annotations

import pytest
from playwright.sync_api import Page, expect

from conversations.models import Entry
from tests.conftest import ACCOUNT_SID, AUTH_TOKEN, SUPPORT_NUMBER
from tests.live import post_signed_sms

pytestmark = [pytest.mark.browser, pytest.mark.integration]

CUSTOMER = "+14155550142"


def text(live_hub, body: str, sid: str, via: str | None = None):
    response = post_signed_sms(
        live_hub.url, ACCOUNT_SID, AUTH_TOKEN, sender=CUSTOMER, to=SUPPORT_NUMBER, body=body, sid=sid, via=via
    )
    assert response.status_code == 200, response.text
    return response


def test_an_inbound_sms_appears_live_and_the_agents_reply_reaches_twilio(live_hub, page: Page) -> None:
    live_hub.login(page)
    navigations: list[str] = []
    page.on("framenavigated", lambda frame: navigations.append(frame.url))
    text(live_hub, "Is the blue trail runner back in size 9?", "SM" + "a1" * 16)
    row = page.locator("#conversation-list .conversation-row", has_text="blue trail runner")
    expect(row).to_be_visible(timeout=10_000)
    expect(row.locator(".unanswered-badge")).to_be_visible()
    assert navigations == [], "the message must arrive without a reload"

    row.locator("a").click()
    page.wait_for_selector("#connection[data-state=live]")
    page.fill("#reply-body", "Yes! Want me to hold a pair?")
    page.click("#composer button[type=submit]")
    reply = page.locator(".entry.dir-outbound", has_text="Want me to hold a pair?")
    expect(reply).to_be_visible()
    [sent] = live_hub.fake_twilio.wait_for_messages(1, timeout=20)
    assert (sent["to"], sent["from"], sent["body"]) == (
        CUSTOMER,
        SUPPORT_NUMBER,
        "Yes! Want me to hold a pair?",
    )
    expect(reply.locator(".delivery-status")).to_have_text("Sent", timeout=10_000)

    # Twilio reports delivery: the tick updates live.
    import requests
    from twilio.request_validator import RequestValidator

    entry = Entry.objects.get(direction="outbound")
    url = f"{live_hub.url}/webhooks/twilio/messaging/status/?entry={entry.pk}"
    params = {
        "MessageSid": sent["sid"],
        "SmsSid": sent["sid"],
        "MessageStatus": "delivered",
        "SmsStatus": "delivered",
        "AccountSid": ACCOUNT_SID,
        "To": CUSTOMER,
        "From": SUPPORT_NUMBER,
        "ApiVersion": "2010-04-01",
    }
    signature = RequestValidator(AUTH_TOKEN).compute_signature(url, params)
    assert (
        requests.post(url, data=params, headers={"X-Twilio-Signature": signature}, timeout=10).status_code
        == 204
    )
    expect(reply.locator(".delivery-status")).to_have_text("Delivered", timeout=10_000)
    expect(page.locator("#conversation-list .conversation-row .unanswered-badge")).to_have_count(0)


def test_hostile_text_is_shown_as_text(live_hub, page: Page) -> None:
    live_hub.login(page)
    payload = '<img src=x onerror="window.__xss=1"><script>window.__xss=1</script>'
    text(live_hub, payload, "SM" + "c3" * 16)
    row = page.locator("#conversation-list .conversation-row", has_text="onerror")
    expect(row).to_be_visible(timeout=10_000)
    row.locator("a").click()
    expect(page.locator(".entry-body", has_text="<script>")).to_be_visible()
    assert page.evaluate("window.__xss") is None


def test_a_thread_the_agent_took_never_offers_take_it_again_after_a_live_redraw(live_hub, page: Page) -> None:
    live_hub.login(page)
    text(live_hub, "Do you ship to Canada?", "SM" + "d4" * 16)
    row = page.locator("#conversation-list .conversation-row", has_text="ship to Canada")
    expect(row).to_be_visible(timeout=10_000)
    row.locator("a").click()
    page.wait_for_selector("#connection[data-state=live]")
    header = page.locator("#thread-header")
    menu = page.locator("#thread-menu")  # the header's other actions, in its "More" menu
    page.click("#more-button")
    menu.get_by_role("button", name="Take it").click()
    expect(header.locator("#thread-assignee")).not_to_have_text("nobody", timeout=10_000)
    # The customer writes again: the header is redrawn from the frame every watching agent gets.
    text(live_hub, "And to Mexico?", "SM" + "e5" * 16)
    expect(page.locator(".entry", has_text="And to Mexico?")).to_be_visible(timeout=10_000)
    page.click("#more-button")
    expect(menu.get_by_role("button", name="Unassign")).to_be_visible()
    expect(menu.get_by_role("button", name="Take it")).to_have_count(0)

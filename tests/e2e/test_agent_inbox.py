"""An agent's day in the browser: a text arrives live, the agent answers, the socket drops and nothing is lost."""

from __future__ import annotations

import re
import signal

import pytest
from playwright.sync_api import Page, expect

from conversations.models import Entry
from tests.conftest import ACCOUNT_SID, AUTH_TOKEN, SUPPORT_NUMBER
from tests.live import free_port, post_signed_sms, wait_until

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


def test_a_page_that_lost_its_socket_shows_every_missed_message_once(live_hub, page: Page) -> None:
    text(live_hub, "First question", "SM" + "b0" * 16)
    conversation_id = wait_until(
        lambda: Entry.objects.filter(body="First question").values_list("conversation_id", flat=True).first(),
        timeout=20,
    )
    live_hub.login(page)
    page.goto(f"{live_hub.url}/inbox/{conversation_id}/")
    page.wait_for_selector("#connection[data-state=live]")

    # A second ASGI process takes the webhooks, as behind a load balancer; the agent's process is killed.
    other = live_hub.start_web(name="web-2", port=free_port())
    live_hub.running.stop("web", signal.SIGKILL)
    expect(page.locator("#connection")).to_have_attribute("data-state", "offline")
    bodies = [f"Missed message {n}" for n in range(5)]
    for n, body in enumerate(bodies):
        text(live_hub, body, f"SM{n:032d}", via=other)
    text(live_hub, bodies[2], f"SM{2:032d}", via=other)  # Twilio's retry of one of them
    wait_until(lambda: Entry.objects.filter(body__startswith="Missed message").count() == 5, timeout=20)
    expect(page.locator(".entry-body", has_text="Missed message")).to_have_count(0)

    live_hub.start_web()  # the agent's process comes back; the page reconnects and catches up
    expect(page.locator("#connection")).to_have_attribute("data-state", "live", timeout=30_000)
    for body in bodies:
        expect(page.locator(".entry-body", has_text=re.compile(f"^{body}$"))).to_have_count(1, timeout=10_000)
    expect(page.locator("#conversation-list .conversation-row")).to_have_count(1)
    expect(page.locator("#conversation-list .row-preview")).to_have_text("Missed message 4")


def test_hostile_text_is_shown_as_text(live_hub, page: Page) -> None:
    live_hub.login(page)
    payload = '<img src=x onerror="window.__xss=1"><script>window.__xss=1</script>'
    text(live_hub, payload, "SM" + "c3" * 16)
    row = page.locator("#conversation-list .conversation-row", has_text="onerror")
    expect(row).to_be_visible(timeout=10_000)
    row.locator("a").click()
    expect(page.locator(".entry-body", has_text="<script>")).to_be_visible()
    assert page.evaluate("window.__xss") is None

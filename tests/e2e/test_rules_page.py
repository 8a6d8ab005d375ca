"""An admin switches on the out-of-hours reply in the browser, and a text at a closed hour is answered by the
hub, visible in the thread: the real ASGI server, a Celery worker consuming the event stream, Chromium."""

from __future__ import annotations

import time
from datetime import UTC, datetime

import pytest
from playwright.sync_api import Page, expect

from conversations.models import AgentProfile, Entry
from rules.models import Rule
from tests import factories
from tests.conftest import ACCOUNT_SID, AUTH_TOKEN, SUPPORT_NUMBER
from tests.live import post_signed_sms

pytestmark = [pytest.mark.browser, pytest.mark.integration]

CUSTOMER = "+14155550142"
REPLY = "Thanks for writing! We're closed today and will answer first thing tomorrow."


def test_an_admin_switches_on_the_out_of_hours_reply_and_a_text_at_a_closed_hour_gets_it(
    live_hub, page: Page
) -> None:
    inbox = live_hub.inbox
    inbox.time_zone = "UTC"
    inbox.holidays = [datetime.now(UTC).date().isoformat()]  # closed all day today
    inbox.save()
    factories.agent("admin_ada", role=AgentProfile.ADMIN)

    live_hub.login(page, "admin_ada")
    page.goto(f"{live_hub.url}/inbox/settings/")
    page.get_by_role("link", name="Automation rules and macros").click()
    page.wait_for_url(f"{live_hub.url}/inbox/settings/rules/")
    card = page.locator(f"#ooh-{inbox.pk}")
    expect(card.get_by_test_id("ooh-state")).to_have_text("Off")
    expect(card).to_contain_text("open around the clock except on")  # the holiday is the only closed time
    card.get_by_label("Reply text").fill(REPLY)
    card.get_by_role("switch", name="Answer out of hours").check()
    card.get_by_role("button", name="Save").click()
    page.wait_for_url("**/inbox/settings/rules/?saved=*")
    card = page.locator(f"#ooh-{inbox.pk}")
    expect(card.get_by_test_id("ooh-state")).to_have_text("On")
    expect(card.get_by_role("status")).to_contain_text("Saved")
    rule = Rule.objects.get(preset="out_of_hours")
    assert rule.enabled and rule.actions == [{"type": "reply", "text": REPLY}]
    expect(page.locator(f"#rule-{rule.pk}")).to_contain_text("Out-of-hours reply: Support line")

    response = post_signed_sms(
        live_hub.url,
        ACCOUNT_SID,
        AUTH_TOKEN,
        sender=CUSTOMER,
        to=SUPPORT_NUMBER,
        body="Hi, are you open today?",
        sid="SM" + "e7" * 16,
    )
    assert response.status_code == 200, response.text
    # The worker dispatches the event, the rule meets it, and the hub answers through Twilio (the fake).
    [sent] = live_hub.fake_twilio.wait_for_messages(1, timeout=30)
    assert (sent["to"], sent["from"], sent["body"]) == (CUSTOMER, SUPPORT_NUMBER, REPLY)

    deadline = time.monotonic() + 15
    while not Entry.objects.filter(direction="outbound").exists() and time.monotonic() < deadline:
        time.sleep(0.2)
    reply = Entry.objects.get(direction="outbound", kind="message")
    assert reply.author is None  # the hub, not an agent

    page.goto(f"{live_hub.url}/inbox/{reply.conversation_id}/")
    expect(page.locator(".entry.dir-outbound", has_text="We're closed today")).to_be_visible()
    expect(page.locator(".entry.kind-event", has_text="Out-of-hours reply: Support line")).to_be_visible()

    # The run log says what the rule did.
    page.goto(f"{live_hub.url}/inbox/settings/rules/?rule={rule.pk}")
    expect(page.locator("#run-log")).to_contain_text("applied")
    expect(page.locator("#run-log")).to_contain_text("answered on sms")

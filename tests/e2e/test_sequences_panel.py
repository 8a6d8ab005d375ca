"""An agent enrols a customer in a sequence from the customer panel; the worker sends its first message through
Twilio (the fake) as the hub, and the thread tells the story: the real ASGI server, a Celery worker, Chromium."""

from __future__ import annotations

import time
from datetime import UTC, datetime

import pytest
from playwright.sync_api import Page, expect

from conversations.models import Conversation
from sequences.models import Enrollment
from sequences.services import sequence_save
from tests.conftest import ACCOUNT_SID, AUTH_TOKEN, SUPPORT_NUMBER
from tests.live import post_signed_sms

pytestmark = [pytest.mark.browser, pytest.mark.integration]

CUSTOMER = "+14155550142"


def test_an_agent_enrols_a_customer_and_the_first_message_goes_out_as_the_hub(live_hub, page: Page) -> None:
    # Noon where the inbox is, whenever the suite runs: a night there would hold the message until 9:00.
    offset = (12 - datetime.now(UTC).hour + 11) % 24 - 11
    live_hub.inbox.time_zone = f"Etc/GMT{-offset:+d}"
    live_hub.inbox.save()
    sequence_save(
        by=None,
        name="After the purchase",
        steps=[
            {"type": "message", "text": "Thanks for your order! Reply here with any question."},
            {"type": "wait", "days": 7},
        ],
    )
    response = post_signed_sms(
        live_hub.url,
        ACCOUNT_SID,
        AUTH_TOKEN,
        sender=CUSTOMER,
        to=SUPPORT_NUMBER,
        body="Order placed!",
        sid="SM" + "a1" * 16,
    )
    assert response.status_code == 200, response.text

    live_hub.login(page)
    deadline = time.monotonic() + 15  # the worker records the text after the webhook has answered
    while not Conversation.objects.filter(contact__identities__address=CUSTOMER).exists():
        assert time.monotonic() < deadline, "the customer's text was never recorded"
        time.sleep(0.2)
    conversation = Conversation.objects.get(contact__identities__address=CUSTOMER)
    page.goto(f"{live_hub.url}/inbox/{conversation.pk}/")
    panel = page.locator("[data-slot=sequences]")
    panel.get_by_label("Enrol in a sequence").select_option(label="After the purchase")
    panel.get_by_role("button", name="Enrol").click()

    [sent] = live_hub.fake_twilio.wait_for_messages(1, timeout=30)
    assert (sent["to"], sent["from"]) == (CUSTOMER, SUPPORT_NUMBER)
    assert sent["body"] == "Thanks for your order! Reply here with any question."
    # The worker takes the wait step in its own claim, a moment after the message went out; the panel shows
    # the enrolment as it is when the page loads.
    deadline = time.monotonic() + 15
    while Enrollment.objects.get(contact=conversation.contact).step < 2:
        assert time.monotonic() < deadline, "the wait step was never begun"
        time.sleep(0.2)
    page.goto(f"{live_hub.url}/inbox/{conversation.pk}/")
    expect(page.locator(".entry.kind-event", has_text="enrolled")).to_contain_text("“After the purchase”")
    expect(page.locator(".entry.dir-outbound", has_text="Thanks for your order")).to_be_visible()
    expect(page.locator("[data-slot=sequences]").get_by_test_id("enrollment-active")).to_contain_text(
        "2 of 2 steps done · next"
    )

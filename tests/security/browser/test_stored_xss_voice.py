"""Stored XSS through calls, in Chromium: a caller's name (CNAM) and a voicemail's transcript are customer
text too. Arriving live and on a fresh load, nothing runs and the text reads as said."""

from __future__ import annotations

import pytest
import requests
from playwright.sync_api import Page, expect
from twilio.request_validator import RequestValidator

from conversations.models import Entry
from tests.conftest import ACCOUNT_SID, AUTH_TOKEN, SUPPORT_NUMBER, sms_in
from tests.live import wait_until
from tests.security.browser.test_stored_xss import PAYLOADS, Watch

pytestmark = [pytest.mark.browser, pytest.mark.integration]

CUSTOMER = "+14155550142"


def post(live_hub, path: str, fields: dict[str, str], query: str = "") -> None:
    url = f"{live_hub.url}{path}" + (f"?{query}" if query else "")
    form = {
        "AccountSid": ACCOUNT_SID,
        "From": CUSTOMER,
        "To": SUPPORT_NUMBER,
        "Direction": "inbound",
        **fields,
    }
    signature = RequestValidator(AUTH_TOKEN).compute_signature(url, form)
    response = requests.post(url, data=form, headers={"X-Twilio-Signature": signature}, timeout=10)
    assert response.status_code in (200, 204), response.text


def test_hostile_caller_names_and_transcripts_are_inert_text(live_hub, page: Page) -> None:
    conversation = sms_in(live_hub.inbox, "I'll call", phone=CUSTOMER).conversation
    live_hub.login(page)
    watch = Watch(page)
    page.goto(f"{live_hub.url}/inbox/{conversation.pk}/")
    page.wait_for_selector("#connection[data-state=live]")
    for n, payload in enumerate(PAYLOADS[:6]):
        sid = f"CA{n:032d}"
        context = f"call={sid}&caller=%2B14155550142&called=%2B14155550100"
        post(
            live_hub,
            "/webhooks/twilio/voice/",
            {"CallSid": sid, "CallStatus": "ringing", "CallerName": payload},
        )
        post(live_hub, "/webhooks/twilio/voice/status/", {"CallSid": sid, "CallStatus": "completed"})
        post(
            live_hub,
            "/webhooks/twilio/voice/transcription/",
            {
                "CallSid": sid,
                "RecordingSid": f"RE{n:032d}",
                "TranscriptionSid": f"TR{n:032d}",
                "TranscriptionStatus": "completed",
                "TranscriptionText": payload,
            },
            query=context,
        )
    wait_until(lambda: Entry.objects.filter(kind="call").exclude(body="").count() == 6, timeout=90)
    for entry in Entry.objects.filter(kind="call"):
        expect(page.locator(f"#entry-{entry.pk} .entry-body")).to_have_text(entry.body, timeout=30_000)
    assert sorted(Entry.objects.filter(kind="call").values_list("body", flat=True)) == sorted(PAYLOADS[:6])
    watch.inert("the thread after live calls")
    page.reload()
    page.wait_for_selector("#connection[data-state=live]")
    watch.inert("the thread on a fresh load")
    for entry in Entry.objects.filter(kind="call"):
        assert page.locator(f"#entry-{entry.pk} .entry-body").text_content() == entry.body
    # A caller name (CNAM; whichever callback a worker took first) named the contact: shown as text.
    conversation.contact.refresh_from_db()
    assert conversation.contact.name in PAYLOADS[:6]
    expect(page.locator("#thread-header h1")).to_have_text(conversation.contact.name, timeout=20_000)

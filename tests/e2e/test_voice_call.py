"""The issue's Done-when, in the browser: simulate_call against the running hub shows the call ringing,
going to voicemail and its transcript live in the thread; the recording plays from our own URL; call back
reaches Twilio and is recorded in the thread."""

from __future__ import annotations

import subprocess
import sys

import pytest
from playwright.sync_api import Page, expect

from conversations.models import AgentProfile
from tests.conftest import sms_in
from tests.live import ROOT

pytestmark = [pytest.mark.browser, pytest.mark.integration]

CUSTOMER = "+14155550142"
ALICE_PHONE = "+14155550111"
MP3 = b"ID3\x04\x00\x00\x00\x00\x00\x00" + b"\xff\xfb\x90\x00" * 256


def test_a_simulated_call_rings_goes_to_voicemail_and_is_called_back_live(live_hub, page: Page) -> None:
    AgentProfile.objects.filter(user__username="agent_alice").update(phone=ALICE_PHONE)
    conversation = sms_in(live_hub.inbox, "I'll call you about my order", phone=CUSTOMER).conversation
    live_hub.fake_twilio.state.any_recording = (MP3, "audio/mpeg")
    live_hub.login(page)
    page.goto(f"{live_hub.url}/inbox/{conversation.pk}/")
    page.wait_for_selector("#connection[data-state=live]")
    navigations: list[str] = []
    page.on("framenavigated", lambda frame: navigations.append(frame.url))

    simulate = subprocess.Popen(
        [
            sys.executable,
            "manage.py",
            "simulate_call",
            "--from",
            "+1 415 555 0142",
            "--ring-seconds",
            "12",  # long enough to be seen ringing on a loaded machine
            "--voicemail",
            "Hi, it's Dana about order 4471, please call me back.",
        ],
        cwd=ROOT,
        env=live_hub.env,
        stdout=subprocess.PIPE,
        stderr=subprocess.STDOUT,
    )
    try:
        call = page.locator(".entry.kind-call.dir-inbound")
        expect(call.locator(".call-outcome")).to_have_text("Ringing…", timeout=30_000)
        expect(call.locator(".call-outcome")).to_have_text("Voicemail (0:04)", timeout=45_000)
        expect(call.locator(".entry-body")).to_have_text(
            "Hi, it's Dana about order 4471, please call me back.", timeout=30_000
        )
        expect(call.locator("audio")).to_have_count(1, timeout=20_000)
        output, _ = simulate.communicate(timeout=60)
    finally:
        if simulate.poll() is None:
            simulate.kill()
    assert simulate.returncode == 0, output.decode()
    assert navigations == [], "the call must arrive without a reload"
    expect(page.locator("#thread-header .unanswered-badge")).to_be_visible()

    # The recording plays from our own URL, in the agent's session (Twilio's credentials stay on the server).
    src = call.locator("audio").get_attribute("src")
    assert src is not None and src.startswith("/attachments/")
    played = page.request.get(live_hub.url + src)
    assert played.status == 200 and played.headers["content-type"] == "audio/mpeg"
    assert played.body() == MP3

    page.click("#more-button")  # the thread's other actions live in its "More" menu
    page.click("form.call-back button")
    outbound = page.locator(".entry.kind-call.dir-outbound")
    expect(outbound).to_be_visible(timeout=20_000)
    expect(outbound.locator(".call-outcome")).to_contain_text("Calling your phone")
    for _ in range(300):
        if live_hub.fake_twilio.calls:
            break
        page.wait_for_timeout(100)
    [placed] = live_hub.fake_twilio.calls
    assert (placed["to"], placed["from"]) == (ALICE_PHONE, live_hub.inbox.address)
    expect(page.locator("#thread-header .unanswered-badge")).to_have_count(0, timeout=20_000)

"""Realtime drills: an agent's socket cut while 200 messages arrive (in Chromium), and two ASGI processes."""

from __future__ import annotations

import re
from collections import Counter
from pathlib import Path

import pytest
from playwright.sync_api import expect, sync_playwright

from inbox.consumers import SETTLE_S
from tests.faults import drills
from tests.faults.hub import AGENT, AGENT_PASSWORD, SLACK_S, drill_sms
from tests.faults.services import ROOT, spare_port
from tests.livehub import CHROMIUM, CHROMIUM_ARGS

pytestmark = pytest.mark.integration

AGENT_JS = (ROOT / "static" / "js" / "agent.js").read_text()


def agent_js_ms(pattern: str) -> float:
    """A timing of the agent page, read from agent.js itself so the bound follows the code."""
    match = re.search(pattern, AGENT_JS)
    assert match, pattern
    return float(match.group(1)) / 1000


# The page retries a lost socket with a backoff capped at this, and pings (which repairs gaps) this often.
RECONNECT_MAX_S = agent_js_ms(r"Math\.min\((\d+), 500 \* 2 \*\* attempts\)") + 0.3
PING_EVERY_S = agent_js_ms(r'send\(\{ type: "ping" \}\), (\d+)\)')


@pytest.mark.browser
@pytest.mark.timeout(600)
def test_an_agent_whose_socket_was_cut_sees_every_one_of_200_messages_once(make_hub, tmp_path: Path) -> None:
    hub = make_hub()
    hub.start_production()
    other = hub.start_web(name="web-b", port=spare_port())  # a second ASGI process behind the same public URL
    first, *missed = drill_sms("drill4", 201, customers=1)
    during, after = missed[:150], missed[150:]
    assert hub.post_sms(first).status == 200
    stall_s = hub.settings.pending_at_most_s + SLACK_S
    hub.wait_inbound_done(1, stall_s=stall_s)
    [(conversation_id,)] = hub.sql(
        "SELECT conversation_id FROM conversations_entry WHERE provider_id = %s", first.sid
    )

    with sync_playwright() as playwright:
        browser = playwright.chromium.launch(executable_path=CHROMIUM, args=CHROMIUM_ARGS)
        page = browser.new_context().new_page()
        page.goto(f"{hub.url}/accounts/login/?next=/inbox/{conversation_id}/")
        page.fill("#id_username", AGENT)
        page.fill("#id_password", AGENT_PASSWORD)
        page.click("button[type=submit]")
        page.wait_for_url(f"{hub.url}/inbox/{conversation_id}/")
        expect(page.locator("#connection")).to_have_attribute("data-state", "live")

        # The agent's ASGI process is SIGKILLed: the socket is cut. 150 messages arrive through the other process.
        hub.kill("web")
        expect(page.locator("#connection")).to_have_attribute("data-state", "offline")
        answers = hub.post_all(during, concurrency=6, via=other)
        hub.wait_inbound_done(1 + len(during), stall_s=stall_s)
        assert page.locator(".entry-body", has_text="drill4 message").count() == 1, "nothing live while cut"

        # It comes back; 50 more arrive while the page reconnects and catches up.
        hub.restart("web")
        answers += hub.post_all(after, concurrency=6, via=other)
        assert all(a.status == 200 for a in answers)
        hub.wait_inbound_done(1 + len(missed), stall_s=stall_s)
        # A reconnect within the backoff's cap; a gap left by a race is repaired by the next ping once settled.
        bound_ms = (RECONNECT_MAX_S + PING_EVERY_S + SETTLE_S + SLACK_S) * 1000
        expect(page.locator("#connection")).to_have_attribute("data-state", "live", timeout=bound_ms)
        expect(page.locator("#timeline .entry-body", has_text="drill4 message")).to_have_count(
            201, timeout=bound_ms
        )
        shown = Counter(page.locator("#timeline .entry-body").all_inner_texts())
        browser.close()
    assert {sms.body: shown[sms.body] for sms in [first, *missed]} == {
        sms.body: 1 for sms in [first, *missed]
    }
    assert drills.entries_check(hub, [first, *missed]) == {"entries": 201, "duplicates": 0, "missing": 0}


@pytest.mark.timeout(300)
def test_an_agent_on_one_asgi_process_sees_live_what_the_other_ingests(make_hub) -> None:
    hub = make_hub()
    result = drills.scale_out_live(hub)
    print(result)
    assert result["answered_200"] == result["sent"], result
    assert result["missing_live"] == 0 and result["seen_live"] == result["sent"] - 1, result
    assert result["seen_twice"] == 0, result
    assert "catchup" not in result["frame_types"], "live frames only: the socket never asked to catch up"

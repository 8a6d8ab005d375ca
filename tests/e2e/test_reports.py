"""A manager in the browser: a background export's progress bar reaches its download link, and the
performance page draws its charts."""

from __future__ import annotations

import time
from datetime import timedelta
from pathlib import Path

import pytest
from django.utils import timezone
from playwright.sync_api import Page, expect

from conversations.models import AgentProfile, Entry
from tests import factories
from tests.conftest import ACCOUNT_SID, AUTH_TOKEN, SUPPORT_NUMBER
from tests.live import post_signed_sms

pytestmark = [pytest.mark.browser, pytest.mark.integration]


def test_a_background_export_shows_its_progress_then_a_download_link(live_hub, page: Page) -> None:
    factories.agent("manager_maria", role=AgentProfile.MANAGER)
    for n in range(3):
        response = post_signed_sms(
            live_hub.url,
            ACCOUNT_SID,
            AUTH_TOKEN,
            sender="+14155550142",
            to=SUPPORT_NUMBER,
            body=f"Order question number {n}",
            sid=f"SM{n:032d}",
        )
        assert response.status_code == 200, response.text
    deadline = time.monotonic() + 20
    while Entry.objects.filter(direction="inbound").count() < 3 and time.monotonic() < deadline:
        time.sleep(0.2)
    conversation_id = Entry.objects.filter(direction="inbound").first().conversation_id

    live_hub.login(page, "manager_maria")
    page.click("a[href='/reports/']")
    page.click(".reports-nav a[href='/reports/history/']")
    page.click(f".history-row[data-conversation='{conversation_id}'] a.row-name")
    page.click("#export-thread")
    expect(page.locator("#export-progress")).to_be_visible()
    link = page.locator("#export-download")
    expect(link).to_be_visible(timeout=30_000)
    expect(page.locator("#export-progress")).to_have_attribute("value", "100")
    expect(page.locator("#export-percent")).to_have_text("100%")
    with page.expect_download() as info:
        link.click()
    content = Path(info.value.path()).read_text(encoding="utf-8")
    assert "Order question number 2" in content and "@media print" in content

    page.goto(f"{live_hub.url}/reports/performance/")
    chart = page.locator("#volume-chart")
    expect(chart).to_be_visible()
    expect(page.locator("#kpis [data-kpi=episodes]")).to_have_text("1")
    assert chart.locator("rect.bar").count() == 30
    expect(page.locator("#heatmap td[title$=': 1']")).to_have_count(1)


def test_an_agent_is_refused_the_reports(live_hub, page: Page) -> None:
    live_hub.login(page)
    expect(page.locator("a[href='/reports/']")).to_have_count(0)
    response = page.goto(f"{live_hub.url}/reports/performance/")
    assert response is not None and response.status == 403


def test_an_agent_schedules_a_follow_up_from_the_thread_and_it_is_listed(live_hub, page: Page) -> None:
    response = post_signed_sms(
        live_hub.url,
        ACCOUNT_SID,
        AUTH_TOKEN,
        sender="+14155550142",
        to=SUPPORT_NUMBER,
        body="Any news?",
        sid="SM" + "f5" * 16,
    )
    assert response.status_code == 200
    live_hub.login(page)
    page.locator("#conversation-list .conversation-row", has_text="Any news?").locator("a").click()
    # The follow-ups live in a dialog opened from the thread's "More" menu.
    page.click("#more-button")
    page.get_by_role("button", name="Follow-ups…").click()
    due = timezone.localtime(timezone.now() + timedelta(days=2)).strftime("%Y-%m-%dT%H:%M")
    page.fill("#followup-form input[name=due_at]", due)
    page.fill("#followup-form textarea[name=body]", "Checking in: did the parcel arrive?")
    page.click("#followup-form button[type=submit]")
    listed = page.locator(".scheduled-followups li", has_text="did the parcel arrive?")
    expect(listed).to_be_visible(timeout=10_000)
    expect(page.locator(".entry.kind-event", has_text="scheduled a follow-up SMS message")).to_be_visible()
    listed.locator("button", has_text="Cancel").click()
    expect(page.locator(".scheduled-followups li")).to_have_count(0, timeout=10_000)
    expect(page.locator(".entry.kind-event", has_text="was cancelled")).to_be_visible()

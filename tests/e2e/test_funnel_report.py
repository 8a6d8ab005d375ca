"""A manager reads the funnel in the browser: Reports → Funnel, the chart and the numbers, the CSV."""

from __future__ import annotations

from datetime import timedelta
from pathlib import Path

import pytest
from django.utils import timezone
from playwright.sync_api import Page, expect

from conversations.models import AgentProfile
from lifecycle.models import Stage
from lifecycle.services import contact_stage_ensure, stage_move, stages_seed
from tests import factories

pytestmark = [pytest.mark.browser, pytest.mark.integration]


def test_a_manager_opens_the_funnel_and_downloads_the_csv(live_hub, page: Page) -> None:
    stages_seed()  # a transactional test before this one may have flushed the migration's rows
    factories.agent("manager_maria", role=AgentProfile.MANAGER)
    now = timezone.now()
    for n, path in enumerate([["lead"], ["lead", "qualified"], ["lead", "qualified", "customer"]]):
        contact = factories.ContactFactory(name=f"Customer {n}")
        contact_stage_ensure(
            contact=contact, at=now - timedelta(days=10), channel="sms", inbox=live_hub.inbox
        )
        for step, key in enumerate(path):
            stage_move(
                contact=contact, stage=Stage.objects.get(key=key), by=None, at=now - timedelta(days=9 - step)
            )

    live_hub.login(page, "manager_maria")
    page.get_by_role("link", name="Reports").click()
    page.wait_for_url(f"{live_hub.url}/reports/")
    page.get_by_role("link", name="Funnel").first.click()
    page.wait_for_url(f"{live_hub.url}/reports/funnel/")
    expect(page.get_by_role("heading", name="Funnel")).to_be_visible()
    expect(page.locator("svg.funnel-chart")).to_be_visible()
    expect(page.locator("svg.funnel-chart text", has_text="Lead · 3")).to_be_visible()
    expect(page.locator("svg.trend-chart polyline").first).to_be_attached()
    lead = page.locator('#funnel-table tr[data-stage="lead"]')
    expect(lead.locator('[data-col="reached"]')).to_have_text("3")
    expect(lead.locator('[data-col="conversion"]')).to_have_text("67%")
    expect(page.locator('#funnel-table tr[data-stage="customer"] [data-col="now"]')).to_have_text("1")

    with page.expect_download() as download_info:
        page.click("#funnel-csv")
    download = download_info.value
    assert download.suggested_filename.startswith("funnel-") and download.suggested_filename.endswith(".csv")
    text = Path(download.path()).read_text(encoding="utf-8")
    assert "stage,Lead,1,3,3,0.6667," in text
    assert "stage,Customer,1,1,1,0.0000," in text

    # A period that ends before it starts: the form says so.
    page.fill('input[name="start"]', "2026-03-31")
    page.fill('input[name="end"]', "2026-03-01")
    page.click(".period button[type=submit]")
    expect(page.locator("#period-error")).to_contain_text("before it starts")

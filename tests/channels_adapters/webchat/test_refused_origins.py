"""A widget refused for its page's origin tells the visitor chat is not available there, and the inbox settings
list the origins refused recently with "Allow" beside each."""

from __future__ import annotations

from typing import Any

import pytest
from django.test import Client

from conversations.models import Inbox
from reports.models import AuditLog
from tests.webchat import SHOP

pytestmark = pytest.mark.django_db
BLOG = "https://blog.shop.example.test"


def test_a_refused_page_learns_why_and_an_admin_allows_it_from_the_settings(
    inbox_webchat: Inbox, admin_ada: Any
) -> None:
    visitor = Client()
    url = f"/webchat/available/?key={inbox_webchat.widget_key}"
    answer = visitor.get(url, HTTP_ORIGIN=BLOG)
    assert answer.json() == {"available": False, "message": "Chat is not available on this page."}
    assert answer["Access-Control-Allow-Origin"] == "*"
    assert visitor.get(url, HTTP_ORIGIN=SHOP).json() == {"available": True}

    admin = Client()
    admin.force_login(admin_ada)
    page = admin.get("/inbox/settings/").content.decode()
    assert f"<code>{BLOG}</code>" in page and f'aria-label="Allow {BLOG}"' in page

    page = admin.post(f"/inbox/settings/{inbox_webchat.pk}/origins/allow/", {"origin": BLOG}).content.decode()
    inbox_webchat.refresh_from_db()
    assert inbox_webchat.allowed_origins == [SHOP, BLOG]
    assert f"<code>{BLOG}</code>" not in page  # no longer refused
    assert visitor.get(url, HTTP_ORIGIN=BLOG).json() == {"available": True}
    row = AuditLog.objects.get(
        action=AuditLog.SETTINGS, data__verb="changed", data__changes__has_key="allowed_origins"
    )
    assert row.actor == admin_ada and row.data["changes"]["allowed_origins"]["after"] == [SHOP, BLOG]


def test_an_unknown_key_is_simply_not_available(db: Any) -> None:
    answer = Client().get("/webchat/available/?key=nope", HTTP_ORIGIN=SHOP)
    assert answer.json()["available"] is False

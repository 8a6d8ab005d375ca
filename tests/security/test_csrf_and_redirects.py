"""Cross-site request forgery, open redirects and a deactivated agent's API token: the defences Django and
DRF give, proved on the hub's own routes so a refactor that drops one is caught."""

from __future__ import annotations

from typing import Any

import pytest
from django.test import Client
from rest_framework.authtoken.models import Token

from conversations.models import Conversation, Entry

pytestmark = pytest.mark.django_db

PASSWORD = "correct horse battery staple"


def _browser(user: Any) -> Client:
    """A real browser as a cross-site page drives it: the agent's session cookie, no CSRF token."""
    client = Client(enforce_csrf_checks=True)
    client.force_login(user)
    return client


def test_a_cross_site_form_cannot_make_an_agent_reply_resolve_or_reassign(agent_alice, sms_thread) -> None:
    browser = _browser(agent_alice)
    before = Entry.objects.filter(conversation=sms_thread).count()
    forged = [
        (f"/inbox/{sms_thread.pk}/reply/", {"body": "Send me your password", "channel": "sms"}),
        (f"/inbox/{sms_thread.pk}/status/", {"status": "resolved"}),
        (f"/inbox/{sms_thread.pk}/assign/", {"assignee": ""}),
        (f"/inbox/{sms_thread.pk}/block/", {}),
        ("/accounts/logout/", {}),
    ]
    for path, form in forged:
        assert browser.post(path, form).status_code == 403, path
    sms_thread.refresh_from_db()
    assert sms_thread.status == Conversation.OPEN
    assert Entry.objects.filter(conversation=sms_thread).count() == before


def test_the_api_with_a_session_cookie_needs_the_csrf_token_too(agent_alice, sms_thread) -> None:
    browser = _browser(agent_alice)
    response = browser.post(
        f"/api/v1/contacts/{sms_thread.contact_id}/messages/",
        {"body": "forged", "channel": "sms"},
        content_type="application/json",
    )
    assert response.status_code == 403
    assert not Entry.objects.filter(conversation=sms_thread, body="forged").exists()


@pytest.mark.parametrize(
    "next_url",
    [
        "https://evil.example/",
        "//evil.example/",
        "/\\evil.example/",
        "https:evil.example",
        "\\\\evil.example",
        "javascript:alert(1)",
        " https://evil.example/",
    ],
)
def test_the_login_form_never_redirects_off_site(agent_alice, next_url: str) -> None:
    agent_alice.set_password(PASSWORD)
    agent_alice.save()
    response = Client().post(
        f"/accounts/login/?next={next_url}", {"username": agent_alice.username, "password": PASSWORD}
    )
    assert response.status_code == 302
    location = response["Location"]
    assert location.startswith("/") and not location.startswith(("//", "/\\")), location
    assert "evil.example" not in location and "javascript" not in location


def test_a_deactivated_agents_api_token_opens_nothing(agent_alice, sms_thread) -> None:
    token = Token.objects.create(user=agent_alice)
    api = Client(HTTP_AUTHORIZATION=f"Token {token.key}")
    assert api.get("/api/v1/contacts/").status_code == 200
    agent_alice.is_active = False
    agent_alice.save()
    assert api.get("/api/v1/contacts/").status_code == 401
    assert api.get(f"/api/v1/contacts/{sms_thread.contact_id}/timeline/").status_code == 401

"""The web chat identity secret on the settings page: masked, revealed on request (and audited), rotated with
the previous secret still verifying for 24 hours, then no more."""

from __future__ import annotations

import re
import secrets
from datetime import timedelta
from typing import Any

import pytest
from django.test import Client
from django.utils import timezone

from channels_adapters.webchat.identity import user_hash
from channels_adapters.webchat.services import webchat_identify
from conversations.models import Inbox
from reports.models import AuditLog
from tests.webchat import IDENTITY_SECRET

pytestmark = pytest.mark.django_db


def logged_in(user: Any) -> Client:
    client = Client()
    client.force_login(user)
    return client


def verifies(inbox: Inbox, secret: str) -> bool:
    user_id = f"shop-user-{secrets.token_hex(4)}"
    claims = {"user_id": user_id, "user_hash": user_hash(secret=secret, value=user_id)}
    return webchat_identify(inbox=inbox, visitor_id=secrets.token_hex(16), claims=claims).verified


def test_the_secret_is_masked_until_an_admin_reveals_it_and_the_reveal_is_audited(
    inbox_webchat: Inbox, admin_ada: Any
) -> None:
    client = logged_in(admin_ada)
    page = client.get("/inbox/settings/").content.decode()
    assert IDENTITY_SECRET not in page
    assert "Reveal" in page and "Rotate" in page

    revealed = client.post(f"/inbox/settings/{inbox_webchat.pk}/secret/reveal/").content.decode()
    assert IDENTITY_SECRET in revealed
    [row] = AuditLog.objects.filter(action=AuditLog.SECRET_REVEAL)
    assert row.actor == admin_ada and "Shop chat" in row.description
    assert IDENTITY_SECRET not in str(row.data) + row.description


def test_after_a_rotation_the_previous_secret_verifies_for_24_hours_then_stops(
    inbox_webchat: Inbox, admin_ada: Any, monkeypatch: pytest.MonkeyPatch
) -> None:
    page = logged_in(admin_ada).post(f"/inbox/settings/{inbox_webchat.pk}/secret/rotate/").content.decode()
    inbox_webchat.refresh_from_db()
    new_secret = inbox_webchat.identity_secret
    assert new_secret != IDENTITY_SECRET and len(new_secret) >= 32
    assert new_secret in page and "the previous one keeps verifying until" in page
    rotation = AuditLog.objects.get(
        action=AuditLog.SETTINGS, data__verb="changed", data__changes__has_key="identity_secret"
    )
    assert rotation.actor == admin_ada and new_secret not in str(rotation.data)

    assert verifies(inbox_webchat, new_secret)
    assert verifies(inbox_webchat, IDENTITY_SECRET)  # the host site has not deployed the new one yet

    later = timezone.now() + timedelta(hours=24, minutes=1)
    monkeypatch.setattr(timezone, "now", lambda: later)
    assert verifies(inbox_webchat, new_secret)
    assert not verifies(inbox_webchat, IDENTITY_SECRET)
    assert "still verifies until" not in logged_in(admin_ada).get("/inbox/settings/").content.decode()


def test_agents_cannot_reveal_or_rotate(inbox_webchat: Inbox, manager_maria: Any) -> None:
    client = logged_in(manager_maria)
    assert client.post(f"/inbox/settings/{inbox_webchat.pk}/secret/reveal/").status_code == 403
    assert client.post(f"/inbox/settings/{inbox_webchat.pk}/secret/rotate/").status_code == 403
    inbox_webchat.refresh_from_db()
    assert inbox_webchat.identity_secret == IDENTITY_SECRET
    assert not re.search(r"secret_reveal", str(list(AuditLog.objects.values_list("action", flat=True))))


def test_a_secret_set_through_the_api_is_a_rotation_too(inbox_webchat: Inbox, admin_ada: Any) -> None:
    from rest_framework.test import APIClient

    api = APIClient()
    api.force_authenticate(admin_ada)
    new_secret = "the-site-s-own-new-secret-0123456789"
    url = f"/api/v1/inboxes/{inbox_webchat.pk}/"
    assert api.patch(url, {"identity_secret": new_secret}, format="json").status_code == 200
    inbox_webchat.refresh_from_db()
    assert verifies(inbox_webchat, new_secret) and verifies(inbox_webchat, IDENTITY_SECRET)
    assert api.patch(url, {"identity_secret": ""}, format="json").status_code == 200
    inbox_webchat.refresh_from_db()
    assert not verifies(inbox_webchat, new_secret) and not verifies(inbox_webchat, IDENTITY_SECRET)

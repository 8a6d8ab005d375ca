"""Every settings change lands in the audit trail with who, before and after, whether it was made on a product
page or in /admin/; secrets are masked, and only admins read these rows."""

from __future__ import annotations

from typing import Any

import pytest
from django.test import Client

from conversations.models import AgentProfile, Inbox, Team
from reports.models import AuditLog
from tests.webchat import IDENTITY_SECRET, SHOP, inbox_webchat

__all__ = ["inbox_webchat"]

pytestmark = pytest.mark.django_db


def logged_in(user: Any) -> Client:
    client = Client()
    client.force_login(user)
    return client


def settings_rows() -> list[AuditLog]:
    return list(AuditLog.objects.filter(action=AuditLog.SETTINGS).order_by("id"))


def test_a_product_settings_change_is_recorded_with_before_and_after_and_the_secret_masked(
    inbox_webchat: Inbox, admin_ada: Any, manager_maria: Any
) -> None:
    AuditLog.objects.all().delete()
    new_secret = "a-brand-new-identity-secret-0123"
    response = logged_in(admin_ada).post(
        "/inbox/settings/",
        {
            "inbox": inbox_webchat.pk,
            "allowed_origins": SHOP,
            "widget_greeting": "Hello from the shop",
            "widget_color": "#2563eb",
            "time_zone": "Europe/Paris",
            "identity_secret": new_secret,
        },
    )
    assert response.status_code == 200, response.content

    [row] = settings_rows()
    assert row.actor == admin_ada
    assert row.data["changes"]["time_zone"] == {"before": "UTC", "after": "Europe/Paris"}
    assert row.data["changes"]["widget_greeting"]["after"] == "Hello from the shop"
    assert "identity_secret" in row.data["changes"]
    stored = str(row.data) + row.description
    assert new_secret not in stored and IDENTITY_SECRET not in stored

    page = logged_in(admin_ada).get("/reports/audit/?what=settings").content.decode()
    assert "Shop chat" in page and "Europe/Paris" in page and "identity secret" in page
    assert new_secret not in page and IDENTITY_SECRET not in page
    # Managers read the agents' trail, not the admins' settings.
    assert "Europe/Paris" not in logged_in(manager_maria).get("/reports/audit/").content.decode()


def test_changes_made_in_the_admin_site_are_recorded_too(admin_ada: Any, team_support: Team) -> None:
    admin_ada.is_staff = admin_ada.is_superuser = True
    admin_ada.save()
    AuditLog.objects.all().delete()
    response = logged_in(admin_ada).post(
        f"/admin/conversations/team/{team_support.pk}/change/", {"name": "Customer care", "auto_assign": "on"}
    )
    assert response.status_code == 302, response.content

    [row] = settings_rows()
    assert row.actor == admin_ada
    assert row.description == "Team “Customer care” changed: name, auto assign"
    assert row.data["changes"]["name"] == {"before": "Support", "after": "Customer care"}
    assert row.data["changes"]["auto_assign"] == {"before": False, "after": True}


def test_roles_teams_and_agents_are_recorded(agent_alice: Any, team_sales: Team) -> None:
    AuditLog.objects.all().delete()
    profile = AgentProfile.objects.get(user=agent_alice)
    profile.role = AgentProfile.MANAGER
    profile.save()
    profile.teams.add(team_sales)
    agent_alice.set_password("a new password for alice")
    agent_alice.save()
    # Availability and logins are not settings: nothing recorded.
    profile.availability = AgentProfile.AWAY
    profile.save(update_fields=["availability"])

    role, teams, password = settings_rows()
    assert role.data["changes"] == {"role": {"before": "agent", "after": "manager"}}
    assert teams.data["changes"] == {"teams": {"before": ["Support"], "after": ["Sales", "Support"]}}
    assert password.data["changes"] == {"password": {"before": "•••••••• (set)", "after": "•••••••• (set)"}}
    assert role.actor is None  # made outside a request (a shell, a command)


def test_lead_score_weights_and_rules_changed_on_their_pages_are_in_the_trail(admin_ada: Any) -> None:
    """The settings pages that came with lead scores and rules write the same trail as the inbox pages."""
    from lifecycle.models import LeadScoreWeight

    LeadScoreWeight.objects.update_or_create(signal="reply", defaults={"points": 5})
    AuditLog.objects.all().delete()
    client = logged_in(admin_ada)
    signals = list(LeadScoreWeight.objects.values_list("signal", flat=True))
    points = ["9" if s == "reply" else str(LeadScoreWeight.objects.get(signal=s).points) for s in signals]
    assert (
        client.post("/inbox/settings/lead-score/", {"signal": signals, "points": points}).status_code == 302
    )
    [row] = settings_rows()
    assert row.actor == admin_ada and row.data["model"] == "lifecycle.LeadScoreWeight"
    assert row.data["changes"]["points"] == {"before": 5, "after": 9}

    from rules.services import rule_save

    rule = rule_save(
        by=admin_ada,
        name="VIP to sales",
        event_type="message.received",
        conditions=[{"field": "channel", "op": "is", "value": "whatsapp"}],
        actions=[{"type": "add_note", "text": "VIP"}],
    )
    rule_save(
        by=admin_ada,
        rule=rule,
        name="VIP to sales",
        event_type="message.received",
        conditions=[{"field": "channel", "op": "is", "value": "sms"}],
        actions=[{"type": "add_note", "text": "VIP"}],
        enabled=False,
    )
    created, changed = [r for r in settings_rows() if r.data["model"] == "rules.Rule"]
    assert created.data["verb"] == "created" and changed.data["verb"] == "changed"
    assert changed.data["changes"]["enabled"] == {"before": True, "after": False}
    assert changed.data["changes"]["conditions"]["after"] == [
        {"field": "channel", "op": "is", "value": "sms"}
    ]

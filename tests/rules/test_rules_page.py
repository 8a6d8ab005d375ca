"""The automation page (/inbox/settings/rules/): what an admin does there without the API."""

from __future__ import annotations

import json
from typing import Any

import pytest
from django.test import Client

from contacts.models import Label
from conversations.models import Conversation, Inbox
from rules.models import Macro, Rule, RuleRun
from rules.services import rule_save
from tests.conftest import twilio_fixture
from tests.rules.test_rules import settle

pytestmark = pytest.mark.django_db
PAGE = "/inbox/settings/rules/"


def client_for(user: Any) -> Client:
    client = Client()
    client.force_login(user)
    return client


def test_agents_are_refused_and_admins_and_managers_see_the_page(
    agent_alice: Any, admin_ada: Any, manager_maria: Any, inbox_support: Inbox
) -> None:
    assert client_for(agent_alice).get(PAGE).status_code == 403
    assert client_for(agent_alice).post(PAGE, {"action": "delete", "rule": "1"}).status_code == 403
    page = client_for(admin_ada).get(PAGE)
    assert page.status_code == 200
    body = page.content.decode()
    assert "Out-of-hours replies" in body and "Support line" in body
    assert "always open, so this reply would never be sent" in body  # no hours set: warned
    assert client_for(manager_maria).get(PAGE).status_code == 200
    assert 'href="/inbox/settings/rules/"' in client_for(admin_ada).get("/inbox/settings/").content.decode()


def test_an_admin_creates_a_rule_through_the_form_and_it_is_listed_in_words(
    admin_ada: Any, team_sales: Any, inbox_support: Inbox
) -> None:
    hot = Label.objects.create(name="hot")
    client = client_for(admin_ada)
    new_form = client.get(f"{PAGE}?new=1").content.decode()
    assert 'name="conditions"' in new_form and 'id="rules-catalog"' in new_form
    response = client.post(
        PAGE,
        {
            "action": "save",
            "name": "Hot WhatsApp leads",
            "event_type": "message.received",
            # as rules.js writes them, and as a person types them without JavaScript (ids as strings)
            "conditions": json.dumps([{"field": "channel", "op": "is", "value": "whatsapp"}]),
            "actions": json.dumps(
                [
                    {"type": "add_label", "label": str(hot.pk)},
                    {"type": "assign_team", "team": team_sales.pk},
                    {"type": "set_status", "status": "open", "minutes": 60},
                ]
            ),
            "enabled": "1",
        },
    )
    assert response.status_code == 302, response.content.decode()
    rule = Rule.objects.get()
    assert (rule.name, rule.event_type, rule.enabled, rule.stop_after) == (
        "Hot WhatsApp leads",
        "message.received",
        True,
        False,
    )
    assert rule.actions == [
        {"type": "add_label", "label": hot.pk},
        {"type": "assign_team", "team": team_sales.pk},
        {"type": "set_status", "status": "open"},
    ]
    listed = client.get(PAGE).content.decode()
    assert "channel is WhatsApp" in listed and "label hot" in listed and "hand to the Sales queue" in listed

    # Edited, switched off, moved, deleted: each a post with the id.
    edit = client.get(f"{PAGE}?edit={rule.pk}").content.decode()
    assert "Edit rule" in edit and "Hot WhatsApp leads" in edit
    client.post(PAGE, {"action": "off", "rule": rule.pk})
    rule.refresh_from_db()
    assert rule.enabled is False
    second = rule_save(
        by=admin_ada,
        name="Second",
        event_type="conversation.resolved",
        conditions=[],
        actions=[{"type": "set_priority", "priority": "low"}],
    )
    client.post(PAGE, {"action": "up", "rule": second.pk})
    assert list(Rule.objects.values_list("name", flat=True)) == ["Second", "Hot WhatsApp leads"]
    client.post(PAGE, {"action": "delete", "rule": rule.pk})
    assert list(Rule.objects.values_list("name", flat=True)) == ["Second"]


def test_a_bad_rule_shows_the_reason_keeps_what_was_typed_and_saves_nothing(
    admin_ada: Any, inbox_support: Inbox
) -> None:
    client = client_for(admin_ada)
    response = client.post(
        PAGE,
        {
            "action": "save",
            "name": "Assign to nobody",
            "event_type": "message.received",
            "conditions": json.dumps([{"field": "channel", "op": "is", "value": "sms"}]),
            "actions": json.dumps([{"type": "assign_agent", "agent": 99999}]),
            "enabled": "1",
        },
    )
    assert response.status_code == 400
    body = response.content.decode()
    assert "No such agent to assign or notify." in body and "Assign to nobody" in body
    assert not Rule.objects.exists()

    broken = client.post(
        PAGE, {"action": "save", "name": "x", "event_type": "message.received", "actions": "[{"}
    )
    assert broken.status_code == 400 and "not valid JSON" in broken.content.decode()

    # No conditions on every message: asked to confirm, then saved once confirmed.
    every = {
        "action": "save",
        "name": "Note everything",
        "event_type": "message.received",
        "conditions": "[]",
        "actions": json.dumps([{"type": "add_note", "text": "New message"}]),
        "enabled": "1",
    }
    asked = client.post(PAGE, every)
    assert asked.status_code == 400 and "Yes, on every message" in asked.content.decode()
    assert not Rule.objects.exists()
    assert client.post(PAGE, {**every, "confirmed": "1"}).status_code == 302
    assert Rule.objects.get().name == "Note everything"


def test_the_out_of_hours_switch_makes_the_preset_rule_and_switches_it_off(
    admin_ada: Any, inbox_support: Inbox
) -> None:
    client = client_for(admin_ada)
    response = client.post(
        PAGE,
        {"action": "out_of_hours", "inbox": inbox_support.pk, "text": "We open at nine.", "enabled": "1"},
    )
    assert response.status_code == 302
    rule = Rule.objects.get(preset="out_of_hours")
    assert rule.enabled and rule.actions == [{"type": "reply", "text": "We open at nine."}]
    assert {"field": "inbox", "op": "is", "value": inbox_support.pk} in rule.conditions
    page = client.get(response["Location"]).content.decode()
    assert "We open at nine." in page and "Saved: customers who write out of hours get this reply" in page

    client.post(PAGE, {"action": "out_of_hours", "inbox": inbox_support.pk, "text": "We open at nine."})
    assert Rule.objects.get(preset="out_of_hours").enabled is False  # the same rule, switched off
    empty = client.post(
        PAGE, {"action": "out_of_hours", "inbox": inbox_support.pk, "text": "", "enabled": "1"}
    )
    assert empty.status_code == 400 and "The text is 1 to 1600 characters." in empty.content.decode()


def test_a_dry_run_lists_the_thread_it_would_have_touched_and_changes_nothing(
    admin_ada: Any, deliver_inbound: Any, inbox_support: Inbox
) -> None:
    deliver_inbound(twilio_fixture("inbound_sms"))
    settle()
    thread = Conversation.objects.get()
    response = client_for(admin_ada).post(
        PAGE,
        {
            "action": "dry_run",
            "name": "",
            "event_type": "message.received",
            "conditions": json.dumps([{"field": "channel", "op": "is", "value": "sms"}]),
            "actions": json.dumps([{"type": "set_priority", "priority": "urgent"}]),
        },
    )
    assert response.status_code == 200
    body = response.content.decode()
    assert "it would have touched 1 thread." in body
    assert f'href="/inbox/{thread.pk}/"' in body and "set the priority to urgent" in body
    assert not Rule.objects.exists()
    thread.refresh_from_db()
    assert thread.priority == "normal"


def test_the_run_log_shows_a_rules_runs_and_macros_are_made_and_deleted(
    admin_ada: Any, deliver_inbound: Any, inbox_support: Inbox
) -> None:
    rule = rule_save(
        by=admin_ada,
        name="Note every SMS",
        event_type="message.received",
        conditions=[{"field": "channel", "op": "is", "value": "sms"}],
        actions=[{"type": "add_note", "text": "Seen"}],
    )
    deliver_inbound(twilio_fixture("inbound_sms"))
    settle()
    run = RuleRun.objects.get(rule=rule)
    client = client_for(admin_ada)
    log = client.get(f"{PAGE}?rule={rule.pk}").content.decode()
    assert "Run log: Note every SMS" in log and f'href="/inbox/{run.conversation_id}/"' in log
    assert "wrote a note" in log and "1 run" in log

    made = client.post(
        PAGE,
        {
            "action": "macro_save",
            "name": "Escalate",
            "actions": json.dumps([{"type": "set_priority", "priority": "urgent"}]),
        },
    )
    assert made.status_code == 302
    macro = Macro.objects.get()
    assert macro.actions == [{"type": "set_priority", "priority": "urgent"}]
    refused = client.post(PAGE, {"action": "macro_save", "name": "Hook", "actions": '[{"type": "webhook"}]'})
    assert refused.status_code == 400 and "A macro cannot send a webhook" in refused.content.decode()
    client.post(PAGE, {"action": "macro_delete", "macro": macro.pk})
    assert not Macro.objects.exists()

"""Rules and macros through the API: what an integrator or an admin's script sees."""

from __future__ import annotations

from typing import Any

import pytest
from rest_framework.test import APIClient

from contacts.models import Label
from conversations.models import Conversation, Entry
from rules.models import Macro, Rule
from tests.rules.test_rules import settle

pytestmark = pytest.mark.django_db


def client_for(user: Any) -> APIClient:
    client = APIClient()
    client.force_login(user)
    return client


def test_an_admin_makes_a_rule_through_the_api_and_it_acts(admin_ada: Any, sms_thread: Conversation) -> None:
    hot = Label.objects.create(name="hot")
    made = client_for(admin_ada).post(
        "/api/v1/rules/",
        {
            "name": "Urgent means hot",
            "event_type": "conversation.priority_changed",
            "conditions": [{"field": "priority", "op": "is", "value": "urgent"}],
            "actions": [{"type": "add_label", "label": hot.pk}],
        },
        format="json",
    )
    assert made.status_code == 201, made.content
    rule_id = made.json()["id"]
    assert (
        client_for(admin_ada)
        .patch(f"/api/v1/rules/{rule_id}/", {"enabled": False}, format="json")
        .json()["enabled"]
        is False
    )
    client_for(admin_ada).patch(f"/api/v1/rules/{rule_id}/", {"enabled": True}, format="json")

    from conversations.services import conversation_set_priority

    conversation_set_priority(conversation=sms_thread, priority="urgent", by=admin_ada)
    settle()
    assert list(sms_thread.contact.labels.values_list("name", flat=True)) == ["hot"]
    runs = client_for(admin_ada).get(f"/api/v1/rules/{rule_id}/runs/").json()
    assert [run["state"] for run in runs["results"]] == ["applied"]


def test_a_rule_that_cannot_work_answers_400_with_the_reason_and_agents_cannot_make_rules(
    admin_ada: Any, agent_alice: Any
) -> None:
    bad = {
        "name": "Assign to nobody",
        "event_type": "message.received",
        "conditions": [{"field": "channel", "op": "is", "value": "sms"}],
        "actions": [{"type": "assign_agent", "agent": 999_999}],
    }
    refused = client_for(admin_ada).post("/api/v1/rules/", bad, format="json")
    assert refused.status_code == 400 and "No such agent" in refused.content.decode()
    assert client_for(agent_alice).post("/api/v1/rules/", bad, format="json").status_code == 403
    assert not Rule.objects.exists()


def test_a_dry_run_shows_which_threads_a_rule_would_have_touched_and_changes_nothing(
    admin_ada: Any, sms_thread: Conversation
) -> None:
    answer = client_for(admin_ada).post(
        "/api/v1/rules/dry-run/",
        {
            "event_type": "message.received",
            "conditions": [{"field": "channel", "op": "is", "value": "sms"}],
            "actions": [{"type": "set_priority", "priority": "urgent"}],
        },
        format="json",
    )
    assert answer.status_code == 200, answer.content
    body = answer.json()
    assert [m["conversation"] for m in body["matches"]] == [sms_thread.pk]
    assert body["matches"][0]["would"] == ["set the priority to urgent"]
    sms_thread.refresh_from_db()
    assert sms_thread.priority == "normal"


def test_an_agent_applies_a_macro_to_a_thread_and_the_thread_says_who_and_which_macro(
    admin_ada: Any, agent_alice: Any, sms_thread: Conversation
) -> None:
    made = client_for(admin_ada).post(
        "/api/v1/macros/",
        {
            "name": "Escalate",
            "actions": [
                {"type": "set_priority", "priority": "high"},
                {"type": "add_note", "text": "Escalated to tier 2"},
            ],
        },
        format="json",
    )
    assert made.status_code == 201, made.content
    applied = client_for(agent_alice).post(
        f"/api/v1/macros/{made.json()['id']}/apply/", {"conversations": [sms_thread.pk]}, format="json"
    )
    assert applied.status_code == 200, applied.content
    sms_thread.refresh_from_db()
    assert sms_thread.priority == "high"
    note = Entry.objects.get(conversation=sms_thread, kind="note")
    assert note.author == agent_alice and note.body == "Escalated to tier 2"
    why = Entry.objects.get(conversation=sms_thread, event_type="macro.applied")
    assert "Escalate" in why.body and "priority to high" in why.body


def test_a_macro_on_a_thread_the_agent_cannot_see_answers_as_if_it_did_not_exist(
    agent_bob: Any, sms_thread: Conversation
) -> None:
    macro = Macro.objects.create(name="Close", actions=[{"type": "set_status", "status": "resolved"}])
    answer = client_for(agent_bob).post(
        f"/api/v1/macros/{macro.pk}/apply/", {"conversations": [sms_thread.pk]}, format="json"
    )
    missing = client_for(agent_bob).post(
        f"/api/v1/macros/{macro.pk}/apply/", {"conversations": [999_999]}, format="json"
    )
    assert answer.status_code == missing.status_code == 404
    assert answer.json() == missing.json()
    sms_thread.refresh_from_db()
    assert sms_thread.status != "resolved"

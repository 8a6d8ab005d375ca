"""The sequences' REST API: managers make them, any agent enrols a customer they can see and takes one out."""

from __future__ import annotations

from typing import Any

import pytest
from rest_framework.test import APIClient

from sequences.models import Enrollment, Sequence
from tests.conftest import sms_in

pytestmark = pytest.mark.django_db

STEPS = [
    {"type": "message", "text": "Thanks for your order, {{contact.first_name}}!"},
    {"type": "wait", "days": 7, "business_days": False},
    {"type": "message", "channel": "sms", "text": "How is it going?"},
]


def _client(user: Any) -> APIClient:
    client = APIClient()
    client.force_authenticate(user)
    return client


def test_a_manager_makes_a_sequence_and_an_agent_may_not(manager_maria: Any, agent_alice: Any) -> None:
    made = _client(manager_maria).post(
        "/api/v1/sequences/", {"name": "After the purchase", "steps": STEPS}, format="json"
    )
    assert made.status_code == 201, made.content
    assert made.json()["steps"][1] == {"type": "wait", "days": 7, "business_days": False}
    assert made.json()["report"]["enrolled"] == 0

    refused = _client(agent_alice).post("/api/v1/sequences/", {"name": "Mine", "steps": STEPS}, format="json")
    assert refused.status_code == 403
    assert _client(agent_alice).get("/api/v1/sequences/").json()["results"][0]["name"] == "After the purchase"


def test_bad_steps_are_refused_with_the_reason_and_nothing_is_saved(manager_maria: Any) -> None:
    answer = _client(manager_maria).post(
        "/api/v1/sequences/",
        {"name": "Broken", "steps": [{"type": "message", "text": "Hi"}, {"type": "wait", "days": 0}]},
        format="json",
    )
    assert answer.status_code == 400
    assert "days" in answer.content.decode()
    answer = _client(manager_maria).post(
        "/api/v1/sequences/", {"name": "Only waits", "steps": [{"type": "wait", "days": 2}]}, format="json"
    )
    assert answer.status_code == 400 and "waits only" in answer.json()["detail"]
    assert not Sequence.objects.exists()


def test_an_agent_enrols_a_customer_they_can_see_and_takes_them_out(
    agent_alice: Any, agent_bob: Any, manager_maria: Any, inbox_support: Any
) -> None:
    sequence_id = (
        _client(manager_maria)
        .post("/api/v1/sequences/", {"name": "Nurture", "steps": STEPS}, format="json")
        .json()["id"]
    )
    contact = sms_in(inbox_support, "Hi").conversation.contact
    url = f"/api/v1/sequences/{sequence_id}/enrollments/"

    assert (
        _client(agent_bob).post(url, {"contact": contact.pk}, format="json").status_code == 404
    )  # not his team
    enrolled = _client(agent_alice).post(url, {"contact": contact.pk}, format="json")
    assert enrolled.status_code == 201, enrolled.content
    assert (enrolled.json()["state"], enrolled.json()["source"]) == ("active", "api")
    again = _client(agent_alice).post(url, {"contact": contact.pk}, format="json")
    assert again.status_code == 400 and "already in the sequence" in again.json()["detail"]

    mine = _client(agent_alice).get(f"/api/v1/enrollments/?contact={contact.pk}").json()["results"]
    assert [e["sequence_name"] for e in mine] == ["Nurture"]
    assert _client(agent_bob).get("/api/v1/enrollments/").json()["results"] == []

    out = _client(agent_alice).post(f"/api/v1/enrollments/{enrolled.json()['id']}/exit/")
    assert out.status_code == 200
    assert (out.json()["state"], out.json()["exit_reason_text"]) == ("exited", "taken out by an agent")
    assert Enrollment.objects.get().enrolled_by == agent_alice

"""Canned responses: variables filled in safely, managed in the UI, picked for the thread at hand."""

from __future__ import annotations

from typing import Any

import pytest
from django.test import Client
from rest_framework.test import APIClient

from config.errors import PermissionDenied, ValidationError
from conversations.canned import canned_delete, canned_render, canned_save
from conversations.models import CannedResponse
from tests.conftest import sms_in

pytestmark = pytest.mark.django_db


@pytest.fixture
def dana(inbox_support: Any) -> Any:
    thread = sms_in(inbox_support, "Hi", phone="+14155550142").conversation
    thread.contact.name = "Dana Whitaker"
    thread.contact.save()
    return thread


def test_variables_are_filled_for_the_customer_and_the_agent(dana: Any, agent_alice: Any) -> None:
    text = canned_render(
        text="Hi {{contact.first_name}} ({{ contact.name }}, {{contact.phone}}), {{agent.first_name}} here.",
        contact=dana.contact,
        agent=agent_alice,
    )
    assert text == "Hi Dana (Dana Whitaker, +14155550142), Alice here."


@pytest.mark.parametrize(
    "written",
    [
        "{{ settings.SECRET_KEY }}",
        "{{contact.attributes}}",
        "{% load static %}{% debug %}",
        "{{ agent.password }}",
        "{{agent.first_name|upper}}",
        "{{ contact.__class__ }}",
    ],
)
def test_anything_but_the_known_variables_stays_as_written(dana: Any, agent_alice: Any, written: str) -> None:
    assert canned_render(text=written, contact=dana.contact, agent=agent_alice) == written


def test_a_canned_response_is_checked_and_only_its_author_or_an_admin_changes_it(
    agent_alice: Any, agent_bob: Any, admin_ada: Any
) -> None:
    canned = canned_save(by=agent_alice, shortcut="/Thanks", title="", body="Thanks {{contact.first_name}}!")
    assert (canned.shortcut, canned.title) == ("thanks", "thanks")
    with pytest.raises(ValidationError, match="taken"):
        canned_save(by=agent_bob, shortcut="thanks", title="Again", body="x")
    with pytest.raises(ValidationError, match="at most 50"):
        canned_save(by=agent_bob, shortcut="x" * 10_000, title="", body="x")
    with pytest.raises(ValidationError, match="no spaces"):
        canned_save(by=agent_bob, shortcut="two words", title="", body="x")
    with pytest.raises(ValidationError, match="at most 100"):
        canned_save(by=agent_bob, shortcut="long", title="x" * 10_000, body="x")
    with pytest.raises(PermissionDenied):
        canned_save(by=agent_bob, canned=canned, shortcut="thanks", title="Mine", body="x")
    with pytest.raises(PermissionDenied):
        canned_delete(by=agent_bob, canned=canned)
    canned_save(by=admin_ada, canned=canned, shortcut="thanks", title="Thank you", body="Thanks!")
    canned_delete(by=agent_alice, canned=canned)
    assert not CannedResponse.objects.exists()


def test_the_picker_fills_in_the_threads_customer(dana: Any, alice_client: Client, agent_alice: Any) -> None:
    canned_save(by=agent_alice, shortcut="thanks", title="Thanks", body="Thanks {{contact.first_name}}!")
    canned_save(by=agent_alice, shortcut="refund", title="Refund policy", body="Refunds take 5 days.")
    results = alice_client.get(f"/inbox/{dana.pk}/canned/", {"q": "th"}).json()["results"]
    assert [(r["shortcut"], r["text"]) for r in results] == [("thanks", "Thanks Dana!")]
    assert len(alice_client.get(f"/inbox/{dana.pk}/canned/", {"q": ""}).json()["results"]) == 2
    assert (
        alice_client.get(f"/inbox/{dana.pk}/canned/", {"q": "policy"}).json()["results"][0]["shortcut"]
        == "refund"
    )


def test_the_page_adds_edits_and_explains_refusals(alice_client: Client, agent_alice: Any) -> None:
    response = alice_client.post(
        "/inbox/canned/", {"shortcut": "hours", "title": "Opening hours", "body": "9 to 5, {{contact.name}}"}
    )
    assert response.status_code == 302
    page = alice_client.get("/inbox/canned/").content.decode()
    assert "/hours" in page and "{{contact.name}}" in page and "{{contact.first_name}}" in page
    refused = alice_client.post("/inbox/canned/", {"shortcut": "hours", "title": "", "body": "again"})
    assert refused.status_code == 400 and "taken" in refused.content.decode()
    canned = CannedResponse.objects.get()
    alice_client.post(
        "/inbox/canned/", {"id": canned.pk, "shortcut": "hours", "title": "T", "body": "8 to 6"}
    )
    canned.refresh_from_db()
    assert canned.body == "8 to 6"
    api = APIClient()
    api.force_authenticate(agent_alice)
    assert [c["shortcut"] for c in api.get("/api/v1/canned-responses/").json()] == ["hours"]
    alice_client.post("/inbox/canned/", {"id": canned.pk, "delete": "1"})
    assert not CannedResponse.objects.exists()

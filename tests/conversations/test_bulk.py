"""Bulk actions: the same services and the same permission check per thread as one at a time."""

from __future__ import annotations

from typing import Any

import pytest
from django.test import Client
from rest_framework.test import APIClient

from config.errors import NotFound, ValidationError
from conversations.bulk import conversations_bulk_apply
from conversations.customers import label_create
from conversations.models import Conversation, Entry
from tests.conftest import sms_in

pytestmark = pytest.mark.django_db


@pytest.fixture
def threads(inbox_support: Any, inbox_sales: Any) -> dict[str, Conversation]:
    return {
        "a": sms_in(inbox_support, "one", phone="+14155550142").conversation,
        "b": sms_in(inbox_support, "two", phone="+14155550143").conversation,
        "sales": sms_in(inbox_sales, "three", phone="+12125550187").conversation,
    }


def test_resolving_a_selection_resolves_each_visible_thread_and_refuses_the_rest(
    threads: dict[str, Conversation], agent_alice: Any
) -> None:
    ids = [threads["a"].pk, threads["b"].pk, threads["sales"].pk, 999_999]
    result = conversations_bulk_apply(user=agent_alice, conversation_ids=ids, action="resolve")
    assert result.done == [threads["a"].pk, threads["b"].pk]
    assert result.refused == [
        (threads["sales"].pk, "No such conversation."),
        (999_999, "No such conversation."),
    ]
    assert list(
        Conversation.objects.filter(status="resolved").order_by("pk").values_list("pk", flat=True)
    ) == [
        threads["a"].pk,
        threads["b"].pk,
    ]
    assert Entry.objects.filter(event_type="conversation.status_changed", author=agent_alice).count() == 2
    assert Conversation.objects.get(pk=threads["sales"].pk).status == "open"


def test_assigning_checks_the_assignee_can_see_each_thread(
    threads: dict[str, Conversation], manager_maria: Any, agent_alice: Any
) -> None:
    ids = [threads["a"].pk, threads["sales"].pk]
    result = conversations_bulk_apply(
        user=manager_maria, conversation_ids=ids, action="assign", value=str(agent_alice.pk)
    )
    assert result.done == [threads["a"].pk]
    [(refused_id, reason)] = result.refused
    assert refused_id == threads["sales"].pk and "cannot see this conversation" in reason
    assert Conversation.objects.get(pk=threads["a"].pk).assignee == agent_alice


def test_labelling_and_bad_requests(
    threads: dict[str, Conversation], agent_alice: Any, admin_ada: Any
) -> None:
    vip = label_create(name="VIP", by=admin_ada)
    ids = [threads["a"].pk, threads["b"].pk]
    result = conversations_bulk_apply(
        user=agent_alice, conversation_ids=ids, action="label", value=str(vip.pk)
    )
    assert result.done == ids
    assert all(c.contact.labels.filter(pk=vip.pk).exists() for c in Conversation.objects.filter(pk__in=ids))
    with pytest.raises(NotFound):
        conversations_bulk_apply(user=agent_alice, conversation_ids=ids, action="label", value="424242")
    with pytest.raises(ValidationError):
        conversations_bulk_apply(user=agent_alice, conversation_ids=ids, action="delete")
    with pytest.raises(ValidationError):
        conversations_bulk_apply(user=agent_alice, conversation_ids=list(range(1, 600)), action="resolve")


def test_the_page_and_the_api_run_bulk_actions(
    threads: dict[str, Conversation], alice_client: Client, agent_alice: Any
) -> None:
    page = alice_client.get("/inbox/").content.decode()
    assert 'id="bulk"' in page and 'class="row-select"' in page
    response = alice_client.post(
        "/inbox/bulk/", {"ids": [threads["a"].pk, threads["sales"].pk], "action": "assign", "value": "me"}
    )
    assert response.json() == {
        "done": [threads["a"].pk],
        "refused": [{"id": threads["sales"].pk, "reason": "No such conversation."}],
    }
    assert alice_client.post("/inbox/bulk/", {"ids": [], "action": "resolve"}).status_code == 400
    api = APIClient()
    api.force_authenticate(agent_alice)
    body = api.post(
        "/api/v1/conversations/bulk/", {"ids": [threads["b"].pk], "action": "resolve"}, format="json"
    )
    assert body.status_code == 200 and body.json()["done"] == [threads["b"].pk]
    assert (
        api.post("/api/v1/conversations/bulk/", {"ids": [1], "action": "explode"}, format="json").status_code
        == 400
    )

"""One rule decides who sees a thread. Every route and socket message with an id is tried in
tests/security/test_authorization.py."""

from __future__ import annotations

import pytest
from django.test import Client
from rest_framework.test import APIClient

from conversations.models import Attachment
from conversations.selectors import conversation_visible_to
from tests.conftest import sms_in


@pytest.fixture
def sales_thread(inbox_sales):
    entry = sms_in(inbox_sales, "Team discount for 20 pairs?", phone="+12125550187")
    Attachment.objects.create(entry=entry, state="stored", content_type="image/png", filename="a.png")
    return entry.conversation


@pytest.mark.django_db
def test_agents_see_threads_of_their_teams_inboxes_managers_see_all(
    sales_thread, agent_alice, agent_bob, manager_maria, admin_ada
) -> None:
    assert list(conversation_visible_to(agent_bob)) == [sales_thread]
    assert list(conversation_visible_to(agent_alice)) == []
    assert list(conversation_visible_to(manager_maria)) == [sales_thread]
    assert list(conversation_visible_to(admin_ada)) == [sales_thread]


@pytest.mark.django_db
def test_a_new_inbox_in_the_thread_makes_it_visible_to_that_team_whole(
    sales_thread, inbox_support, agent_alice
) -> None:
    sms_in(inbox_support, "Also, a support question", conversation=sales_thread)
    assert list(conversation_visible_to(agent_alice)) == [sales_thread]


@pytest.mark.django_db
def test_the_inbox_list_hides_other_teams_threads(sales_thread, agent_alice, agent_bob) -> None:
    client = Client()
    client.force_login(agent_alice)
    assert b"Team discount" not in client.get("/inbox/?status=all").content
    client.force_login(agent_bob)
    assert b"Team discount" in client.get("/inbox/?status=all").content


@pytest.mark.django_db
def test_the_api_lists_hide_other_teams(sales_thread, agent_alice) -> None:
    client = APIClient()
    client.force_login(agent_alice)
    assert client.get("/api/v1/contacts/").json()["results"] == []
    assert client.get("/api/v1/contacts/", {"identity": "+1 212 555 0187"}).json()["results"] == []
    assert client.get("/api/v1/inboxes/").json() == []


@pytest.mark.django_db
def test_someone_who_is_not_an_agent_sees_nothing(sales_thread, django_user_model) -> None:
    outsider = django_user_model.objects.create_user("outsider", password="x" * 12)
    client = Client()
    client.force_login(outsider)
    assert client.get("/inbox/").status_code == 403
    api = APIClient()
    api.force_login(outsider)
    assert api.get("/api/v1/contacts/").status_code == 403

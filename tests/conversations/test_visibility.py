"""One rule decides who sees a thread, in the UI, the API and the websocket: another team's thread is a 404."""

from __future__ import annotations

import pytest
from django.test import Client
from django.urls import URLPattern, URLResolver, get_resolver
from rest_framework.test import APIClient

from conversations.models import Attachment, Entry
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


def _routes_with_ids() -> list[str]:
    found: list[str] = []

    def walk(patterns, prefix=""):
        for pattern in patterns:
            if isinstance(pattern, URLResolver):
                walk(pattern.url_patterns, prefix + str(pattern.pattern))
            elif isinstance(pattern, URLPattern) and "<int:" in str(pattern.pattern):
                found.append(prefix + str(pattern.pattern))

    walk(get_resolver().url_patterns)
    return found


# Each route that takes an id, with how to call it for an id the agent may not see.
ROUTES_WITH_IDS = {
    "inbox/<int:conversation_id>/": ("get", "conversation"),
    "inbox/<int:conversation_id>/entries/": ("get", "conversation"),
    "inbox/<int:conversation_id>/reply/": ("post", "conversation"),
    "inbox/<int:conversation_id>/status/": ("post", "conversation"),
    "inbox/<int:conversation_id>/assign/": ("post", "conversation"),
    "inbox/entries/<int:entry_id>/retry/": ("post", "entry"),
    "attachments/<int:attachment_id>/": ("get", "attachment"),
    "api/v1/contacts/<int:pk>/": ("get", "contact"),
    "api/v1/contacts/<int:pk>/timeline/": ("get", "contact"),
    "api/v1/contacts/<int:pk>/messages/": ("post", "contact"),
    "api/v1/inboxes/<int:pk>/": ("get", "inbox"),
}


def test_every_route_that_takes_an_id_is_in_the_permission_table() -> None:
    """A new route with an id must be added to ROUTES_WITH_IDS, and so to the test below."""
    admin_routes = [r for r in _routes_with_ids() if r.startswith("admin/")]
    assert sorted(set(_routes_with_ids()) - set(admin_routes)) == sorted(ROUTES_WITH_IDS)


@pytest.mark.django_db
@pytest.mark.parametrize("route", sorted(ROUTES_WITH_IDS))
def test_another_teams_ids_answer_exactly_like_ids_that_do_not_exist(
    route, sales_thread, agent_alice
) -> None:
    method, kind = ROUTES_WITH_IDS[route]
    entry = sales_thread.entries.first()
    ids = {
        "conversation": sales_thread.pk,
        "entry": entry.pk,
        "attachment": Attachment.objects.get().pk,
        "contact": sales_thread.contact_id,
        "inbox": sales_thread.inboxes.get().pk,
    }
    client = APIClient() if route.startswith("api/") else Client()
    client.force_login(agent_alice)

    def call(object_id: int):
        path = (
            "/" + route.split("<")[0] + str(object_id) + "/" + route.split(">/")[1] if ">/" in route else ""
        )
        if method == "get":
            return client.get(path)
        return client.post(path, {"body": "hi", "status": "resolved", "assignee": "me"})

    hidden = call(ids[kind])
    missing = call(999_999)
    assert hidden.status_code == missing.status_code == 404, (route, hidden.status_code, missing.status_code)
    assert Entry.objects.filter(direction="outbound").count() == 0
    sales_thread.refresh_from_db()
    assert sales_thread.status == "open" and sales_thread.assignee is None


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

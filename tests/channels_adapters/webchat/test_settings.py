"""A web chat inbox's settings: the API's PATCH, the admin's settings page with the snippet, the demo inbox,
and the script itself."""

from __future__ import annotations

import gzip
from typing import Any

import pytest
from django.core.management import call_command
from django.test import Client
from rest_framework.test import APIClient

from channels_adapters.webchat.identity import user_hash
from channels_adapters.webchat.services import widget_inbox
from conversations.models import Inbox
from tests.webchat import SHOP

pytestmark = pytest.mark.django_db


def api(user: Any) -> APIClient:
    client = APIClient()
    client.force_authenticate(user)
    return client


def test_the_inbox_list_gives_the_widget_key(inbox_webchat, admin_ada) -> None:
    rows = {row["id"]: row for row in api(admin_ada).get("/api/v1/inboxes/").json()}
    assert rows[inbox_webchat.pk]["widget_key"] == inbox_webchat.widget_key
    assert len(inbox_webchat.widget_key) >= 20
    assert "identity_secret" not in rows[inbox_webchat.pk]  # write-only


def test_an_admin_changes_the_allowed_origins_and_the_handshake_follows(inbox_webchat, admin_ada) -> None:
    new_site = "https://www.shop.example.test"
    response = api(admin_ada).patch(
        f"/api/v1/inboxes/{inbox_webchat.pk}/",
        {"allowed_origins": [new_site, "HTTPS://Blog.Shop.Example.Test/"]},
        format="json",
    )
    assert response.status_code == 200, response.content
    assert response.json()["allowed_origins"] == [new_site, "https://blog.shop.example.test"]
    assert widget_inbox(widget_key=inbox_webchat.widget_key, origin=new_site) is not None
    assert (
        widget_inbox(widget_key=inbox_webchat.widget_key, origin="https://blog.shop.example.test") is not None
    )
    assert widget_inbox(widget_key=inbox_webchat.widget_key, origin=SHOP) is None


@pytest.mark.parametrize(
    ("body", "message"),
    [
        ({"allowed_origins": ["shop.example.test"]}, "is not an origin"),
        ({"allowed_origins": ["https://shop.example.test/path"]}, "is not an origin"),
        ({"allowed_origins": "https://shop.example.test javascript:alert(1)"}, "is not an origin"),
        ({"widget_color": "#12345z"}, "is not a color"),
        ({"identity_secret": "short"}, "at least 16 characters"),
    ],
)
def test_settings_the_widget_could_not_use_are_refused_with_the_reason(
    inbox_webchat, admin_ada, body, message
) -> None:
    response = api(admin_ada).patch(f"/api/v1/inboxes/{inbox_webchat.pk}/", body, format="json")
    assert response.status_code == 400
    assert message in response.content.decode()
    inbox_webchat.refresh_from_db()
    assert inbox_webchat.allowed_origins == [SHOP] and inbox_webchat.widget_color == "#2563eb"


def test_only_admins_change_settings(inbox_webchat, agent_alice) -> None:
    response = api(agent_alice).patch(
        f"/api/v1/inboxes/{inbox_webchat.pk}/", {"allowed_origins": ["https://evil.example"]}, format="json"
    )
    assert response.status_code == 403
    client = Client()
    client.force_login(agent_alice)
    assert client.get("/inbox/settings/").status_code == 403
    assert client.post("/inbox/settings/", {"inbox": inbox_webchat.pk}).status_code == 403


def test_the_settings_page_gives_the_snippet_and_saves_the_widget_settings(inbox_webchat, admin_ada) -> None:
    client = Client()
    client.force_login(admin_ada)
    page = client.get("/inbox/settings/").content.decode()
    assert (
        f"&lt;script src=&quot;https://hub.example.test/widget.js&quot; data-widget-key=&quot;"
        f"{inbox_webchat.widget_key}&quot; async&gt;&lt;/script&gt;"
        in page
        or f'&lt;script src="https://hub.example.test/widget.js" data-widget-key="{inbox_webchat.widget_key}" '
        "async&gt;&lt;/script&gt;"
        in page
    )
    form = {
        "inbox": inbox_webchat.pk,
        "allowed_origins": "https://a.example.test\nhttps://b.example.test",
        "widget_greeting": "Hello there",
        "widget_color": "#112233",
        "time_zone": "Europe/Paris",
        "business_hours": '{"mon": [["09:00", "17:00"]]}',
        "identity_secret": "",
    }
    response = client.post("/inbox/settings/", form)
    assert response.status_code == 200
    assert "Saved." in response.content.decode()
    inbox_webchat.refresh_from_db()
    assert inbox_webchat.allowed_origins == ["https://a.example.test", "https://b.example.test"]
    assert (inbox_webchat.widget_greeting, inbox_webchat.widget_color) == ("Hello there", "#112233")
    assert inbox_webchat.business_hours == {"mon": [["09:00", "17:00"]]}
    assert inbox_webchat.identity_secret  # left empty: the secret is kept
    bad = client.post("/inbox/settings/", {**form, "business_hours": '{"mon": [["9", "5"]]}'})
    assert bad.status_code == 400
    inbox_webchat.refresh_from_db()
    assert inbox_webchat.time_zone == "Europe/Paris"


def test_the_widget_script_is_served_small_to_any_site(client: Client) -> None:
    response = client.get("/widget.js")
    assert response.status_code == 200
    assert response["Content-Type"].startswith("application/javascript")
    source = b"".join(response.streaming_content) if response.streaming else response.content
    assert (
        b"attachShadow" in source
        and b"textContent" in source
        and b"innerHTML = " not in source.replace(b"root.innerHTML =", b"")
    )
    assert len(gzip.compress(source, 9)) < 8 * 1024


def test_the_demo_data_has_a_web_chat_inbox_and_a_customer_to_identify_as(settings, tmp_path) -> None:
    settings.VAR_DIR = tmp_path
    call_command("load_demo")
    inbox = Inbox.objects.get(kind=Inbox.WEBCHAT)
    assert "http://127.0.0.1:8080" in inbox.allowed_origins and inbox.widget_key
    page = (tmp_path / "webchat-demo" / "index.html").read_text()
    assert f'data-widget-key="{inbox.widget_key}"' in page
    assert user_hash(secret=inbox.identity_secret, value="shop-user-1001") in page


def test_an_admin_links_two_sites_that_share_their_users_on_purpose_and_only_one_level(
    inbox_webchat, admin_ada
) -> None:
    app = Inbox.objects.create(name="Shop app", kind=Inbox.WEBCHAT, allowed_origins=[SHOP])
    third = Inbox.objects.create(name="Blog", kind=Inbox.WEBCHAT, allowed_origins=[SHOP])
    client = api(admin_ada)
    linked = client.patch(f"/api/v1/inboxes/{app.pk}/", {"identity_site": inbox_webchat.pk}, format="json")
    assert linked.status_code == 200, linked.content
    app.refresh_from_db()
    assert app.identity_site_id == inbox_webchat.pk
    # No chains and no loops: a site is an inbox of its own.
    chained = client.patch(f"/api/v1/inboxes/{third.pk}/", {"identity_site": app.pk}, format="json")
    assert chained.status_code == 400 and "link to that inbox instead" in chained.content.decode()
    itself = client.patch(f"/api/v1/inboxes/{third.pk}/", {"identity_site": third.pk}, format="json")
    assert itself.status_code == 400
    site_links_away = client.patch(
        f"/api/v1/inboxes/{inbox_webchat.pk}/", {"identity_site": third.pk}, format="json"
    )
    assert (
        site_links_away.status_code == 400 and "stays a site of its own" in site_links_away.content.decode()
    )
    # The settings page offers the link, and an admin can undo it there.
    web = Client()
    web.force_login(admin_ada)
    page = web.get("/inbox/settings/").content.decode()
    assert f'<option value="{inbox_webchat.pk}" selected>Shared with {inbox_webchat.name}</option>' in page
    form = {"inbox": app.pk, "allowed_origins": SHOP, "widget_color": "#112233", "identity_site": ""}
    assert "Saved." in web.post("/inbox/settings/", form).content.decode()
    app.refresh_from_db()
    assert app.identity_site_id is None


def test_the_settings_page_never_shows_the_identity_secret(inbox_webchat, admin_ada) -> None:
    web = Client()
    web.force_login(admin_ada)
    page = web.get("/inbox/settings/").content.decode()
    assert inbox_webchat.identity_secret not in page
    assert 'aria-label="Identity secret, hidden"' in page  # masked; Reveal is its own audited step

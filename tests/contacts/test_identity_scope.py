"""Host-site user ids made before they were scoped to their site: the migration scopes what it can tell, and
leaves the rest for an admin, verifying nobody meanwhile (issue 14, finding 1)."""

from __future__ import annotations

import importlib
from typing import Any

import pytest
from django.apps import apps as global_apps
from django.test import Client

from channels_adapters.webchat.identity import user_hash, visitor_token_new
from channels_adapters.webchat.services import webchat_identify
from contacts.models import Identity
from contacts.services import contact_resolve, identities_scope_to_site
from conversations.models import Entry, Inbox
from conversations.services import conversation_get_or_create, entry_append
from tests import factories

pytestmark = pytest.mark.django_db

scope_migration = importlib.import_module("contacts.migrations.0004_identity_scope")


def _webchat(name: str, secret: str = "a-shops-identity-secret-1234") -> Inbox:
    return factories.InboxFactory(name=name, kind="webchat", address="", identity_secret=secret)


def _legacy_user_id(address: str, *, spoke_through: list[Inbox]) -> Identity:
    contact, _ = contact_resolve(kind="phone", address="+14155550142")
    for inbox in spoke_through:
        entry_append(
            conversation=conversation_get_or_create(contact=contact),
            kind="message",
            direction="inbound",
            channel="webchat",
            inbox=inbox,
            body="hi",
        )
    return Identity.objects.create(contact=contact, kind="external", scope="", address=address)


def _migrate() -> None:
    scope_migration.scope_host_site_user_ids(global_apps, None)


def test_a_user_id_takes_the_web_chat_inbox_its_thread_spoke_through() -> None:
    shop, _other = _webchat("Shop"), _webchat("Other")
    identity = _legacy_user_id("42", spoke_through=[shop])
    _migrate()
    identity.refresh_from_db()
    assert identity.scope == f"webchat:{shop.pk}"


def test_with_no_web_chat_in_the_thread_the_only_web_chat_inbox_is_the_site() -> None:
    shop = _webchat("Shop")
    identity = _legacy_user_id("42", spoke_through=[])
    _migrate()
    identity.refresh_from_db()
    assert identity.scope == f"webchat:{shop.pk}"


def test_an_ambiguous_user_id_stays_unscoped_and_verifies_nobody_until_an_admin_scopes_it(
    admin_ada: Any,
) -> None:
    shop, other = _webchat("Shop", "shop-secret-0123456789"), _webchat("Other", "other-secret-0123456789")
    identity = _legacy_user_id("42", spoke_through=[shop, other])
    _migrate()
    identity.refresh_from_db()
    assert identity.scope == ""

    # A visitor with a valid hash for 42 on the shop's site becomes a new customer, not the ambiguous one.
    visitor_id, _ = visitor_token_new(inbox_id=shop.pk)
    webchat_identify(
        inbox=shop,
        visitor_id=visitor_id,
        claims={"user_id": "42", "user_hash": user_hash(secret="shop-secret-0123456789", value="42")},
    )
    newcomer = Identity.objects.get(kind="external", address="42", scope=f"webchat:{shop.pk}")
    assert newcomer.contact_id != identity.contact_id
    assert not Entry.objects.filter(
        conversation__contact=identity.contact, event_type="webchat.identified"
    ).exists()

    # The admin sees it waiting, and scoping it to a site that already has its own 42 is refused, not merged.
    client = Client()
    client.force_login(admin_ada)
    assert "1 host-site user id" in client.get("/inbox/settings/").content.decode()
    assert identities_scope_to_site(identities=Identity.objects.filter(pk=identity.pk), site_id=shop.pk) == (
        0,
        ["42"],
    )
    assert identities_scope_to_site(identities=Identity.objects.filter(pk=identity.pk), site_id=other.pk) == (
        1,
        [],
    )
    identity.refresh_from_db()
    assert identity.scope == f"webchat:{other.pk}"
    assert "host-site user id" not in client.get("/inbox/settings/").content.decode()


def test_the_admin_lists_the_waiting_user_ids_and_scopes_them_by_an_action(admin_client: Any) -> None:
    shop, other = _webchat("Shop"), _webchat("Other")
    identity = _legacy_user_id("42", spoke_through=[shop, other])
    page = admin_client.get("/admin/contacts/identity/?site=waiting")
    assert page.status_code == 200
    text = page.content.decode()
    assert "Scope host-site user ids to Shop" in text and "Scope host-site user ids to Other" in text
    response = admin_client.post(
        "/admin/contacts/identity/?site=waiting",
        {"action": f"scope_to_site_{other.pk}", "_selected_action": [identity.pk]},
        follow=True,
    )
    assert "1 user id(s) scoped." in response.content.decode()
    identity.refresh_from_db()
    assert identity.scope == f"webchat:{other.pk}"

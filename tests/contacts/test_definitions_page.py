"""Labels and custom attributes are managed in the product (/inbox/settings/labels/) by admins and managers:
create, rename, recolor and delete labels; define attributes with a type. Each change is audited."""

from __future__ import annotations

from typing import Any

import pytest
from django.test import Client

from contacts.models import AttributeDefinition, Label
from contacts.services import attribute_value_clean
from reports.models import AuditLog
from tests import factories

pytestmark = pytest.mark.django_db
URL = "/inbox/settings/labels/"


def logged_in(user: Any) -> Client:
    client = Client()
    client.force_login(user)
    return client


def test_a_manager_creates_renames_recolors_and_deletes_a_label(manager_maria: Any) -> None:
    client = logged_in(manager_maria)
    assert client.post(URL, {"action": "label_save", "name": "VIP", "color": "#B42318"}).status_code == 302
    label = Label.objects.get(name="VIP")
    assert label.color == "#b42318"
    customer = factories.ContactFactory()
    customer.labels.add(label)

    client.post(URL, {"action": "label_save", "id": label.pk, "name": "Key account", "color": "#067647"})
    label.refresh_from_db()
    assert (label.name, label.color) == ("Key account", "#067647")
    page = client.get(URL).content.decode()
    assert "Saved the label Key account." in page and 'value="Key account"' in page

    response = client.post(URL, {"action": "label_delete", "id": label.pk}, follow=True)
    assert "Deleted the label Key account (1 customer had it)." in response.content.decode()
    assert not customer.labels.exists()
    changes = AuditLog.objects.filter(action=AuditLog.SETTINGS, data__model="contacts.Label")
    assert [row.data["verb"] for row in changes.order_by("id")] == ["created", "changed", "deleted"]


def test_a_duplicate_or_bad_label_is_refused_and_the_typed_name_kept(manager_maria: Any) -> None:
    Label.objects.create(name="VIP")
    client = logged_in(manager_maria)
    response = client.post(URL, {"action": "label_save", "name": "vip", "color": "#2457d6"})
    assert response.status_code == 400
    assert "A label named &#x27;vip&#x27; exists already." in response.content.decode()
    response = client.post(URL, {"action": "label_save", "name": "Wholesale", "color": "blue"})
    assert response.status_code == 400 and "is not a color" in response.content.decode()
    assert 'value="Wholesale"' in response.content.decode()
    assert Label.objects.count() == 1


def test_an_attribute_is_defined_with_its_type_and_agents_values_follow_it(admin_ada: Any) -> None:
    client = logged_in(admin_ada)
    form = {"action": "attribute_save", "label": "Plan", "type": "choice", "choices": "free, pro, pro"}
    assert client.post(URL, form).status_code == 302
    plan = AttributeDefinition.objects.get(key="plan")
    assert (plan.type, plan.choices) == ("choice", ["free", "pro"])
    assert attribute_value_clean(definition=plan, value="pro") == "pro"

    form = {"action": "attribute_save", "label": "Signed up", "type": "date"}
    assert client.post(URL, form).status_code == 302
    signed_up = AttributeDefinition.objects.get(key="signed_up")
    assert signed_up.type == "date"

    response = client.post(URL, {"action": "attribute_save", "label": "Plan", "type": "text"})
    assert response.status_code == 400
    assert "An attribute with the key &#x27;plan&#x27; exists already." in response.content.decode()

    client.post(URL, {"action": "attribute_delete", "id": signed_up.pk})
    assert not AttributeDefinition.objects.filter(key="signed_up").exists()


def test_agents_cannot_manage_labels(agent_alice: Any) -> None:
    assert logged_in(agent_alice).get(URL).status_code == 403
    assert logged_in(agent_alice).post(URL, {"action": "label_save", "name": "X"}).status_code == 403
    assert not Label.objects.exists()

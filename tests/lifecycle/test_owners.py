"""Contact owners: a qualified lead is handed to the sales team's next agent, round robin, with an event in the
thread and a notification; an owner who leaves hands their customers on; owners find them under "My contacts"."""

from __future__ import annotations

from typing import Any

import pytest
from django.test import Client

from conversations.models import Entry, Notification
from events.models import DomainEvent
from lifecycle.models import ContactOwner, Stage
from lifecycle.owners import owners_hand_back_departed
from lifecycle.services import stage_move
from tests import factories
from tests.conftest import sms_in

pytestmark = pytest.mark.django_db


@pytest.fixture
def qualified(stages: Any, team_sales: Any) -> Stage:
    stage = Stage.objects.get(key="qualified")
    stage.owner_team = team_sales
    stage.save(update_fields=["owner_team"])
    return stage


@pytest.fixture
def sellers(team_sales: Any, agent_bob: Any) -> list[Any]:
    return [agent_bob, factories.agent("agent_carla", teams=(team_sales,))]


def lead(inbox: Any, phone: str) -> Any:
    return sms_in(inbox, "Do you do team discounts?", phone=phone).conversation


def test_qualified_leads_are_handed_round_robin_with_an_event_and_a_notification(
    qualified: Stage, sellers: list[Any], inbox_sales: Any, manager_maria: Any
) -> None:
    threads = [lead(inbox_sales, f"+1212555010{n}") for n in range(3)]
    for thread in threads:
        stage_move(contact=thread.contact, stage=qualified, by=manager_maria)

    owners = [ContactOwner.objects.get(contact=thread.contact).owner for thread in threads]
    bob, carla = sellers
    assert owners == [bob, carla, bob]
    event = Entry.objects.get(conversation=threads[1], event_type="contact.owner_changed")
    assert f"now owned by {carla.get_full_name()} (Sales)" in event.body and "reached Qualified" in event.body
    notification = Notification.objects.get(recipient=carla, kind="owner")
    assert notification.conversation_id == threads[1].pk
    published = DomainEvent.objects.filter(type="contact.owner_changed", conversation_id=threads[1].pk).get()
    assert published.payload["owner"] == carla.pk and published.payload["team"] == qualified.owner_team_id


def test_an_owner_keeps_their_customer_when_it_moves_on_and_a_deactivated_owner_hands_it_on(
    qualified: Stage, sellers: list[Any], inbox_sales: Any, manager_maria: Any
) -> None:
    bob, carla = sellers
    thread = lead(inbox_sales, "+12125550111")
    stage_move(contact=thread.contact, stage=qualified, by=manager_maria)
    customer = Stage.objects.get(key="customer")
    customer.owner_team = qualified.owner_team
    customer.save(update_fields=["owner_team"])
    stage_move(contact=thread.contact, stage=customer, by=manager_maria)
    assert ContactOwner.objects.get(contact=thread.contact).owner == bob  # not handed again

    bob.is_active = False
    bob.save(update_fields=["is_active"])
    assert owners_hand_back_departed() == 1
    assert ContactOwner.objects.get(contact=thread.contact).owner == carla
    handed = Entry.objects.filter(conversation=thread, event_type="contact.owner_changed").latest("id")
    assert f"after {bob.get_full_name()}: {bob.get_full_name()} was deactivated" in handed.body
    assert owners_hand_back_departed() == 0


def test_a_team_with_nobody_active_leaves_the_lead_unowned_and_says_so(
    qualified: Stage, inbox_sales: Any, manager_maria: Any
) -> None:
    thread = lead(inbox_sales, "+12125550112")
    stage_move(contact=thread.contact, stage=qualified, by=manager_maria)
    row = ContactOwner.objects.get(contact=thread.contact)
    assert row.owner is None and "Sales has no active agent" in row.reason


def test_owners_find_their_customers_and_only_managers_give_customers_to_others(
    qualified: Stage, sellers: list[Any], inbox_sales: Any, manager_maria: Any
) -> None:
    bob, carla = sellers
    mine = lead(inbox_sales, "+12125550113")
    other = lead(inbox_sales, "+12125550114")
    stage_move(contact=mine.contact, stage=qualified, by=manager_maria)  # bob's
    as_bob = Client()
    as_bob.force_login(bob)
    page = as_bob.get("/inbox/?view=owned&status=all").content.decode()
    assert f'id="conv-{mine.pk}"' in page and f'id="conv-{other.pk}"' not in page
    assert "My contacts" in page

    refused = as_bob.post(f"/inbox/{other.pk}/owner/", {"owner": str(carla.pk)})
    assert refused.status_code == 403
    assert as_bob.post(f"/inbox/{other.pk}/owner/", {"owner": "me"}).status_code == 200
    assert ContactOwner.objects.get(contact=other.contact).owner == bob

    as_maria = Client()
    as_maria.force_login(manager_maria)
    assert as_maria.post(f"/inbox/{other.pk}/owner/", {"owner": str(carla.pk)}).status_code == 200
    assert ContactOwner.objects.get(contact=other.contact).owner == carla
    panel = as_maria.get(f"/inbox/{other.pk}/").content.decode()
    owner_html = panel.split('id="contact-owner"', 1)[1].split("</p>", 1)[0]
    assert carla.get_full_name() in owner_html and "set by hand" in owner_html


def test_the_stages_page_names_the_team_a_stage_hands_its_contacts_to(
    stages: Any, team_sales: Any, admin_ada: Any, agent_bob: Any, inbox_sales: Any
) -> None:
    client = Client()
    client.force_login(admin_ada)
    qualified = Stage.objects.get(key="qualified")
    client.post(
        "/reports/funnel/stages/",
        {
            "action": "update",
            "stage": qualified.pk,
            "name": "Qualified",
            "position": qualified.position,
            "on_main_line": "1",
            "owner_team": team_sales.pk,
        },
    )
    qualified.refresh_from_db()
    assert qualified.owner_team == team_sales
    thread = lead(inbox_sales, "+12125550115")
    stage_move(contact=thread.contact, stage=qualified, by=admin_ada)
    assert ContactOwner.objects.get(contact=thread.contact).owner == agent_bob

"""Contact owners: a qualified lead is handed to the sales team's next agent, round robin, with an event in the
thread and a notification; an owner who leaves hands their customers on; owners find them under "My contacts"."""

from __future__ import annotations

from typing import Any

import pytest
from django.test import Client

from config.errors import ValidationError
from conversations.models import AgentProfile, Entry, Notification
from conversations.services import entry_append
from events.models import DomainEvent
from events.services import events_dispatch
from lifecycle.models import ContactOwner, Stage, TargetTimer
from lifecycle.owners import owners_hand_back_departed
from lifecycle.services import stage_move
from lifecycle.targets import response_target_save
from rules.services import rule_runs_process, rule_save
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


def test_an_agent_who_is_away_is_passed_over_while_a_teammate_is_here(
    qualified: Stage, sellers: list[Any], inbox_sales: Any, manager_maria: Any
) -> None:
    bob, carla = sellers
    AgentProfile.objects.filter(user=bob).update(availability=AgentProfile.AWAY)
    threads = [lead(inbox_sales, f"+1212555013{n}") for n in range(2)]
    for thread in threads:
        stage_move(contact=thread.contact, stage=qualified, by=manager_maria)
    assert [ContactOwner.objects.get(contact=t.contact).owner for t in threads] == [carla, carla]
    AgentProfile.objects.filter(user=carla).update(
        availability=AgentProfile.AWAY
    )  # everyone away: turns go on
    third = lead(inbox_sales, "+12125550139")
    stage_move(contact=third.contact, stage=qualified, by=manager_maria)
    assert ContactOwner.objects.get(contact=third.contact).owner == bob


def test_a_rule_hands_a_lead_to_an_owner_and_their_first_touch_is_timed(
    stages: Any, sellers: list[Any], inbox_sales: Any, team_sales: Any, admin_ada: Any
) -> None:
    bob, _ = sellers
    response_target_save(
        target=None,
        name="Owners call within the hour",
        scope=f"team:{team_sales.pk}",
        minutes={"owner_touch": 60},
        warn_percent=75,
    )
    rule_save(
        by=admin_ada,
        name="Pricing questions go to sales",
        event_type="message.received",
        conditions=[{"field": "text", "op": "contains", "value": "price"}],
        actions=[{"type": "hand_owner", "team": team_sales.pk}],
    )
    with pytest.raises(ValidationError, match=r"No such team \(999999\)"):
        rule_save(
            by=admin_ada,
            name="Broken",
            event_type="message.received",
            conditions=[],
            actions=[{"type": "hand_owner", "team": 999_999}],
        )
    thread = sms_in(inbox_sales, "What is the price for 20 seats?", phone="+12125550140").conversation
    events_dispatch()
    rule_runs_process()

    ownership = ContactOwner.objects.get(contact=thread.contact)
    assert ownership.owner == bob and "Pricing questions go to sales" in ownership.reason
    assert Notification.objects.filter(recipient=bob, kind="owner").count() == 1
    touch = TargetTimer.objects.get(conversation=thread, metric="owner_touch")
    assert touch.agent == bob and touch.state == "running" and touch.due_at is not None
    entry_append(
        conversation=thread,
        kind="message",
        direction="outbound",
        channel="sms",
        inbox=inbox_sales,
        body="Hi!",
        author=bob,
    )
    touch.refresh_from_db()
    assert touch.state == "done" and touch.over_s is not None and touch.over_s < 0

"""Lifecycle stages: moved by hand (thread header, API), by rules (first message, purchases), never back by rule."""

from __future__ import annotations

import json

import pytest
from django.test import Client

from contacts.services import contact_resolve
from conversations.models import Entry
from conversations.services import conversation_get_or_create
from lifecycle.models import ContactStage, Stage, StageChange
from lifecycle.services import stage_delete, stage_move, touchpoint_record
from tests.conftest import sms_in


def stage_of(contact) -> str | None:
    row = ContactStage.objects.select_related("stage").filter(contact=contact).first()
    return row.stage.key if row and row.stage else None


def events(conversation) -> list[str]:
    return list(
        Entry.objects.filter(conversation=conversation, event_type="contact.stage_changed")
        .order_by("created_at", "id")
        .values_list("body", flat=True)
    )


def test_the_default_stages_are_seeded() -> None:
    assert list(Stage.objects.values_list("key", "on_main_line")) == [
        ("subscriber", True), ("lead", True), ("qualified", True), ("opportunity", True), ("customer", True),
        ("loyal", True), ("lost", False), ("churned", False),
    ]  # fmt: skip


def test_a_first_message_makes_a_lead_once(inbox_support) -> None:
    entry = sms_in(inbox_support, "Hi, do you ship to Canada?")
    contact = entry.conversation.contact
    assert stage_of(contact) == "lead"
    row = ContactStage.objects.get(contact=contact)
    assert (row.first_channel, row.first_inbox_id, row.first_contact_at) == (
        "sms",
        inbox_support.pk,
        entry.created_at,
    )
    sms_in(inbox_support, "Hello again?", conversation=entry.conversation)
    assert StageChange.objects.filter(contact=contact).count() == 1
    [text] = events(entry.conversation)
    assert text.startswith("The hub moved") and "to Lead (first message from the customer)" in text


def test_a_subscriber_becomes_a_lead_but_a_qualified_contact_stays(inbox_support) -> None:
    contact, _ = contact_resolve(kind="phone", address="+14155550142")
    thread = conversation_get_or_create(contact=contact)
    stage_move(contact=contact, stage=Stage.objects.get(key="subscriber"), by=None, reason="newsletter")
    sms_in(inbox_support, conversation=thread)
    assert stage_of(contact) == "lead"

    other, _ = contact_resolve(kind="phone", address="+14155550143")
    stage_move(contact=other, stage=Stage.objects.get(key="qualified"), by=None)
    sms_in(inbox_support, phone="+14155550143")
    assert stage_of(other) == "qualified"


def test_purchases_make_a_customer_then_loyal_and_rules_never_go_back(inbox_support, agent_alice) -> None:
    entry = sms_in(inbox_support)
    contact = entry.conversation.contact
    touchpoint_record(contact=contact, type="purchase", client_key="order-1", payload={"order": "1"})
    assert stage_of(contact) == "customer"
    touchpoint_record(contact=contact, type="purchase", client_key="order-2", payload={"order": "2"})
    assert stage_of(contact) == "loyal"
    touchpoint_record(contact=contact, type="purchase", client_key="order-3")
    assert stage_of(contact) == "loyal"
    # By hand, anywhere: back to lead; a later purchase moves forward again (not to loyal, it is one rule).
    stage_move(contact=contact, stage=Stage.objects.get(key="lead"), by=agent_alice, reason="order refunded")
    assert stage_of(contact) == "lead"
    sms_in(inbox_support, conversation=entry.conversation)  # a message never moves a lead back or forth
    assert stage_of(contact) == "lead"
    texts = events(entry.conversation)
    assert texts[-1] == f"Alice moved {contact.display_name} from Loyal to Lead (order refunded)"
    changes = list(StageChange.objects.filter(contact=contact).order_by("at", "id"))
    assert [(c.from_stage.key if c.from_stage else None, c.to_stage.key, c.rule) for c in changes] == [
        (None, "lead", "first_inbound"),
        ("lead", "customer", "purchase"),
        ("customer", "loyal", "repeat_purchase"),
        ("loyal", "lead", ""),
    ]
    assert changes[-1].by == agent_alice
    assert all(c.left_at is not None for c in changes[:-1]) and changes[-1].left_at is None


def test_the_thread_header_moves_the_stage_by_hand(sms_thread, alice_client: Client, agent_alice) -> None:
    page = alice_client.get(f"/inbox/{sms_thread.pk}/").content.decode()
    assert f'action="/inbox/{sms_thread.pk}/stage/"' in page
    assert '<option value="lead" selected>Lead</option>' in page
    response = alice_client.post(
        f"/inbox/{sms_thread.pk}/stage/", {"stage": "opportunity", "reason": "asked for a quote"}
    )
    assert response.status_code == 200, response.content
    assert stage_of(sms_thread.contact) == "opportunity"
    assert events(sms_thread)[-1].endswith("from Lead to Opportunity (asked for a quote)")
    assert (
        '<option value="opportunity" selected>'
        in alice_client.get(f"/inbox/{sms_thread.pk}/").content.decode()
    )
    assert alice_client.post(f"/inbox/{sms_thread.pk}/stage/", {"stage": "nope"}).status_code == 400


def test_another_teams_thread_is_404_for_the_stage_control(sms_thread, agent_bob) -> None:
    client = Client()
    client.force_login(agent_bob)
    assert client.post(f"/inbox/{sms_thread.pk}/stage/", {"stage": "customer"}).status_code == 404
    assert stage_of(sms_thread.contact) == "lead"


def test_the_api_shows_and_moves_the_stage(sms_thread, alice_client: Client) -> None:
    contact = sms_thread.contact
    shown = alice_client.get(f"/api/v1/contacts/{contact.pk}/").json()
    assert shown["stage"]["key"] == "lead" and shown["stage"]["name"] == "Lead"
    listed = alice_client.get("/api/v1/contacts/").json()["results"][0]
    assert listed["stage"]["key"] == "lead"
    response = alice_client.post(
        f"/api/v1/contacts/{contact.pk}/stage/",
        json.dumps({"stage": "qualified", "reason": "budget confirmed"}),
        content_type="application/json",
    )
    assert response.status_code == 200, response.content
    assert response.json()["stage"]["key"] == "qualified"
    assert events(sms_thread)[-1].endswith("(budget confirmed)")
    missing = alice_client.post(
        f"/api/v1/contacts/{contact.pk}/stage/", {"stage": "unicorn"}, content_type="application/json"
    )
    assert missing.status_code == 404 and "the stages are subscriber, lead" in missing.json()["detail"]
    assert [s["key"] for s in alice_client.get("/api/v1/stages/").json()][:2] == ["subscriber", "lead"]


# --- a stage the admin deletes while contacts hold it ---------------------------------------------
def test_deleting_a_stage_contacts_hold_is_refused_with_the_count(inbox_support, admin_ada) -> None:
    for n in range(3):
        sms_in(inbox_support, phone=f"+1415555020{n}")
    lead = Stage.objects.get(key="lead")
    from config.errors import ValidationError

    with pytest.raises(ValidationError, match="3 contacts are in Lead: choose a stage to move them to"):
        stage_delete(stage=lead, by=admin_ada)
    assert Stage.objects.filter(key="lead").exists()

    client = Client()
    client.force_login(admin_ada)
    response = client.post("/reports/funnel/stages/", {"action": "delete", "stage": lead.pk, "move_to": ""})
    assert response.status_code == 302
    page = client.get(response["Location"]).content.decode()
    assert "3 contacts are in Lead" in page
    assert ContactStage.objects.filter(stage=lead).count() == 3


def test_deleting_a_stage_moves_its_contacts_to_the_chosen_one(inbox_support, admin_ada) -> None:
    entry = sms_in(inbox_support)
    lead, qualified = Stage.objects.get(key="lead"), Stage.objects.get(key="qualified")
    client = Client()
    client.force_login(admin_ada)
    response = client.post(
        "/reports/funnel/stages/", {"action": "delete", "stage": lead.pk, "move_to": qualified.pk}
    )
    assert response.status_code == 302
    assert not Stage.objects.filter(key="lead").exists()
    assert stage_of(entry.conversation.contact) == "qualified"
    assert events(entry.conversation)[-1].endswith("to Qualified (the stage Lead was deleted)")
    # The history keeps the move; the deleted stage's rows lose their pointer, not their times.
    assert StageChange.objects.filter(contact=entry.conversation.contact).count() == 2


def test_admins_edit_the_stages_managers_only_read(admin_ada, manager_maria) -> None:
    admin = Client()
    admin.force_login(admin_ada)
    admin.post(
        "/reports/funnel/stages/",
        {"action": "create", "key": "trial", "name": "Trial", "position": "25", "on_main_line": "1"},
    )
    trial = Stage.objects.get(key="trial")
    assert [s.key for s in Stage.objects.filter(on_main_line=True)][2:4] == ["qualified", "trial"]
    admin.post(
        "/reports/funnel/stages/",
        {"action": "update", "stage": trial.pk, "name": "Free trial", "position": "35"},
    )
    trial.refresh_from_db()
    assert (trial.name, trial.position, trial.on_main_line) == ("Free trial", 35, False)
    manager = Client()
    manager.force_login(manager_maria)
    assert manager.get("/reports/funnel/stages/").status_code == 200
    assert manager.post("/reports/funnel/stages/", {"action": "delete", "stage": trial.pk}).status_code == 403

"""Merging two contacts of one person leaves one lifecycle: the funnel counts the person once."""

from __future__ import annotations

from datetime import UTC, datetime

import pytest

from contacts.models import Contact
from conversations.customers import contact_merge, contact_unmerge
from conversations.models import Entry, Inbox
from lifecycle.models import ContactStage, Stage, StageChange
from lifecycle.selectors import Period, funnel_report
from tests.lifecycle.test_funnel_report import person

MARCH = Period(datetime(2026, 3, 1).date(), datetime(2026, 3, 31).date())


def at(day: int) -> datetime:
    return datetime(2026, 3, day, 12, 0, tzinfo=UTC)


def now_counts() -> dict[str, int]:
    report = funnel_report(period=MARCH)
    return {row.stage.key: row.now for row in report.main + report.side if row.now}


@pytest.mark.django_db
def test_a_merge_counts_the_person_once_further_along_and_an_unmerge_gives_each_back(
    inbox_support: Inbox, inbox_sales: Inbox, agent_alice
) -> None:
    # Dana texted first and is a lead; her anonymous web chat self bought before she was recognized.
    dana = person("Dana", "sms", inbox_support, at(2), ("lead", at(2)))
    chat = person("Dana (chat)", "webchat", inbox_sales, at(5), ("lead", at(5)), ("customer", at(9)))
    assert now_counts() == {"lead": 1, "customer": 1}
    assert funnel_report(period=MARCH).main[1].reached == 2  # two "people" reached lead

    contact_merge(source=chat, into=dana, by=agent_alice)

    assert now_counts() == {"customer": 1}
    row = ContactStage.objects.select_related("stage", "furthest_stage").get(contact=dana)
    assert (row.stage.key, row.furthest_stage.key) == ("customer", "customer")
    assert (row.first_contact_at, row.first_channel) == (at(2), "sms")  # her first contact stays hers
    report = funnel_report(period=MARCH)
    reached = {r.stage.key: r.reached for r in report.main}
    assert (reached["lead"], reached["customer"]) == (1, 1)
    assert not ContactStage.objects.filter(contact=chat).exists()
    assert not StageChange.objects.filter(contact=chat).exists()
    # The survivor moved forward by the merge rule, and the thread says so.
    moved = Entry.objects.get(
        conversation__contact=dana, event_type="contact.stage_changed", data__rule="merge"
    )
    assert "merged with Dana (chat)" in moved.body

    contact_unmerge(merged=Contact.objects.get(pk=chat.pk), by=agent_alice)
    chat_row = ContactStage.objects.select_related("stage").get(contact=chat)
    assert (chat_row.stage.key, chat_row.first_channel, chat_row.first_contact_at) == (
        "customer",
        "webchat",
        at(5),
    )
    assert StageChange.objects.filter(contact=chat).count() == 2
    assert StageChange.objects.get(contact=chat, to_stage__key="customer").left_at is None
    # The merge's move was still where Dana stood: she is a lead again, as before the merge.
    assert now_counts() == {"lead": 1, "customer": 1}
    dana_row = ContactStage.objects.select_related("stage", "furthest_stage").get(contact=dana)
    assert (dana_row.stage.key, dana_row.furthest_stage.key, dana_row.first_channel) == (
        "lead",
        "lead",
        "sms",
    )
    assert StageChange.objects.get(contact=dana).left_at is None


@pytest.mark.django_db
def test_a_survivor_without_a_stage_takes_the_other_contacts_lifecycle(
    inbox_support: Inbox, agent_alice
) -> None:
    from tests import factories

    anonymous = person("Visitor", "webchat", inbox_support, at(4), ("lead", at(4)), ("qualified", at(6)))
    known = factories.ContactFactory(name="Sam")
    contact_merge(source=anonymous, into=known, by=agent_alice)
    row = ContactStage.objects.select_related("stage").get(contact=known)
    assert (row.stage.key, row.first_channel, row.first_contact_at) == ("qualified", "webchat", at(4))
    assert StageChange.objects.filter(contact=known).count() == 2
    assert now_counts() == {"qualified": 1}
    contact_unmerge(merged=Contact.objects.get(pk=anonymous.pk), by=agent_alice)
    assert ContactStage.objects.get(contact=anonymous).stage == Stage.objects.get(key="qualified")
    assert not ContactStage.objects.filter(contact=known).exists()


@pytest.mark.django_db
def test_a_merge_never_moves_a_churned_customer_back_into_the_funnel(
    inbox_support: Inbox, agent_alice
) -> None:
    churned = person(
        "Lee", "sms", inbox_support, at(1), ("lead", at(1)), ("customer", at(3)), ("churned", at(8))
    )
    chat = person("Lee (chat)", "webchat", inbox_support, at(10), ("lead", at(10)))
    contact_merge(source=chat, into=churned, by=agent_alice)
    row = ContactStage.objects.select_related("stage", "furthest_stage").get(contact=churned)
    assert (row.stage.key, row.furthest_stage.key) == ("churned", "customer")
    assert now_counts() == {"churned": 1}


@pytest.mark.django_db
def test_a_stage_move_on_a_merged_away_contact_moves_the_survivor(inbox_support: Inbox, agent_alice) -> None:
    from lifecycle.services import stage_move

    dana = person("Dana", "sms", inbox_support, at(2), ("lead", at(2)))
    chat = person("Dana (chat)", "webchat", inbox_support, at(5), ("lead", at(5)))
    contact_merge(source=chat, into=dana, by=agent_alice)
    stage_move(contact=chat, stage=Stage.objects.get(key="qualified"), by=agent_alice)
    assert not ContactStage.objects.filter(contact=chat).exists()
    assert now_counts() == {"qualified": 1}

"""The lead score: folded from the domain events as they happen, weighed by the admin, decaying, explained."""

from __future__ import annotations

import json
from datetime import timedelta
from typing import Any

import pytest
from django.core.management import call_command
from django.test import Client
from django.utils import timezone

from contacts.models import Contact
from conversations.customers import contact_merge, contact_unmerge
from conversations.models import Conversation, Entry, Inbox
from conversations.services import conversation_get_or_create, entry_append
from events.models import DomainEvent
from events.services import events_dispatch
from lifecycle.models import LeadScore, LeadScoreWeight, LeadSignal, Stage
from lifecycle.scores import (
    lead_score_explain,
    lead_score_weights_seed,
    lead_scores_of,
    lead_scores_recompute,
    scores_annotate,
)
from lifecycle.services import stage_move, touchpoint_record
from tests.conftest import sms_in, twilio_fixture


@pytest.fixture(autouse=True)
def weights(db: Any) -> None:
    lead_score_weights_seed()  # the defaults, as after migrate (a transactional test may have flushed them)


def reasons(contact: Contact) -> list[str]:
    explained = lead_score_explain(contact_id=contact.pk)
    return [] if explained is None else [reason.label for reason in explained.reasons]


def score(contact: Contact) -> int | None:
    explained = lead_score_explain(contact_id=contact.pk)
    return None if explained is None else explained.score


def visit(contact: Contact, kind: str, key: str, days_ago: float = 0, **payload: str) -> None:
    touchpoint_record(
        contact=contact,
        type=kind,
        client_key=key,
        occurred_at=timezone.now() - timedelta(days=days_ago),
        payload=payload,
    )


def put(client: Client, body: dict[str, Any], method: str = "patch") -> Any:
    call = client.patch if method == "patch" else client.put
    return call("/api/v1/lead-score/weights/", json.dumps(body), content_type="application/json")


def admin_client(user: Any) -> Client:
    client = Client()
    client.force_login(user)
    return client


def test_a_text_through_the_webhook_scores_the_lead_with_its_reasons(
    deliver_inbound: Any, inbox_support: Inbox
) -> None:
    deliver_inbound(twilio_fixture("inbound_sms"))
    contact = Conversation.objects.get(contact__identities__address="+14155550142").contact
    # The stream carried it: the event is in the outbox, and the score was folded in its transaction.
    assert DomainEvent.objects.filter(type="message.received", contact_id=contact.pk).exists()
    assert events_dispatch() >= 0  # consumers take the stream; the score needs none of them
    assert reasons(contact) == ["+5 replied once"]
    LeadScoreWeight.objects.create(signal=f"source_inbox:{inbox_support.pk}", points=7)
    LeadScoreWeight.objects.create(signal="source_channel:sms", points=3)
    lead_scores_recompute()
    assert reasons(contact) == [
        f"+7 first wrote to {inbox_support.name}",
        "+5 replied once",
        "+3 came through sms",
    ]
    assert score(contact) == 15


def test_pricing_views_and_a_weight_change_by_the_admin(inbox_support: Inbox, admin_ada: Any) -> None:
    dana = Contact.objects.create(name="Dana")
    visit(dana, "pricing_view", "pv-1")
    visit(dana, "pricing_view", "pv-2")
    visit(dana, "demo_booked", "demo-1", utm_campaign="spring-sale")
    assert reasons(dana) == ["+30 demo booked once", "+20 pricing view twice"]
    assert score(dana) == 50

    response = put(
        admin_client(admin_ada),
        {"weights": {"touchpoint:pricing_view": 15, "source_campaign:spring-sale": 4}},
    )
    assert response.status_code == 200, response.content
    assert reasons(dana) == ["+30 demo booked once", "+30 pricing view twice", "+4 campaign spring-sale"]
    assert score(dana) == 64
    assert lead_scores_of([dana.pk]) == {dana.pk: 64}
    # The weight change moved the stored score by the difference: the same as rewriting it from the signals.
    lead_scores_recompute()
    assert lead_scores_of([dana.pk]) == {dana.pk: 64}


@pytest.mark.parametrize(
    ("weights", "reason"),
    [
        ({"touchpoint:pricing_view": 101}, "must be from -100 to 100; 101 is out of range"),
        ({"touchpoint:pricing_view": "lots"}, "are a whole number"),
        ({"page_views": 5}, "No signal 'page_views': a signal is one of reply"),
        ({"stage:nonexistent": 5}, "No signal 'stage:nonexistent'"),
        ({"source_channel:fax": 5}, "No signal 'source_channel:fax'"),
    ],
)
def test_a_bad_weight_is_refused_with_the_reason_and_changes_nothing(
    admin_ada: Any, weights: dict[str, Any], reason: str
) -> None:
    before = dict(LeadScoreWeight.objects.values_list("signal", "points"))
    # A good weight in the same request is not applied either: all or nothing.
    response = put(admin_client(admin_ada), {"weights": {"reply": 9, **weights}})
    assert response.status_code == 400
    assert reason in response.content.decode()
    assert dict(LeadScoreWeight.objects.values_list("signal", "points")) == before


def test_only_admins_change_weights(agent_alice: Any, manager_maria: Any) -> None:
    for user in (agent_alice, manager_maria):
        assert put(admin_client(user), {"weights": {"reply": 9}}).status_code == 403
    assert LeadScoreWeight.objects.get(signal="reply").points == 5


def test_the_settings_form_saves_and_refuses_keeping_what_was_typed(
    admin_ada: Any, manager_maria: Any
) -> None:
    client = admin_client(admin_ada)
    page = client.get("/inbox/settings/lead-score/")
    assert page.status_code == 200 and b"touchpoint:pricing_view" in page.content
    signals = list(LeadScoreWeight.objects.values_list("signal", flat=True))
    points = [str(LeadScoreWeight.objects.get(signal=s).points) for s in signals]
    bad = client.post(
        "/inbox/settings/lead-score/",
        {"signal": [*signals, "touchpoint:webinar"], "points": [*points, "500"]},
    )
    assert bad.status_code == 400
    assert b"500 is out of range" in bad.content and b'value="touchpoint:webinar"' in bad.content
    assert not LeadScoreWeight.objects.filter(signal="touchpoint:webinar").exists()
    good = client.post(
        "/inbox/settings/lead-score/",
        {"signal": [*signals, "touchpoint:webinar"], "points": [*points, "12"], "remove": ["fast_reply"]},
    )
    assert good.status_code == 302
    assert LeadScoreWeight.objects.get(signal="touchpoint:webinar").points == 12
    assert not LeadScoreWeight.objects.filter(signal="fast_reply").exists()
    assert admin_client(manager_maria).post("/inbox/settings/lead-score/", {}).status_code == 403


def test_points_decay_with_the_half_life_and_silence_costs(settings: Any, inbox_support: Inbox) -> None:
    settings.LEAD_SCORE_HALF_LIFE_DAYS = 30
    erin = Contact.objects.create(name="Erin")
    visit(erin, "demo_booked", "demo-old", days_ago=30)  # one half-life ago: 30 -> 15
    # Nothing from her in 30 days either (her first contact was that demo): the silence weighs.
    assert reasons(erin) == ["+15 demo booked once", "-10 no reply in 30 days"]
    conversation = conversation_get_or_create(contact=erin)
    entry_append(
        conversation=conversation,
        kind="message",
        direction="inbound",
        channel="sms",
        inbox=inbox_support,
        body="still interested?",
        created_at=timezone.now() - timedelta(days=45),
    )
    # Her last message is 45 days old: the silence weighs, and the old reply has faded to a third or so.
    assert "-10 no reply in 30 days" in reasons(erin)
    assert score(erin) == round(15 + 5 * 0.5**1.5 - 10)
    ranked = scores_annotate(Contact.objects.filter(pk=erin.pk), prefix="lead_score__").get()
    assert round(ranked.score_now) == score(erin)


def test_a_fast_answer_counts_and_a_slow_one_does_not(inbox_support: Inbox, agent_alice: Any) -> None:
    first = sms_in(inbox_support, "Hi, price for 10 seats?", phone="+14155550100")
    conversation = first.conversation
    entry_append(
        conversation=conversation,
        kind="message",
        direction="outbound",
        channel="sms",
        inbox=inbox_support,
        body="It is $90",
        author=agent_alice,
    )
    sms_in(inbox_support, "Great, let's do it", conversation=conversation)
    contact = conversation.contact
    assert reasons(contact) == ["+10 replied twice", "+5 answered within an hour once"]
    entry_append(
        conversation=conversation,
        kind="message",
        direction="outbound",
        channel="sms",
        inbox=inbox_support,
        body="Sent the invoice",
        author=agent_alice,
        created_at=timezone.now() - timedelta(hours=3),
    )
    Entry.objects.filter(conversation=conversation, direction="outbound").update(
        created_at=timezone.now() - timedelta(hours=3)
    )
    sms_in(inbox_support, "Paid", conversation=conversation)
    assert reasons(contact) == ["+15 replied 3 times", "+5 answered within an hour once"]


def test_the_stage_counts_while_it_holds(inbox_support: Inbox) -> None:
    frank = Contact.objects.create(name="Frank")
    stage_move(contact=frank, stage=Stage.objects.get(key="qualified"), by=None)
    assert reasons(frank) == ["+20 stage Qualified"]
    stage_move(contact=frank, stage=Stage.objects.get(key="customer"), by=None)
    assert reasons(frank) == []
    assert score(frank) == 0


def test_a_merge_hands_the_history_to_the_survivor_counted_once_and_an_unmerge_gives_it_back(
    agent_alice: Any,
) -> None:
    dana = Contact.objects.create(name="Dana")
    chat = Contact.objects.create(name="Dana (chat)")
    visit(dana, "pricing_view", "pv-d")
    visit(chat, "pricing_view", "pv-c1")
    visit(chat, "pricing_view", "pv-c2")
    visit(chat, "demo_booked", "demo-c")

    contact_merge(source=chat, into=dana, by=agent_alice)

    assert reasons(dana) == ["+30 demo booked once", "+30 pricing view 3 times"]
    assert not LeadSignal.objects.filter(contact=chat).exists()
    assert not LeadScore.objects.filter(contact=chat).exists()
    # Recomputing everything counts the history once more, never twice.
    lead_scores_recompute()
    assert score(dana) == 60 and lead_scores_of([dana.pk, chat.pk]) == {dana.pk: 60}

    contact_unmerge(merged=Contact.objects.get(pk=chat.pk), by=agent_alice)
    assert reasons(dana) == ["+10 pricing view once"]
    assert reasons(chat) == ["+30 demo booked once", "+20 pricing view twice"]


def test_a_weight_change_recomputes_every_score_in_a_few_statements(
    admin_ada: Any, django_assert_max_num_queries: Any
) -> None:
    contacts = [Contact.objects.create(name=f"Lead {n}") for n in range(30)]
    for n, contact in enumerate(contacts):
        for visit_no in range(n % 3 + 1):
            visit(contact, "pricing_view", f"pv-{n}-{visit_no}")
    client = admin_client(admin_ada)
    client.get("/api/v1/lead-score/weights/")  # the session and the user, loaded once
    with django_assert_max_num_queries(20):  # the same for 30 contacts as for 100,000: no loop per contact
        assert put(client, {"weights": {"touchpoint:pricing_view": 7}}).status_code == 200
    assert lead_scores_of([c.pk for c in contacts[:3]]) == {
        contacts[0].pk: 7,
        contacts[1].pk: 14,
        contacts[2].pk: 21,
    }


def test_rescore_command_folds_the_stream_again(inbox_support: Inbox) -> None:
    gail = Contact.objects.create(name="Gail")
    visit(gail, "pricing_view", "pv-g")
    sms_in(inbox_support, "hello", phone="+14155550111")
    LeadSignal.objects.all().delete()
    LeadScore.objects.all().delete()
    call_command("lead_scores_rescore")
    assert reasons(gail) == ["+10 pricing view once"]
    other = Contact.objects.get(identities__address="+14155550111")
    assert reasons(other) == ["+5 replied once"]


def test_the_api_shows_a_contacts_score(manager_maria: Any) -> None:
    dana = Contact.objects.create(name="Dana")
    visit(dana, "demo_booked", "demo-api")
    response = admin_client(manager_maria).get(f"/api/v1/contacts/{dana.pk}/score/")
    assert response.status_code == 200, response.content
    data = response.json()
    assert data["lead_score"] == {
        "score": 30,
        "band": "warm",
        "reasons": [{"points": 30, "text": "demo booked once"}],
    }


def lead_thread(inbox: Inbox, phone: str, name: str, demos: int) -> Conversation:
    entry = sms_in(inbox, "Hi", phone=phone)
    contact = entry.conversation.contact
    Contact.objects.filter(pk=contact.pk).update(name=name)
    for n in range(demos):
        visit(contact, "demo_booked", f"demo-{phone}-{n}")
    return Conversation.objects.select_related("contact").get(pk=entry.conversation_id)


def test_the_list_shows_sorts_and_filters_by_score_and_the_panel_explains(
    inbox_support: Inbox, alice_client: Client
) -> None:
    cold = lead_thread(inbox_support, "+14155550121", "Cold Carl", demos=0)  # 5: one reply
    hot = lead_thread(inbox_support, "+14155550122", "Hot Hana", demos=2)  # 65
    Conversation.objects.filter(pk=hot.pk).update(last_activity_at=timezone.now() - timedelta(hours=2))

    latest = alice_client.get("/inbox/").content.decode()
    assert latest.index("Cold Carl") < latest.index("Hot Hana")  # latest activity first
    assert "★ 65" in latest and "★ 5" in latest
    best = alice_client.get("/inbox/?sort=score").content.decode()
    assert best.index("Hot Hana") < best.index("Cold Carl")
    hot_only = alice_client.get("/inbox/?score=50").content.decode()
    assert "Hot Hana" in hot_only and "Cold Carl" not in hot_only
    saved = alice_client.post("/inbox/views/", {"name": "Hot leads", "score": "50", "sort": "score"})
    assert (
        saved.status_code == 201 and "score=50" in saved.json()["url"] and "sort=score" in saved.json()["url"]
    )

    panel = alice_client.get(f"/inbox/{hot.pk}/").content.decode()
    assert 'id="lead-score-value" data-score="65"' in panel
    assert "+60 demo booked twice" in panel and "+5 replied once" in panel
    assert cold.pk  # both threads are Alice's to see


def test_leaks_sort_by_score(inbox_support: Inbox) -> None:
    from lifecycle.selectors import LeakItem, leaks_listed

    now = timezone.now()
    cold = lead_thread(inbox_support, "+14155550131", "Cold", demos=0)
    hot = lead_thread(inbox_support, "+14155550132", "Hot", demos=1)
    nobody = conversation_get_or_create(contact=Contact.objects.create(name="No score"))
    leaks = [
        LeakItem(c.pk, c.contact.name, "unanswered", now - timedelta(minutes=n), "waiting", now)
        for n, c in enumerate((nobody, cold, hot))
    ]
    listed = leaks_listed(leaks, sort="score")
    assert [(leak.contact_name, leak.score) for leak in listed.items] == [
        ("Hot", 35),
        ("Cold", 5),
        ("No score", None),
    ]


def test_the_funnel_breaks_down_by_campaign_and_score_band() -> None:
    from lifecycle.selectors import funnel_report, period_parse

    def lead(name: str, campaign: str, demos: int, *stages: str) -> None:
        contact = Contact.objects.create(name=name)
        visit(contact, "pricing_view", f"pv-{name}", utm_campaign=campaign)
        for n in range(demos):
            visit(contact, "demo_booked", f"demo-{name}-{n}")
        for key in stages:
            stage_move(contact=contact, stage=Stage.objects.get(key=key), by=None)

    lead("A", "spring", 2, "lead", "customer")  # 10 + 60 (+ stage weights): hot, converted
    lead("B", "spring", 0, "lead")  # 10: cold
    lead("C", "winter", 1, "lead")  # 40: warm
    report = funnel_report(period=period_parse())
    stages = [row.stage.key for row in report.main]
    lead_at, customer_at = stages.index("lead"), stages.index("customer")

    def reached(dimension: str) -> dict[str, tuple[int, int]]:
        return {
            row.label: (row.reached[lead_at], row.reached[customer_at])
            for row in report.breakdowns[dimension]
        }

    assert reached("campaign") == {"spring": (2, 1), "winter": (1, 0)}
    assert reached("lead score") == {
        "hot (★ 50+)": (1, 1),
        "warm (★ 20 to 49)": (1, 0),
        "cold (under ★ 20)": (1, 0),
    }


def test_an_unmerge_gives_each_the_stage_points_of_the_stage_it_gets_back(agent_alice: Any) -> None:
    dana = Contact.objects.create(name="Dana")
    other = Contact.objects.create(name="Dana (email)")
    stage_move(contact=dana, stage=Stage.objects.get(key="lead"), by=None)
    stage_move(contact=other, stage=Stage.objects.get(key="qualified"), by=None)

    contact_merge(source=other, into=dana, by=agent_alice)
    assert reasons(dana) == ["+20 stage Qualified"]  # the merge moved her forward, and the score follows

    contact_unmerge(merged=Contact.objects.get(pk=other.pk), by=agent_alice)
    assert reasons(dana) == []
    assert reasons(other) == ["+20 stage Qualified"]

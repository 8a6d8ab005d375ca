"""Leaks: each kind found just over its threshold and not just under it (in business time where it applies),
alerted once to the agent or the team, listed live, and sent to managers in a daily digest."""

from __future__ import annotations

import asyncio
from datetime import UTC, datetime, timedelta
from zoneinfo import ZoneInfo

import pytest
from asgiref.sync import async_to_sync
from channels.layers import get_channel_layer
from django.core import mail
from django.test import Client

from contacts.services import contact_resolve
from conversations import realtime
from conversations.hours import open_seconds_between
from conversations.models import Conversation, Inbox
from conversations.services import (
    conversation_assign,
    conversation_get_or_create,
    conversation_set_waiting,
    entry_append,
)
from lifecycle.models import Leak, LeakSettings
from lifecycle.selectors import LeakItem, leaks_current, leaks_listed
from lifecycle.services import leaks_detect, leaks_digest_send, touchpoint_record

WEEKDAYS_9_TO_5 = {day: [["09:00", "17:00"]] for day in ("mon", "tue", "wed", "thu", "fri")}
# Friday 13 March 2026, 16:30 in New York (EDT, UTC-4): half an hour before closing.
FRIDAY_1630 = datetime(2026, 3, 13, 20, 30, tzinfo=UTC)


def ny(day: int, hour: int, minute: int) -> datetime:
    return datetime(2026, 3, day, hour, minute, tzinfo=ZoneInfo("America/New_York"))


def thread(phone: str = "+14155550142") -> Conversation:
    contact, _ = contact_resolve(kind="phone", address=phone, name="Dana Whitaker")
    return conversation_get_or_create(contact=contact)


def message(conversation: Conversation, inbox: Inbox, when: datetime, direction: str = "inbound") -> None:
    entry_append(
        conversation=conversation,
        kind="message",
        direction=direction,
        channel="sms",
        inbox=inbox,
        body="Hi",
        created_at=when,
    )


def kinds(now: datetime) -> list[str]:
    return [leak.kind for leak in leaks_current(now=now)]


@pytest.fixture
def office_inbox(inbox_support: Inbox) -> Inbox:
    inbox_support.time_zone = "America/New_York"
    inbox_support.business_hours = WEEKDAYS_9_TO_5
    inbox_support.target_response_minutes = 60
    inbox_support.save()
    return inbox_support


# --- business time -----------------------------------------------------------------------------------
def test_business_time_counts_only_open_hours(office_inbox: Inbox) -> None:
    assert open_seconds_between(office_inbox, FRIDAY_1630, ny(14, 12, 0)) == 30 * 60  # Saturday: closed
    assert open_seconds_between(office_inbox, FRIDAY_1630, ny(16, 9, 29)) == 59 * 60
    office_inbox.business_hours = {"fri": [["22:00", "02:00"]]}  # overnight into Saturday
    assert open_seconds_between(office_inbox, ny(13, 21, 0), ny(14, 1, 30)) == 3.5 * 3600
    office_inbox.holidays = ["2026-03-14"]  # Saturday is a holiday: the morning part is closed too
    assert open_seconds_between(office_inbox, ny(13, 21, 0), ny(14, 1, 30)) == 2 * 3600


# --- an unanswered message, at the business-hours edges -------------------------------------------
def test_a_message_left_over_the_weekend_leaks_a_minute_after_target(office_inbox: Inbox) -> None:
    conversation = thread()
    message(conversation, office_inbox, FRIDAY_1630)
    assert kinds(ny(14, 12, 0)) == []  # Saturday noon: 30 business minutes
    assert kinds(ny(16, 9, 29)) == []  # Monday 09:29: 59 minutes, just under
    assert kinds(ny(16, 9, 30)) == []  # exactly the target is not over it
    [leak] = leaks_current(now=ny(16, 9, 31))  # 61 minutes, just over
    assert leak.kind == Leak.UNANSWERED and leak.conversation_id == conversation.pk
    assert "unanswered for 1 h 01 min of business time (target 1 h 00 min)" in leak.reason
    assert leak.team_name == "Support"
    message(conversation, office_inbox, ny(16, 9, 32), direction="outbound")
    assert kinds(ny(16, 9, 33)) == []


def test_a_holiday_monday_does_not_count(office_inbox: Inbox) -> None:
    office_inbox.holidays = ["2026-03-16"]
    office_inbox.save()
    message(thread(), office_inbox, FRIDAY_1630)
    assert kinds(ny(16, 16, 0)) == []
    assert kinds(ny(17, 9, 29)) == []
    assert kinds(ny(17, 9, 31)) == [Leak.UNANSWERED]


# --- a missed call not called back ------------------------------------------------------------------
def test_a_missed_call_not_called_back_within_the_threshold(inbox_sales: Inbox) -> None:
    conversation = thread()
    rang = datetime(2026, 3, 10, 15, 0, tzinfo=UTC)
    entry_append(
        conversation=conversation, kind="call", direction="inbound", channel="voice", inbox=inbox_sales,
        created_at=rang, data={"call_outcome": "voicemail"}, awaits_reply=False,
    )  # fmt: skip
    conversation_set_waiting(conversation=conversation, since=rang)
    LeakSettings.objects.update_or_create(pk=1, defaults={"callback_minutes": 30})
    assert kinds(rang + timedelta(minutes=29)) == []
    [leak] = leaks_current(now=rang + timedelta(minutes=31))
    assert leak.kind == Leak.CALLBACK and leak.reason.startswith("voicemail not called back")
    entry_append(conversation=conversation, kind="call", direction="outbound", channel="voice", inbox=inbox_sales,
                 created_at=rang + timedelta(minutes=40))  # fmt: skip
    assert kinds(rang + timedelta(minutes=41)) == []


# --- a lead gone quiet ---------------------------------------------------------------------------------
def test_a_lead_with_no_touch_for_n_days(inbox_sales: Inbox) -> None:
    conversation = thread()
    first = datetime(2026, 3, 1, 10, 0, tzinfo=UTC)
    message(conversation, inbox_sales, first)  # the first message: a lead
    message(conversation, inbox_sales, first + timedelta(minutes=10), direction="outbound")
    LeakSettings.objects.update_or_create(pk=1, defaults={"stale_lead_days": 7})
    touched = first + timedelta(minutes=10)
    assert kinds(touched + timedelta(days=7, minutes=-1)) == []
    [leak] = leaks_current(now=touched + timedelta(days=7, minutes=1))
    assert leak.kind == Leak.STALE_LEAD and leak.since == touched
    assert leak.reason == "lead with no message or call for 7 days"


# --- a new customer not followed up ------------------------------------------------------------------
def test_a_new_customer_with_no_follow_up_within_n_days(db) -> None:
    conversation = thread()
    bought = datetime(2026, 3, 5, 18, 0, tzinfo=UTC)
    touchpoint_record(contact=conversation.contact, type="purchase", client_key="o-1", occurred_at=bought)
    LeakSettings.objects.update_or_create(pk=1, defaults={"customer_followup_days": 3})
    assert kinds(bought + timedelta(days=3, minutes=-1)) == []
    [leak] = leaks_current(now=bought + timedelta(days=3, minutes=1))
    assert leak.kind == Leak.NO_FOLLOWUP and leak.reason.startswith("became a customer 3 days ago")
    entry_append(conversation=conversation, kind="message", direction="outbound", channel="sms", body="Thanks!",
                 created_at=bought + timedelta(days=3, minutes=2))  # fmt: skip
    assert kinds(bought + timedelta(days=3, minutes=3)) == []


# --- detection, alerts, the list, the digest ----------------------------------------------------------
def _listen(group: str) -> str:
    layer = get_channel_layer()
    listener = async_to_sync(layer.new_channel)()
    async_to_sync(layer.group_add)(group, listener)
    return listener


def _frame(listener: str) -> dict:
    layer = get_channel_layer()

    async def receive() -> dict:
        return (await asyncio.wait_for(layer.receive(listener), timeout=5))["frame"]

    return async_to_sync(receive)()


def test_detection_alerts_the_assigned_agent_once_and_resolves(
    office_inbox: Inbox, agent_alice, django_capture_on_commit_callbacks
) -> None:
    conversation = thread()
    message(conversation, office_inbox, FRIDAY_1630)
    conversation_assign(conversation=conversation, assignee=agent_alice, by=agent_alice)
    listener = _listen(realtime.group_agent(agent_alice.pk))
    with django_capture_on_commit_callbacks(execute=True):
        run = leaks_detect(now=ny(16, 9, 31))
    assert (run.found, run.new) == (1, 1)
    frame = _frame(listener)
    assert frame["type"] == "leak.detected" and frame["conversation"] == conversation.pk
    assert frame["alert"]["url"] == f"/inbox/{conversation.pk}/"
    assert frame["alert"]["text"].startswith("Dana Whitaker: message unanswered")
    with django_capture_on_commit_callbacks(execute=True) as callbacks:
        again = leaks_detect(now=ny(16, 9, 40))
    assert again.new == 0 and callbacks == []  # alerted once
    message(conversation, office_inbox, ny(16, 9, 45), direction="outbound")
    with django_capture_on_commit_callbacks(execute=True):
        assert leaks_detect(now=ny(16, 9, 50)).resolved == 1
    assert Leak.objects.get().resolved_at == ny(16, 9, 50)
    plugged = _frame(listener)  # the agent's tray drops the alert
    assert plugged["type"] == "leak.plugged" and plugged["conversation"] == conversation.pk
    assert plugged["alert"] == {"kind": "unanswered"}


def test_an_unassigned_leak_alerts_the_team(office_inbox: Inbox, django_capture_on_commit_callbacks) -> None:
    message(thread(), office_inbox, FRIDAY_1630)
    listener = _listen(realtime.group_inbox(office_inbox.pk))
    with django_capture_on_commit_callbacks(execute=True):
        leaks_detect(now=ny(16, 10, 0))
    assert _frame(listener)["type"] == "leak.detected"


def test_the_live_list_links_to_the_thread_and_respects_teams(
    office_inbox: Inbox, manager_maria, agent_alice, agent_bob
) -> None:
    conversation = thread()
    message(conversation, office_inbox, FRIDAY_1630)
    for user, sees in ((manager_maria, True), (agent_alice, True), (agent_bob, False)):
        client = Client()
        client.force_login(user)
        page = client.get("/reports/leaks/")
        assert page.status_code == 200
        assert (f'<a href="/inbox/{conversation.pk}/">Dana Whitaker</a>' in page.content.decode()) is sees


def test_managers_set_the_thresholds(office_inbox: Inbox, manager_maria, alice_client: Client) -> None:
    client = Client()
    client.force_login(manager_maria)
    form = {"callback_minutes": "15", "stale_lead_days": "10", "customer_followup_days": "2", "digest_hour_utc": "7",
            f"inbox_{office_inbox.pk}": "30"}  # fmt: skip
    assert client.post("/reports/leaks/settings/", form).status_code == 302
    row = LeakSettings.objects.get()
    assert (row.callback_minutes, row.stale_lead_days, row.customer_followup_days, row.digest_hour_utc) == (
        15,
        10,
        2,
        7,
    )
    office_inbox.refresh_from_db()
    assert office_inbox.target_response_minutes == 30
    bad = client.post("/reports/leaks/settings/", {**form, "stale_lead_days": "0"})
    assert "Thresholds are at least 1" in client.get(bad["Location"]).content.decode()
    assert alice_client.post("/reports/leaks/settings/", form).status_code == 403


def test_the_daily_digest_goes_to_managers_once_a_day(office_inbox: Inbox, manager_maria, settings) -> None:
    settings.EMAIL_SANDBOX = False
    settings.EMAIL_BACKEND = "anymail.backends.test.EmailBackend"
    manager_maria.email = "maria@shoes.example"
    manager_maria.save()
    conversation = thread()
    message(conversation, office_inbox, FRIDAY_1630)
    LeakSettings.objects.update_or_create(pk=1, defaults={"digest_hour_utc": 8})
    assert leaks_digest_send(now=datetime(2026, 3, 17, 7, 59, tzinfo=UTC)) is False  # before the hour
    assert leaks_digest_send(now=datetime(2026, 3, 17, 8, 0, tzinfo=UTC)) is True
    assert leaks_digest_send(now=datetime(2026, 3, 17, 9, 0, tzinfo=UTC)) is False  # once a day
    [email] = mail.outbox
    assert email.to == ["maria@shoes.example"]
    assert email.subject == "Funnel leaks: 1 contact to follow up"
    assert f"https://hub.example.test/inbox/{conversation.pk}/" in email.body
    assert leaks_digest_send(now=datetime(2026, 3, 18, 8, 0, tzinfo=UTC)) is True
    assert len(mail.outbox) == 2


def test_only_a_missed_call_or_voicemail_is_a_call_not_returned(inbox_sales: Inbox) -> None:
    conversation = thread()
    rang = datetime(2026, 3, 10, 15, 0, tzinfo=UTC)
    entry_append(conversation=conversation, kind="call", direction="inbound", channel="voice", inbox=inbox_sales,
                 created_at=rang, data={"call_outcome": "answered"})  # fmt: skip
    assert kinds(rang + timedelta(hours=2)) == [Leak.UNANSWERED]


def test_the_leaks_page_lists_newest_first_counts_each_reason_and_filters(
    office_inbox: Inbox, manager_maria
) -> None:
    older, newer = thread("+14155550142"), thread("+14155550143")
    message(older, office_inbox, FRIDAY_1630)
    message(newer, office_inbox, ny(16, 11, 0))
    client = Client()
    client.force_login(manager_maria)
    html = client.get("/reports/leaks/").content.decode()
    assert html.index(f'data-conversation="{newer.pk}"') < html.index(f'data-conversation="{older.pk}"')
    assert 'data-reason-count="unanswered">2<' in html and 'data-reason-count="callback">0<' in html
    html = client.get("/reports/leaks/?sort=oldest").content.decode()
    assert html.index(f'data-conversation="{older.pk}"') < html.index(f'data-conversation="{newer.pk}"')
    html = client.get("/reports/leaks/?reason=callback").content.decode()
    assert f'data-conversation="{older.pk}"' not in html and "None of these." in html
    assert 'data-reason-count="unanswered">2<' in html, "the counts stay while one reason is shown"


def test_leaks_are_filtered_by_reason_team_and_agent() -> None:
    now = datetime(2026, 3, 16, 12, 0, tzinfo=UTC)

    def item(pk: int, kind: str, hours: int, assignee: int | None, team: str) -> LeakItem:
        return LeakItem(
            pk, f"C{pk}", kind, now - timedelta(hours=hours), "why", now, assignee, f"A{assignee}", 1, team
        )

    leaks = [item(1, "unanswered", 5, 7, "Sales"), item(2, "callback", 1, None, "Support"),
             item(3, "unanswered", 2, 8, "Support")]  # fmt: skip
    assert [leak.conversation_id for leak in leaks_listed(leaks).items] == [2, 3, 1]
    listed = leaks_listed(leaks, kind="unanswered", team="Support")
    assert [leak.conversation_id for leak in listed.items] == [3]
    assert dict((k, n) for k, _, n in listed.counts)["callback"] == 1
    assert [leak.conversation_id for leak in leaks_listed(leaks, assignee="none").items] == [2]
    assert [leak.conversation_id for leak in leaks_listed(leaks, assignee="7").items] == [1]

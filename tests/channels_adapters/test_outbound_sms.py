"""Outbound SMS and WhatsApp: through the Twilio SDK (against a local fake Twilio API), never twice silently."""

from __future__ import annotations

from datetime import timedelta

import pytest
from django.utils import timezone

from channels_adapters.outbound import entry_deliver, message_send, outbound_reconcile
from config.errors import ChannelRuleError, ValidationError
from contacts.models import Identity
from conversations.models import Entry
from tests.conftest import SALES_NUMBER, SUPPORT_NUMBER, thread_of, twilio_fixture

CUSTOMER = "+14155550142"


def send(sms_thread, author, body="Yes, size 9 is back!", **kwargs) -> Entry:
    return message_send(conversation=sms_thread, body=body, author=author, **kwargs)


@pytest.mark.django_db
def test_a_reply_goes_out_through_the_twilio_sdk_from_the_number_the_customer_wrote_to(
    sms_thread, agent_alice, fake_twilio, django_capture_on_commit_callbacks
) -> None:
    with django_capture_on_commit_callbacks(execute=True):
        entry = send(sms_thread, agent_alice)
    [sent] = fake_twilio.wait_for_messages(1)
    assert (sent["to"], sent["from"], sent["body"]) == (CUSTOMER, SUPPORT_NUMBER, "Yes, size 9 is back!")
    assert (
        sent["status_callback"]
        == f"https://hub.example.test/webhooks/twilio/messaging/status/?entry={entry.pk}"
    )
    entry.refresh_from_db()
    assert entry.delivery_status == "sent"
    assert entry.provider_id == sent["sid"]
    sms_thread.refresh_from_db()
    assert not sms_thread.is_unanswered
    assert sms_thread.episodes.get().first_response_at == entry.created_at


@pytest.mark.django_db
def test_the_agent_can_answer_from_another_inbox(
    sms_thread, agent_alice, inbox_sales, fake_twilio, django_capture_on_commit_callbacks, team_sales
) -> None:
    agent_alice.agent.teams.add(team_sales)
    with django_capture_on_commit_callbacks(execute=True):
        send(sms_thread, agent_alice, inbox=inbox_sales)
    assert fake_twilio.wait_for_messages(1)[0]["from"] == SALES_NUMBER


@pytest.mark.django_db
def test_whatsapp_replies_go_to_the_whatsapp_address(
    deliver_inbound, inbox_support, agent_alice, fake_twilio, django_capture_on_commit_callbacks
) -> None:
    deliver_inbound(twilio_fixture("inbound_whatsapp"))
    sms_thread = thread_of(CUSTOMER)
    with django_capture_on_commit_callbacks(execute=True):
        entry = send(sms_thread, agent_alice)
    assert entry.channel == "whatsapp"  # the customer's last channel is the default
    [sent] = fake_twilio.wait_for_messages(1)
    assert (sent["to"], sent["from"]) == (f"whatsapp:{CUSTOMER}", f"whatsapp:{SUPPORT_NUMBER}")


@pytest.mark.django_db
def test_status_callbacks_move_the_entry_forward_only_and_idempotently(
    sms_thread, agent_alice, fake_twilio, twilio_post, django_capture_on_commit_callbacks
) -> None:
    with django_capture_on_commit_callbacks(execute=True):
        entry = send(sms_thread, agent_alice)
    entry.refresh_from_db()
    sid = entry.provider_id
    path = "/webhooks/twilio/messaging/status/"
    query = f"entry={entry.pk}"
    delivered = twilio_fixture("status_delivered", MessageSid=sid, SmsSid=sid)
    assert twilio_post(path, delivered, query=query).status_code == 204
    entry.refresh_from_db()
    assert entry.delivery_status == "delivered"
    version = entry.version
    # A late "sent" and a repeated "delivered" change nothing.
    twilio_post(path, twilio_fixture("status_sent", MessageSid=sid, SmsSid=sid), query=query)
    twilio_post(path, delivered, query=query)
    entry.refresh_from_db()
    assert entry.delivery_status == "delivered"
    assert entry.version == version


@pytest.mark.django_db
def test_undelivered_carries_a_reason(
    sms_thread, agent_alice, fake_twilio, twilio_post, django_capture_on_commit_callbacks
) -> None:
    with django_capture_on_commit_callbacks(execute=True):
        entry = send(sms_thread, agent_alice)
    entry.refresh_from_db()
    params = twilio_fixture("status_undelivered", MessageSid=entry.provider_id, SmsSid=entry.provider_id)
    twilio_post("/webhooks/twilio/messaging/status/", params, query=f"entry={entry.pk}")
    entry.refresh_from_db()
    assert entry.delivery_status == "undelivered"
    assert "30003" in entry.status_reason


@pytest.mark.django_db
def test_a_status_callback_that_beats_our_own_bookkeeping_still_finds_the_entry(
    sms_thread, agent_alice, twilio_post
) -> None:
    entry = send(sms_thread, agent_alice)  # queued; no provider id yet (the on-commit send has not run)
    params = twilio_fixture("status_delivered", MessageSid="SMearly", SmsSid="SMearly")
    twilio_post("/webhooks/twilio/messaging/status/", params, query=f"entry={entry.pk}")
    entry.refresh_from_db()
    assert entry.provider_id == "SMearly"
    assert entry.delivery_status == "delivered"


@pytest.mark.django_db
@pytest.mark.parametrize(
    "code,reason",
    [(21211, "not a valid phone number"), (21610, "texted STOP")],
)
def test_errors_that_cannot_succeed_on_retry_fail_at_once_with_a_readable_reason(
    sms_thread, agent_alice, fake_twilio, django_capture_on_commit_callbacks, code, reason
) -> None:
    fake_twilio.state.failures[CUSTOMER] = (400, code, "refused")
    with django_capture_on_commit_callbacks(execute=True):
        entry = send(sms_thread, agent_alice)
    entry.refresh_from_db()
    assert entry.delivery_status == "failed"
    assert reason in entry.status_reason
    assert entry.attempts == 1
    if code == 21610:
        assert Identity.objects.get(address=CUSTOMER).opted_out_at is not None


@pytest.mark.django_db
def test_transient_errors_retry_with_backoff_then_give_up(
    sms_thread, agent_alice, fake_twilio, settings, django_capture_on_commit_callbacks
) -> None:
    settings.OUTBOUND_MAX_ATTEMPTS = 3
    fake_twilio.state.failures[CUSTOMER] = (429, 20429, "Too many requests")
    with django_capture_on_commit_callbacks(execute=True):
        entry = send(sms_thread, agent_alice)
    entry.refresh_from_db()
    assert entry.attempts == 3
    assert entry.delivery_status == "failed"
    assert "Gave up after 3 attempts" in entry.status_reason


@pytest.mark.django_db
def test_a_transient_error_then_success_sends_once(sms_thread, agent_alice, fake_twilio, settings) -> None:
    fake_twilio.state.failures[CUSTOMER] = (429, 20429, "Too many requests")
    entry = send(sms_thread, agent_alice)
    assert entry_deliver(entry_id=entry.pk) is not None  # asks to be retried later
    entry.refresh_from_db()
    assert entry.delivery_status == "queued"
    assert "Retrying" in entry.status_reason
    del fake_twilio.state.failures[CUSTOMER]
    assert entry_deliver(entry_id=entry.pk) is None
    entry.refresh_from_db()
    assert entry.delivery_status == "sent"
    assert len(fake_twilio.messages) == 1


@pytest.mark.django_db
def test_twilio_unreachable_is_transient(sms_thread, agent_alice, settings) -> None:
    settings.TWILIO_API_BASE_URL = "http://127.0.0.1:9"
    entry = send(sms_thread, agent_alice)
    assert entry_deliver(entry_id=entry.pk) is not None
    entry.refresh_from_db()
    assert entry.delivery_status == "queued"


@pytest.mark.django_db
def test_a_send_whose_answer_never_came_is_reconciled_not_resent(
    sms_thread, agent_alice, fake_twilio, settings
) -> None:
    settings.TWILIO_HTTP_TIMEOUT_S = 0.3
    fake_twilio.state.answer_delay_s = 1.0  # Twilio accepts the message, the answer comes too late
    entry = send(sms_thread, agent_alice)
    assert entry_deliver(entry_id=entry.pk) is None
    entry.refresh_from_db()
    assert entry.delivery_status == "sending"
    assert "may have been sent" in entry.status_reason
    # Delivering again (a redelivered task) does not send a second copy.
    entry_deliver(entry_id=entry.pk)
    assert len(fake_twilio.messages) == 1
    fake_twilio.state.answer_delay_s = 0
    Entry.objects.filter(pk=entry.pk).update(sending_started_at=timezone.now() - timedelta(hours=1))
    assert outbound_reconcile()["reconciled"] == 1
    entry.refresh_from_db()
    assert entry.delivery_status == "sent"
    assert entry.provider_id == fake_twilio.messages[0]["sid"]
    assert len(fake_twilio.messages) == 1


@pytest.mark.django_db
def test_a_send_twilio_has_no_record_of_becomes_unknown_for_the_agent(
    sms_thread, agent_alice, fake_twilio
) -> None:
    entry = send(sms_thread, agent_alice)
    Entry.objects.filter(pk=entry.pk).update(
        delivery_status="sending", sending_started_at=timezone.now() - timedelta(hours=1)
    )
    assert outbound_reconcile()["unknown"] == 1
    entry.refresh_from_db()
    assert entry.delivery_status == "unknown"
    assert "send it again" in entry.status_reason
    assert fake_twilio.messages == []


@pytest.mark.django_db
def test_an_opted_out_number_is_not_messaged(deliver_inbound, inbox_support, agent_alice) -> None:
    deliver_inbound(twilio_fixture("inbound_sms", Body="STOP"))
    sms_thread = thread_of(CUSTOMER)
    with pytest.raises(ChannelRuleError, match="texted STOP"):
        send(sms_thread, agent_alice)
    assert not Entry.objects.filter(direction="outbound").exists()
    deliver_inbound(twilio_fixture("inbound_sms", Body="START", MessageSid="SM" + "4" * 32))
    assert send(sms_thread, agent_alice).delivery_status == "queued"


@pytest.mark.django_db
def test_whatsapp_free_form_is_refused_outside_the_24_hour_window(
    deliver_inbound, inbox_support, agent_alice
) -> None:
    deliver_inbound(twilio_fixture("inbound_whatsapp"))
    sms_thread = thread_of(CUSTOMER)
    Entry.objects.filter(channel="whatsapp").update(created_at=timezone.now() - timedelta(hours=25))
    with pytest.raises(ChannelRuleError, match="24 hours"):
        send(sms_thread, agent_alice, channel="whatsapp")
    # SMS is still possible.
    assert send(sms_thread, agent_alice, channel="sms").channel == "sms"


@pytest.mark.django_db
def test_bodies_that_twilio_would_refuse_are_refused_before_queueing(sms_thread, agent_alice) -> None:
    with pytest.raises(ValidationError, match="empty"):
        send(sms_thread, agent_alice, body="   ")
    with pytest.raises(ValidationError, match="1600"):
        send(sms_thread, agent_alice, body="x" * 1601)


@pytest.mark.django_db
def test_without_credentials_outbound_goes_to_the_sandbox(
    sms_thread, agent_alice, settings, django_capture_on_commit_callbacks
) -> None:
    settings.TWILIO_ACCOUNT_SID = ""
    settings.TWILIO_AUTH_TOKEN = ""
    with django_capture_on_commit_callbacks(execute=True):
        entry = send(sms_thread, agent_alice)
    entry.refresh_from_db()
    assert entry.delivery_status == "sent"
    assert entry.data["sandbox"] is True
    from channels_adapters.sandbox import sandbox_records

    [record] = sandbox_records()
    assert (record["to"], record["from"], record["body"]) == (
        CUSTOMER,
        SUPPORT_NUMBER,
        "Yes, size 9 is back!",
    )


@pytest.mark.django_db
def test_a_non_breaking_space_does_not_reach_an_sms(
    sms_thread, agent_alice, fake_twilio, django_capture_on_commit_callbacks
) -> None:
    with django_capture_on_commit_callbacks(execute=True):
        send(sms_thread, agent_alice, body="Price:\u00a0$20")
    assert fake_twilio.wait_for_messages(1)[0]["body"] == "Price: $20"


@pytest.mark.django_db
def test_an_agent_cannot_send_from_an_inbox_they_cannot_see(sms_thread, agent_alice, inbox_sales) -> None:
    with pytest.raises(ValidationError, match="cannot send from that inbox"):
        send(sms_thread, agent_alice, inbox=inbox_sales)


@pytest.mark.django_db
def test_a_twilio_server_error_is_not_retried_blindly(sms_thread, agent_alice, fake_twilio) -> None:
    """A 5xx can come back after Twilio created the message: the entry waits for reconciliation."""
    fake_twilio.state.failures[CUSTOMER] = (502, 0, "Bad gateway")
    entry = send(sms_thread, agent_alice)
    assert entry_deliver(entry_id=entry.pk) is None
    entry.refresh_from_db()
    assert entry.delivery_status == "sending"
    assert "may have been sent" in entry.status_reason


@pytest.mark.django_db
def test_reconciling_never_takes_the_id_of_another_message_with_the_same_text(
    sms_thread, agent_alice, fake_twilio, django_capture_on_commit_callbacks
) -> None:
    with django_capture_on_commit_callbacks(execute=True):
        first = send(sms_thread, agent_alice, body="Thanks!")
    first.refresh_from_db()
    assert first.delivery_status == "sent"
    # The same words again; this attempt never reached Twilio, but the worker died after claiming it.
    second = send(sms_thread, agent_alice, body="Thanks!")
    Entry.objects.filter(pk=second.pk).update(delivery_status="sending", sending_started_at=timezone.now())
    Entry.objects.filter(pk=second.pk).update(sending_started_at=timezone.now() - timedelta(hours=1))
    counts = outbound_reconcile()
    second.refresh_from_db()
    assert counts["unknown"] == 1
    assert second.delivery_status == "unknown"
    assert second.provider_id == ""


@pytest.mark.django_db
def test_one_entry_that_cannot_be_reconciled_does_not_stop_the_others(
    sms_thread, agent_alice, fake_twilio, monkeypatch
) -> None:
    from channels_adapters import outbound

    stuck = [send(sms_thread, agent_alice, body=f"stuck {n}") for n in range(2)]
    Entry.objects.filter(pk__in=[e.pk for e in stuck]).update(
        delivery_status="sending", sending_started_at=timezone.now() - timedelta(hours=1)
    )
    real = outbound._entry_reconcile

    def flaky(entry, *, now):
        if entry.pk == stuck[0].pk:
            raise RuntimeError("boom")
        return real(entry, now=now)

    monkeypatch.setattr(outbound, "_entry_reconcile", flaky)
    assert outbound_reconcile()["unknown"] == 1
    assert Entry.objects.get(pk=stuck[1].pk).delivery_status == "unknown"


@pytest.mark.django_db
def test_send_again_checks_the_channel_rules_again(sms_thread, agent_alice, deliver_inbound) -> None:
    from channels_adapters.outbound import entry_retry

    entry = send(sms_thread, agent_alice)
    Entry.objects.filter(pk=entry.pk).update(delivery_status="failed", status_reason="Twilio error")
    deliver_inbound(twilio_fixture("inbound_sms", Body="STOP", MessageSid="SM" + "5" * 32))
    with pytest.raises(ChannelRuleError, match="texted STOP"):
        entry_retry(entry=entry, by=agent_alice)
    assert Entry.objects.get(pk=entry.pk).delivery_status == "failed"


@pytest.mark.django_db
def test_a_late_callback_about_an_earlier_attempt_does_not_touch_the_new_one(
    sms_thread, agent_alice, fake_twilio, twilio_post, django_capture_on_commit_callbacks
) -> None:
    from channels_adapters.outbound import entry_retry

    fake_twilio.state.failures[CUSTOMER] = (400, 21211, "invalid")
    with django_capture_on_commit_callbacks(execute=True):
        entry = send(sms_thread, agent_alice)
    Entry.objects.filter(pk=entry.pk).update(provider_id="SMfirstattempt")  # Twilio did take the first one
    del fake_twilio.state.failures[CUSTOMER]
    with django_capture_on_commit_callbacks(execute=True):
        entry_retry(entry=Entry.objects.get(pk=entry.pk), by=agent_alice)
    entry.refresh_from_db()
    assert entry.delivery_status == "sent"
    late = twilio_fixture("status_undelivered", MessageSid="SMfirstattempt", SmsSid="SMfirstattempt")
    twilio_post("/webhooks/twilio/messaging/status/", late, query=f"entry={entry.pk}")
    entry.refresh_from_db()
    assert entry.delivery_status == "sent"

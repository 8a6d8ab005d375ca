"""Inbound SMS, MMS and WhatsApp: into the customer's one lifetime thread, once, whatever arrives."""

from __future__ import annotations

from urllib.parse import urlencode

import pytest
from django.test import Client

from channels_adapters.inbound import inbound_event_process, inbound_events_sweep
from channels_adapters.models import InboundEvent
from contacts.models import Contact, Identity
from conversations.models import Attachment, Conversation, Entry, Episode, Inbox
from conversations.services import conversation_set_status
from tests.conftest import (
    PUBLIC_BASE_URL,
    SUPPORT_NUMBER,
    run_concurrently,
    thread_of,
    twilio_fixture,
    twilio_sign,
)
from tests.images import png

PATH = "/webhooks/twilio/messaging/"


@pytest.mark.django_db
def test_an_sms_lands_in_the_customers_lifetime_thread(deliver_inbound, inbox_support) -> None:
    response = deliver_inbound(twilio_fixture("inbound_sms"))
    assert response["Content-Type"].startswith("text/xml")
    assert b"<Response" in response.content and b"<Message" not in response.content
    entry = Entry.objects.get(kind="message")
    assert (entry.kind, entry.channel, entry.direction) == ("message", "sms", "inbound")
    assert entry.body == "Hi, is the blue trail runner back in size 9?"
    assert entry.inbox == inbox_support
    assert entry.provider_id == "SM1f0e8ae6ade43cb3c0ce4525424e404f"
    conversation = thread_of("+14155550142")
    assert conversation.is_unanswered
    assert conversation.status == "open"
    assert Episode.objects.get(conversation=conversation).first_inbound_at == entry.created_at
    assert InboundEvent.objects.get().state == InboundEvent.DONE


@pytest.mark.django_db
def test_sms_and_whatsapp_from_one_number_share_one_thread(deliver_inbound, inbox_support) -> None:
    deliver_inbound(twilio_fixture("inbound_sms"))
    deliver_inbound(twilio_fixture("inbound_whatsapp"))
    assert Contact.objects.count() == 1
    assert Conversation.objects.count() == 1
    messages = Entry.objects.filter(kind="message").order_by("id")
    assert list(messages.values_list("channel", flat=True)) == ["sms", "whatsapp"]
    assert Contact.objects.get().name == "Dana W"


@pytest.mark.django_db
def test_the_same_message_sid_posted_twice_makes_one_entry(deliver_inbound, inbox_support) -> None:
    deliver_inbound(twilio_fixture("inbound_sms"))
    deliver_inbound(twilio_fixture("inbound_sms"))
    assert InboundEvent.objects.count() == 1
    assert Entry.objects.filter(kind="message").count() == 1


@pytest.mark.django_db(transaction=True)
def test_the_same_message_sid_posted_ten_times_concurrently_makes_one_entry(inbox_support) -> None:
    params = twilio_fixture("inbound_sms")
    body = urlencode(params)
    signature = twilio_sign(PUBLIC_BASE_URL + PATH, params)
    statuses = run_concurrently(
        lambda: (
            Client()
            .post(
                PATH,
                data=body,
                content_type="application/x-www-form-urlencoded",
                HTTP_X_TWILIO_SIGNATURE=signature,
            )
            .status_code
        ),
        times=10,
    )
    assert statuses == [200] * 10
    assert InboundEvent.objects.count() == 1
    assert Entry.objects.filter(kind="message").count() == 1


@pytest.mark.django_db(transaction=True)
def test_workers_racing_for_one_event_make_one_entry(inbox_support) -> None:
    event = InboundEvent.objects.create(
        kind="twilio_messaging",
        idempotency_key="twilio:message:SMrace",
        payload=twilio_fixture("inbound_sms", MessageSid="SMrace"),
        received_at="2026-01-01T00:00:00Z",
    )
    run_concurrently(lambda: inbound_event_process(event_id=event.pk), times=5)
    assert Entry.objects.filter(kind="message").count() == 1
    event.refresh_from_db()
    assert event.state == InboundEvent.DONE


@pytest.mark.django_db
@pytest.mark.parametrize("sender", ["AMAZON", "hello there", "12", "+266696687"])
def test_a_sender_that_is_not_a_phone_number_is_stored_raw_and_flagged(
    deliver_inbound, inbox_support, alice_client, sender
) -> None:
    deliver_inbound(twilio_fixture("inbound_sms", From=sender))
    entry = Entry.objects.get(kind="message")
    assert entry.data["invalid_sender"] is True
    identity = Identity.objects.get()
    assert identity.address == sender and not identity.is_valid
    page = alice_client.get(f"/inbox/{entry.conversation_id}/")
    assert page.status_code == 200
    assert b"sender is not a valid phone number" in page.content


@pytest.mark.django_db
@pytest.mark.parametrize(
    "body",
    [
        "x" * 1600,
        "Order arrived 🎉👟 thanks! 👍🏽",
        "مرحبا، هل الطلب جاهز؟",
        '<script>window.__xss = 1</script><img src=x onerror="window.__xss=1">',
        "<b>bold?</b> &amp; 'quotes' \"double\"",
    ],
)
def test_awkward_bodies_are_stored_as_sent_and_shown_escaped(
    deliver_inbound, inbox_support, alice_client, body
) -> None:
    deliver_inbound(twilio_fixture("inbound_sms", Body=body))
    entry = Entry.objects.get(kind="message")
    assert entry.body == body
    page = alice_client.get(f"/inbox/{entry.conversation_id}/").content.decode()
    assert "<script>window.__xss" not in page
    assert 'onerror="window' not in page
    if "<" not in body and "&" not in body and '"' not in body and "'" not in body:
        assert body in page


@pytest.mark.django_db
def test_a_message_to_a_number_no_inbox_claims_lands_in_the_default_inbox_flagged(
    deliver_inbound, inbox_support, manager_maria
) -> None:
    deliver_inbound(twilio_fixture("inbound_sms", To="+15005550006"))
    entry = Entry.objects.get(kind="message")
    assert entry.inbox is not None and entry.inbox.is_default
    assert entry.data["unrouted_to"] == "+15005550006"
    client = Client()
    client.force_login(manager_maria)
    settings_page = client.get("/inbox/settings/")
    assert settings_page.status_code == 403  # managers see the message, admins route it
    from tests.factories import agent

    admin = agent("admin_route", role="admin")
    client.force_login(admin)
    assert b"+15005550006" in client.get("/inbox/settings/").content


@pytest.mark.django_db
def test_a_pooled_number_routes_to_its_messaging_service_inbox(deliver_inbound, team_sales) -> None:
    pool = Inbox.objects.create(
        name="Sales pool",
        kind=Inbox.PHONE,
        team=team_sales,
        messaging_service_sid="MG0123456789abcdef0123456789abcdef",
    )
    deliver_inbound(twilio_fixture("inbound_messaging_service"))
    entry = Entry.objects.get(kind="message")
    assert entry.inbox == pool
    assert "unrouted_to" not in entry.data


@pytest.mark.django_db
def test_an_inbound_message_reopens_a_resolved_thread(deliver_inbound, inbox_support, agent_alice) -> None:
    deliver_inbound(twilio_fixture("inbound_sms"))
    conversation = thread_of("+14155550142")
    conversation_set_status(conversation=conversation, status="resolved", by=agent_alice)
    deliver_inbound(twilio_fixture("inbound_sms", MessageSid="SM" + "2" * 32, Body="One more thing"))
    conversation.refresh_from_db()
    assert conversation.status == "open"
    assert conversation.episodes.count() == 2
    assert conversation.episodes.filter(resolved_at__isnull=True).count() == 1
    events = list(Entry.objects.filter(kind="event").order_by("id").values_list("body", flat=True))
    assert any("resolved" in text for text in events)
    assert any("reopened" in text and "new message from the customer" in text for text in events)


@pytest.mark.django_db
def test_stop_and_start_are_honoured_and_recorded(deliver_inbound, inbox_support) -> None:
    deliver_inbound(twilio_fixture("inbound_sms", Body="STOP"))
    identity = Identity.objects.get()
    assert identity.opted_out_at is not None
    conversation = thread_of("+14155550142")
    assert not conversation.is_unanswered  # a keyword is not a question waiting for an answer
    deliver_inbound(twilio_fixture("inbound_sms", Body="start", MessageSid="SM" + "3" * 32))
    identity.refresh_from_db()
    assert identity.opted_out_at is None
    types = list(Entry.objects.filter(kind="event").values_list("event_type", flat=True))
    assert types == ["contact.sms_stop", "contact.sms_start"]


@pytest.mark.django_db
def test_help_is_recorded(deliver_inbound, inbox_support) -> None:
    deliver_inbound(twilio_fixture("inbound_sms", Body="HELP"))
    assert Entry.objects.filter(event_type="contact.sms_help").exists()


@pytest.mark.django_db
def test_a_payload_without_message_sid_is_refused_clearly(twilio_post) -> None:
    params = twilio_fixture("inbound_sms")
    del params["MessageSid"]
    del params["SmsSid"]
    del params["SmsMessageSid"]
    response = twilio_post(PATH, params)
    assert response.status_code == 400
    assert b"MessageSid" in response.content


@pytest.mark.django_db
def test_a_poison_event_is_marked_failed_with_its_reason_not_retried_forever(inbox_support, settings) -> None:
    settings.INBOUND_MAX_ATTEMPTS = 2
    event = InboundEvent.objects.create(
        kind="no_such_adapter", idempotency_key="x:1", payload={}, received_at="2026-01-01T00:00:00Z"
    )
    for _ in range(3):
        with pytest.raises(LookupError):
            inbound_event_process(event_id=event.pk)
        event.refresh_from_db()
        if event.state == InboundEvent.FAILED:
            break
    assert event.state == InboundEvent.FAILED
    assert event.attempts == 2
    assert "No adapter" in event.last_error


@pytest.mark.django_db
def test_the_sweeper_processes_events_left_pending(inbox_support, django_capture_on_commit_callbacks) -> None:
    event = InboundEvent.objects.create(
        kind="twilio_messaging",
        idempotency_key="twilio:message:SMlost",
        payload=twilio_fixture("inbound_sms", MessageSid="SMlost"),
        received_at="2026-01-01T00:00:00Z",
    )
    with django_capture_on_commit_callbacks(execute=True):
        assert inbound_events_sweep() == 1
    event.refresh_from_db()
    assert event.state == InboundEvent.DONE
    assert Entry.objects.filter(provider_id="SMlost").count() == 1


# --- MMS media -----------------------------------------------------------------------------------
PNG = png(12, 12)  # a real image: a bare signature is no longer taken for one


@pytest.mark.django_db
def test_mms_media_is_fetched_with_the_accounts_credentials_and_served_to_agents(
    deliver_inbound, inbox_support, fake_twilio, alice_client
) -> None:
    fake_twilio.state.media["/media/ME0"] = (PNG, "image/jpeg")  # the sender's content type is a lie
    fake_twilio.state.media["/media/ME1"] = (b"<html><script>alert(1)</script></html>", "text/html")
    params = twilio_fixture(
        "inbound_mms", MediaUrl0=f"{fake_twilio.url}/media/ME0", MediaUrl1=f"{fake_twilio.url}/media/ME1"
    )
    deliver_inbound(params)
    first, second = Attachment.objects.order_by("position")
    assert first.state == second.state == Attachment.STORED
    assert first.content_type == "image/png"
    assert all(request["auth"] for request in fake_twilio.state.media_requests)
    image = alice_client.get(f"/attachments/{first.pk}/")
    assert image.status_code == 200
    assert image["Content-Type"] == "image/png"
    assert image["X-Content-Type-Options"] == "nosniff"
    html = alice_client.get(f"/attachments/{second.pk}/")
    assert html["Content-Type"] == "application/octet-stream"
    assert html["Content-Disposition"].startswith("attachment")
    assert "sandbox" in html["Content-Security-Policy"]


@pytest.mark.django_db
def test_media_over_the_size_limit_is_refused(deliver_inbound, inbox_support, fake_twilio, settings) -> None:
    settings.MEDIA_MAX_BYTES = 1000
    fake_twilio.state.media["/media/ME0"] = (PNG + b"\x00" * 2000, "image/png")
    params = twilio_fixture("inbound_mms", NumMedia="1", MediaUrl0=f"{fake_twilio.url}/media/ME0")
    del params["MediaUrl1"]
    deliver_inbound(params)
    attachment = Attachment.objects.get()
    assert attachment.state == Attachment.REFUSED
    assert "larger than the limit" in attachment.error


@pytest.mark.django_db
def test_a_thread_gets_the_number_as_first_seen(deliver_inbound, inbox_support) -> None:
    deliver_inbound(twilio_fixture("inbound_sms", From="+1 (415) 555-0142"))
    assert Identity.objects.get().address == "+14155550142"
    assert Entry.objects.get(kind="message").to_address == SUPPORT_NUMBER


def stored_event(params: dict[str, str], received_at: str) -> InboundEvent:
    return InboundEvent.objects.create(
        kind="twilio_messaging",
        idempotency_key=f"twilio:message:{params['MessageSid']}",
        payload=params,
        received_at=received_at,
    )


@pytest.mark.django_db
def test_a_message_processed_late_keeps_its_place_and_does_not_move_the_reply_channel(inbox_support) -> None:
    earlier = stored_event(twilio_fixture("inbound_sms", Body="first, by SMS"), "2026-11-01T10:00:00Z")
    later = stored_event(
        twilio_fixture("inbound_whatsapp", Body="second, by WhatsApp"), "2026-11-01T10:00:05Z"
    )
    inbound_event_process(event_id=later.pk)
    inbound_event_process(event_id=earlier.pk)  # the sweeper got to it last
    conversation = thread_of("+14155550142")
    bodies = list(
        conversation.entries.filter(kind="message")
        .order_by("created_at", "id")
        .values_list("body", flat=True)
    )
    assert bodies == ["first, by SMS", "second, by WhatsApp"]
    assert conversation.last_inbound_channel == "whatsapp"


@pytest.mark.django_db
def test_stop_and_start_processed_out_of_order_keep_the_customers_latest_wish(inbox_support) -> None:
    stop = stored_event(
        twilio_fixture("inbound_sms", Body="STOP", MessageSid="SMstop"), "2026-11-01T10:00:00Z"
    )
    start = stored_event(
        twilio_fixture("inbound_sms", Body="START", MessageSid="SMstart"), "2026-11-01T10:00:05Z"
    )
    inbound_event_process(event_id=start.pk)
    inbound_event_process(event_id=stop.pk)
    assert Identity.objects.get().opted_out_at is None


@pytest.mark.django_db(transaction=True)
def test_media_whose_fetch_was_never_enqueued_is_swept(
    twilio_post, inbox_support, fake_twilio, settings
) -> None:
    from channels_adapters.tasks import sweep_inbound_events
    from tests.channels_adapters.test_faults import broker_at, closed_port

    fake_twilio.state.media["/media/ME0"] = (PNG, "image/png")
    params = twilio_fixture("inbound_mms", NumMedia="1", MediaUrl0=f"{fake_twilio.url}/media/ME0")
    del params["MediaUrl1"]
    # The message is processed, but the broker dies before the media fetch is enqueued.
    from channels_adapters.inbound import inbound_event_process

    with broker_at(f"redis://127.0.0.1:{closed_port()}/0"):
        assert twilio_post(PATH, params).status_code == 200
        inbound_event_process(event_id=InboundEvent.objects.get().pk)
    attachment = Attachment.objects.get()
    assert attachment.state == Attachment.PENDING
    settings.INBOUND_SWEEP_AFTER_S = 0
    sweep_inbound_events.apply()
    attachment.refresh_from_db()
    assert attachment.state == Attachment.STORED

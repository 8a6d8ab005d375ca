"""An agent sends files: MMS and WhatsApp media fetched by (the fake) Twilio from signed, expiring URLs on
PUBLIC_BASE_URL; email attachments through anymail; web chat files as links in the visitor's widget. Each
channel's limits are refused with the reason before anything is queued, and nothing the agent chose is lost."""

from __future__ import annotations

import time
from datetime import timedelta
from typing import Any
from urllib.parse import urlsplit

import pytest
from django.core import mail, signing
from django.core.files.uploadedfile import SimpleUploadedFile
from django.test import Client
from django.utils import timezone

from channels_adapters.outbound import message_send
from channels_adapters.sandbox import sandbox_records
from channels_adapters.webchat.services import visitor_messages
from config.errors import ChannelRuleError, ValidationError
from contacts.models import Identity
from contacts.services import contact_resolve
from conversations.models import Attachment, Conversation, Entry, Inbox
from conversations.services import conversation_get_or_create, entry_append
from tests import factories
from tests.conftest import PUBLIC_BASE_URL, thread_of, twilio_fixture
from tests.images import png
from tests.webchat import inbox_webchat

__all__ = ["inbox_webchat"]  # a fixture

pytestmark = pytest.mark.django_db

CUSTOMER = "+14155550142"
PHOTO = png(40, 30)
PDF = b"%PDF-1.4\n1 0 obj << /Type /Catalog >> endobj\ntrailer << /Root 1 0 R >>\n%%EOF\n"


def upload(name: str, content: bytes) -> SimpleUploadedFile:
    return SimpleUploadedFile(name, content, content_type="application/octet-stream")


def big(size: int) -> bytes:
    """A PDF of `size` bytes (padding after the header)."""
    return PDF + b"0" * (size - len(PDF))


def fetch(client: Client, url: str) -> tuple[int, str, bytes]:
    """GET one of the hub's URLs in this process, as Twilio would over the network."""
    response = client.get(urlsplit(url).path)
    content = b"".join(response.streaming_content) if response.streaming else response.content
    return response.status_code, response.get("Content-Type", ""), content


@pytest.fixture
def twilio_fetches(fake_twilio: Any) -> Any:
    """The fake Twilio fetches each MediaUrl from this hub (no server runs in these tests: the test client)."""
    fake_twilio.state.media_fetcher = lambda url: fetch(Client(), url)
    return fake_twilio


def reply(
    client: Client, conversation: Conversation, body: str = "", *files: SimpleUploadedFile, **fields: str
) -> Any:
    data: dict[str, Any] = {"body": body, "kind": "message", **fields}
    if files:
        data["files"] = list(files)
    return client.post(f"/inbox/{conversation.pk}/reply/", data)


# --- MMS -------------------------------------------------------------------------------------------------
def test_a_photo_goes_out_as_an_mms_that_twilio_fetches_from_a_signed_url(
    sms_thread, alice_client, twilio_fetches, django_capture_on_commit_callbacks
) -> None:
    with django_capture_on_commit_callbacks(execute=True):
        response = reply(alice_client, sms_thread, "Here is the label", upload("label.png", PHOTO))
    assert response.status_code == 201, response.content
    [sent] = twilio_fetches.wait_for_messages(1)
    assert sent["body"] == "Here is the label" and sent["to"] == CUSTOMER
    [url] = [sent["media_url"]]
    assert url.startswith(f"{PUBLIC_BASE_URL}/media/outbound/") and url.endswith("/label.png")
    [fetched] = twilio_fetches.fetched_media
    assert (fetched["status"], fetched["content_type"], fetched["content"]) == (200, "image/png", PHOTO)
    entry = Entry.objects.get(pk=response.json()["entry"]["id"])
    assert entry.delivery_status == Entry.SENT and sent["status"] == "queued"
    # In the thread: a thumbnail of the photo, served from the hub's own authenticated URL.
    [attachment] = entry.attachments.all()
    page = alice_client.get(f"/inbox/{sms_thread.pk}/").content.decode()
    assert f'<img src="/attachments/{attachment.pk}/"' in page


def test_a_file_alone_is_a_message(
    sms_thread, alice_client, twilio_fetches, django_capture_on_commit_callbacks
) -> None:
    with django_capture_on_commit_callbacks(execute=True):
        response = reply(alice_client, sms_thread, "", upload("receipt.pdf", PDF))
    assert response.status_code == 201, response.content
    [sent] = twilio_fetches.wait_for_messages(1)
    assert sent["body"] == "" and twilio_fetches.fetched_media[0]["content"] == PDF
    assert twilio_fetches.fetched_media[0]["content_type"] == "application/pdf"


def test_mms_over_5_mb_in_all_is_refused_with_the_reason_and_nothing_is_queued(
    sms_thread, alice_client, fake_twilio
) -> None:
    before = Entry.objects.count()
    response = reply(
        alice_client,
        sms_thread,
        "Two manuals",
        upload("a.pdf", big(3_000_000)),
        upload("b.pdf", big(3_000_000)),
    )
    assert response.status_code == 400
    assert "an MMS carries at most 5.0 MB in all" in response.json()["error"]
    assert Entry.objects.count() == before and fake_twilio.messages == []


def test_mms_only_where_the_numbers_support_it(sms_thread, agent_alice, team_support) -> None:
    london = factories.InboxFactory(
        name="London", kind=Inbox.PHONE, address="+442079460000", team=team_support
    )
    with pytest.raises(
        ChannelRuleError, match=r"\+442079460000 cannot take MMS: Twilio sends picture messages only"
    ):
        message_send(
            conversation=sms_thread,
            body="",
            author=agent_alice,
            inbox=london,
            uploads=[upload("a.png", PHOTO)],
        )
    # Plain text from the same number is still allowed: only the file is the problem.
    assert message_send(conversation=sms_thread, body="Hi", author=agent_alice, inbox=london).pk


def test_a_note_with_files_is_refused_and_says_so(sms_thread, alice_client) -> None:
    response = reply(alice_client, sms_thread, "for the team", upload("a.png", PHOTO), kind="note")
    assert response.status_code == 400 and "remove them to write a note" in response.json()["error"]
    assert not Attachment.objects.exists()


# --- WhatsApp -------------------------------------------------------------------------------------------
@pytest.fixture
def whatsapp_thread(deliver_inbound: Any, inbox_support: Inbox) -> Conversation:
    deliver_inbound(twilio_fixture("inbound_whatsapp"))
    return thread_of(CUSTOMER)


def test_a_pdf_goes_out_on_whatsapp_inside_the_window(
    whatsapp_thread, alice_client, twilio_fetches, django_capture_on_commit_callbacks
) -> None:
    with django_capture_on_commit_callbacks(execute=True):
        response = reply(
            alice_client, whatsapp_thread, "Your invoice", upload("invoice.pdf", PDF), channel="whatsapp"
        )
    assert response.status_code == 201, response.content
    [sent] = twilio_fetches.wait_for_messages(1)
    assert sent["to"] == f"whatsapp:{CUSTOMER}" and sent["media_url"].endswith("/invoice.pdf")
    assert twilio_fetches.fetched_media[0]["content"] == PDF


@pytest.mark.parametrize(
    ("files", "reason"),
    [
        ([("a.png", PHOTO), ("b.png", PHOTO)], "WhatsApp carries one file per message"),
        ([("anim.gif", b"GIF89a" + b"\x00" * 40)], "WhatsApp does not carry anim"),
        (
            [("huge.png", png(40, 30) + b"\x00" * 5_300_000)],
            "huge.png is 5.1 MB; WhatsApp takes a PNG image up to 5.0 MB",
        ),
        ([("manual.pdf", big(17 * 1024 * 1024))], "WhatsApp takes a PDF document up to 16.0 MB"),
    ],
)
def test_whatsapp_refuses_what_it_cannot_carry(whatsapp_thread, agent_alice, files, reason) -> None:
    with pytest.raises(ValidationError, match=reason):
        message_send(
            conversation=whatsapp_thread,
            body="",
            author=agent_alice,
            channel="whatsapp",
            uploads=[upload(name, content) for name, content in files],
        )
    assert not Entry.objects.filter(direction=Entry.OUTBOUND).exists()


def test_outside_whatsapps_24_hours_only_a_media_template_could_carry_a_file(
    whatsapp_thread, alice_client
) -> None:
    Entry.objects.filter(channel="whatsapp").update(created_at=timezone.now() - timedelta(days=2))
    response = reply(alice_client, whatsapp_thread, "", upload("a.png", PHOTO), channel="whatsapp")
    assert response.status_code == 409
    assert "only an approved media template can carry a file" in response.json()["error"]


# --- email --------------------------------------------------------------------------------------------
@pytest.fixture
def email_thread(team_support: Any, settings: Any) -> Conversation:
    settings.EMAIL_SANDBOX = False
    settings.EMAIL_BACKEND = "anymail.backends.test.EmailBackend"
    inbox = factories.InboxFactory(
        name="Support email", kind=Inbox.EMAIL, address="support@shoes.example", team=team_support
    )
    contact, _ = contact_resolve(kind="email", address="dana@example.com")
    conversation = conversation_get_or_create(contact=contact)
    entry_append(
        conversation=conversation,
        kind="message",
        direction="inbound",
        channel="email",
        inbox=inbox,
        body="Where is my invoice?",
        from_address="dana@example.com",
        subject="Invoice",
    )
    return conversation


def test_email_attachments_go_through_anymail(
    email_thread, alice_client, django_capture_on_commit_callbacks
) -> None:
    with django_capture_on_commit_callbacks(execute=True):
        response = reply(
            alice_client, email_thread, "Attached.", upload("invoice.pdf", PDF), upload("shoe.png", PHOTO)
        )
    assert response.status_code == 201, response.content
    [sent] = mail.outbox
    assert sent.to == ["dana@example.com"] and sent.body == "Attached."
    assert [(name, content, kind) for name, content, kind in sent.attachments] == [
        ("invoice.pdf", PDF, "application/pdf"),
        ("shoe.png", PHOTO, "image/png"),
    ]
    assert Entry.objects.get(pk=response.json()["entry"]["id"]).delivery_status == Entry.SENT


def test_email_over_the_size_limit_is_refused(email_thread, alice_client, settings) -> None:
    settings.EMAIL_ATTACHMENTS_MAX_BYTES = 1_000_000
    response = reply(alice_client, email_thread, "Manual", upload("manual.pdf", big(1_500_000)))
    assert response.status_code == 400
    assert "an email from the hub carries at most 1.0 MB" in response.json()["error"]
    assert mail.outbox == [] and not Attachment.objects.exists()


# --- web chat --------------------------------------------------------------------------------------------
def test_a_web_chat_visitor_gets_the_file_as_a_link_that_opens(
    inbox_webchat: Inbox, agent_alice, django_capture_on_commit_callbacks
) -> None:
    contact, _ = contact_resolve(kind="visitor", address="v" * 32)
    Identity.objects.filter(contact=contact, kind="visitor").update(verified=True)
    conversation = conversation_get_or_create(contact=contact)
    entry_append(
        conversation=conversation,
        kind="message",
        direction="inbound",
        channel="webchat",
        inbox=inbox_webchat,
        body="Can I see it?",
    )
    with django_capture_on_commit_callbacks(execute=True):
        message_send(
            conversation=conversation,
            body="Here",
            author=agent_alice,
            channel="webchat",
            uploads=[upload("shoe.png", PHOTO)],
        )
    mine = visitor_messages(visitor_id="v" * 32)[-1]
    [link] = mine["links"]
    assert link["name"] == "shoe.png" and link["image"] is True
    assert link["url"].startswith(f"{PUBLIC_BASE_URL}/media/outbound/")
    assert fetch(Client(), link["url"]) == (200, "image/png", PHOTO)


# --- signed URLs ---------------------------------------------------------------------------------------
def test_an_expired_or_tampered_media_url_is_refused(
    sms_thread, agent_alice, twilio_fetches, django_capture_on_commit_callbacks, monkeypatch
) -> None:
    with django_capture_on_commit_callbacks(execute=True):
        message_send(conversation=sms_thread, body="", author=agent_alice, uploads=[upload("a.png", PHOTO)])
    url = twilio_fetches.wait_for_messages(1)[0]["media_url"]
    client = Client()
    assert fetch(client, url)[0] == 200
    token = urlsplit(url).path.split("/")[3]
    tampered = url.replace(token, token[:-2] + ("AA" if token[-2:] != "AA" else "BB"))
    assert fetch(client, tampered)[0] == 404
    # Still good after Twilio's longest queue (10 hours) and most of a day; refused a day and a minute later.
    now = time.time()
    monkeypatch.setattr(signing.time, "time", lambda: now + 23 * 3600)
    assert fetch(client, url)[0] == 200
    monkeypatch.setattr(signing.time, "time", lambda: now + 24 * 3600 + 60)
    assert fetch(client, url)[0] == 404


def test_the_sandbox_records_the_media_urls_and_email_attachments(
    sms_thread, email_thread, agent_alice, settings, django_capture_on_commit_callbacks
) -> None:
    settings.TWILIO_ACCOUNT_SID = ""
    settings.EMAIL_SANDBOX = True
    with django_capture_on_commit_callbacks(execute=True):
        message_send(
            conversation=sms_thread, body="Photo", author=agent_alice, uploads=[upload("a.png", PHOTO)]
        )
        message_send(
            conversation=email_thread,
            body="PDF",
            author=agent_alice,
            channel="email",
            uploads=[upload("i.pdf", PDF)],
        )
    email, sms = sandbox_records()
    assert sms["channel"] == "sms" and sms["media_urls"][0].startswith(f"{PUBLIC_BASE_URL}/media/outbound/")
    assert email["attachments"] == [
        {"filename": "i.pdf", "content_type": "application/pdf", "size": len(PDF)}
    ]


def test_a_redacted_file_is_gone_from_its_signed_url(
    sms_thread, agent_alice, twilio_fetches, django_capture_on_commit_callbacks
) -> None:
    from privacy.services import entry_redact

    with django_capture_on_commit_callbacks(execute=True):
        entry = message_send(
            conversation=sms_thread, body="", author=agent_alice, uploads=[upload("id card.png", PHOTO)]
        )
    url = twilio_fetches.wait_for_messages(1)[0]["media_url"]
    assert fetch(Client(), url)[0] == 200
    with django_capture_on_commit_callbacks(execute=True):
        entry_redact(entry=entry, by=agent_alice)
    assert fetch(Client(), url)[0] == 404


def test_more_than_the_hub_sends_in_one_message_is_refused_before_it_is_read(
    email_thread, alice_client, settings
) -> None:
    settings.OUTBOUND_FILE_MAX_BYTES = 2_000_000
    response = reply(
        alice_client, email_thread, "", upload("a.pdf", big(1_200_000)), upload("b.pdf", big(1_200_000))
    )
    assert response.status_code == 400
    assert "the hub sends at most 1.9 MB in one message" in response.json()["error"]

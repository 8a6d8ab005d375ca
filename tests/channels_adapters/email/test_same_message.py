"""One message is one entry however often and however it arrives; a Message-ID alone never makes one vanish.

A message is "the same" when its Message-ID and its fingerprint (sender, Date, subject, words, attached files)
agree. The pipe, IMAP and an ESP's webhook hand over different bytes for one message, so the fingerprint is read
from the parsed message; web forms and notifiers reuse fixed Message-IDs and anyone can forge one, so a
different message under a known id is stored, and marked, never dropped.
"""

from __future__ import annotations

import base64
import json
from typing import Any

import pytest
from django.test import Client
from imap_tools import MailBoxUnencrypted

from channels_adapters.email.imap import mailboxes_poll
from channels_adapters.email.parse import digest
from channels_adapters.inbound import inbound_event_store
from channels_adapters.models import EmailMailbox, InboundEvent
from contacts.models import Identity
from conversations.models import Entry
from tests.channels_adapters.email.dovecot import dovecot
from tests.channels_adapters.email.test_webhooks_and_command import (
    SECRET,
    SIGNING_KEY,
    basic_auth,
    mailgun_form,
)

FIXED = "fixed-id@mailer.example"


def form_mail(name: str, address: str, words: str, *, message_id: str = FIXED) -> bytes:
    """A web form's notification: the same fixed Message-ID for every submission."""
    return (
        f"From: {name} <{address}>\r\nTo: support@shoes.example\r\nSubject: Contact form\r\n"
        f"Date: Mon, 18 Nov 2024 10:00:00 +0000\r\nMessage-ID: <{message_id}>\r\n"
        f"Content-Type: text/plain; charset=utf-8\r\n\r\n{words}\r\n"
    ).encode()


ALICE = form_mail("Alice Archer", "alice@customer.example", "My order 1001 never arrived.")
BOB = form_mail("Bob Baker", "bob@customer.example", "Please cancel order 2002.")


def entries() -> Any:
    return Entry.objects.filter(kind="message", channel="email", direction="inbound").order_by("id")


@pytest.mark.django_db
def test_the_finding_a_second_message_under_the_same_message_id_is_kept(
    ingest_email, run_worker, inbox_email, alice_client
) -> None:
    """The issue's reproduction: Alice's message, then Bob's with another body and the same Message-ID,
    both through `ingest_email`. Both exit 0; Bob's message used to leave no contact, entry nor event."""
    alice = run_worker(ingest_email(ALICE))
    bob = run_worker(ingest_email(BOB))
    assert InboundEvent.objects.count() == 2
    bob_identity = Identity.objects.get(kind="email", address="bob@customer.example")
    assert bob is not None and alice is not None and bob.pk != alice.pk
    assert bob.conversation.contact_id == bob_identity.contact_id != alice.conversation.contact_id
    assert bob.body == "Please cancel order 2002." and alice.body == "My order 1001 never arrived."
    assert bob.email.message_id == alice.email.message_id == FIXED
    assert bob.data["shares_message_id"] is True and "shares_message_id" not in alice.data
    page = alice_client.get(f"/inbox/{bob.conversation_id}/").content.decode()
    assert "Please cancel order 2002." in page and "shares a Message-ID" in page


@pytest.mark.django_db
def test_the_same_message_twice_through_the_pipe_is_one_entry(ingest_email, run_worker, inbox_email) -> None:
    first = ingest_email(ALICE)
    run_worker(first)
    again = ingest_email(ALICE.replace(b"\r\n", b"\n"))  # Postfix hands the pipe bare newlines
    assert again.pk == first.pk
    assert [e.body for e in entries()] == ["My order 1001 never arrived."]


# --- one message, three ways in -----------------------------------------------------------------------------
PDF = b"%PDF-1.4\n1 0 obj <<>> endobj\ntrailer <<>>\n%%EOF\n"
HTML = (
    "<p>Hi,</p><p>the trail runners came in size 8 \u2014 I ordered 9.<br>Can you swap them?</p><p>Dana</p>"
)
TEXT = "Hi,\n\nthe trail runners came in size 8 \u2014 I ordered 9.\nCan you swap them?\n\nDana"
DANA = (
    "From: Dana Whitfield <dana.whitfield@contoso.example>\nTo: Shoes Support <support@shoes.example>\n"
    "Subject: =?utf-8?q?Wrong_size_=E2=80=94_order_10443?=\nDate: Mon, 18 Nov 2024 10:00:00 +0000\n"
    "Message-ID: <trail-runners-1@contoso.example>\nMIME-Version: 1.0\n"
    'Content-Type: multipart/mixed; boundary="outer"\n\n'
    '--outer\nContent-Type: multipart/alternative; boundary="inner"\n\n'
    "--inner\nContent-Type: text/plain; charset=utf-8\nContent-Transfer-Encoding: quoted-printable\n\n"
    "Hi,  =\n\nthe trail runners came in size 8 =E2=80=94 I ordered 9.   \nCan you swap them?\n\nDana\n"
    "--inner\nContent-Type: text/html; charset=utf-8\nContent-Transfer-Encoding: quoted-printable\n\n"
    "<p>Hi,</p><p>the trail runners came in size 8 =E2=80=94 I ordered 9.<br>Can yo=\nu swap them?</p><p>Dana</p>\n"
    "--inner--\n\n--outer\n"
    'Content-Type: application/pdf; name="receipt.pdf"\nContent-Disposition: attachment; filename="receipt.pdf"\n'
    f"Content-Transfer-Encoding: base64\n\n{base64.encodebytes(PDF).decode()}--outer--\n"
).encode()


def as_imap_has_it(raw: bytes) -> bytes:
    """The mailbox's copy: CRLF line ends and the headers the delivering MTA added."""
    added = (
        b"Return-Path: <dana.whitfield@contoso.example>\nDelivered-To: support@shoes.example\n"
        b"Received: from mail.contoso.example by mx.shoes.example; Mon, 18 Nov 2024 10:00:02 +0000\n"
    )
    return (added + raw).replace(b"\r\n", b"\n").replace(b"\n", b"\r\n")


def postmark_parsed() -> dict[str, Any]:
    """Postmark's inbound JSON without "Include raw email content": anymail rebuilds MIME from these fields
    (text and HTML base64-encoded, not quoted-printable; the text with its own line ends)."""
    return {
        "FromFull": {"Email": "dana.whitfield@contoso.example", "Name": "Dana Whitfield", "MailboxHash": ""},
        "ToFull": [{"Email": "support@shoes.example", "Name": "Shoes Support", "MailboxHash": ""}],
        "CcFull": [],
        "BccFull": [],
        "OriginalRecipient": "support@shoes.example",
        "Subject": "Wrong size \u2014 order 10443",
        "MessageID": "22c74902-a0c1-4511-804f-341342852c90",
        "Date": "Mon, 18 Nov 2024 10:00:00 +0000",
        "TextBody": TEXT.replace("\n", "\r\n"),
        "HtmlBody": HTML,
        "StrippedTextReply": "",
        "Tag": "",
        "Headers": [
            {"Name": "Return-Path", "Value": "<dana.whitfield@contoso.example>"},
            {"Name": "Received", "Value": "by inbound.postmarkapp.com; Mon, 18 Nov 2024 10:00:03 +0000"},
            {"Name": "MIME-Version", "Value": "1.0"},
            {"Name": "Message-ID", "Value": "<trail-runners-1@contoso.example>"},
        ],
        "Attachments": [
            {
                "Name": "receipt.pdf",
                "Content": base64.b64encode(PDF).decode(),
                "ContentType": "application/pdf",
                "ContentLength": len(PDF),
            }
        ],
    }


@pytest.fixture
def anymail_configured(settings: Any) -> None:
    settings.ANYMAIL = {"WEBHOOK_SECRET": [SECRET], "MAILGUN_WEBHOOK_SIGNING_KEY": SIGNING_KEY}


@pytest.mark.django_db
def test_one_message_by_the_pipe_then_an_esps_parsed_and_raw_webhooks_is_one_entry(
    ingest_email, run_worker, inbox_email, anymail_configured, django_capture_on_commit_callbacks
) -> None:
    entry = run_worker(ingest_email(DANA))
    assert entry is not None and entry.subject == "Wrong size \u2014 order 10443"
    with django_capture_on_commit_callbacks(execute=True):
        parsed = Client().post(
            "/anymail/postmark/inbound/",
            data=json.dumps(postmark_parsed()),
            content_type="application/json",
            HTTP_AUTHORIZATION=basic_auth(),
        )
        raw = Client().post(
            "/anymail/mailgun/inbound/", mailgun_form(as_imap_has_it(DANA)), HTTP_AUTHORIZATION=basic_auth()
        )
    assert parsed.status_code == raw.status_code == 200
    assert InboundEvent.objects.count() == 1
    assert list(entries()) == [entry]


@pytest.mark.django_db
@pytest.mark.integration
def test_one_message_by_the_pipe_then_by_imap_is_one_entry(
    ingest_email, run_worker, inbox_email, django_capture_on_commit_callbacks
) -> None:
    entry = run_worker(ingest_email(DANA))
    with dovecot() as server:
        with MailBoxUnencrypted(server.host, server.port).login(
            server.username, server.password, None
        ) as box:
            box.folder.create("Support")
            box.append(as_imap_has_it(DANA), "Support", flag_set=())
            box.append(as_imap_has_it(ALICE), "Support", flag_set=())  # a message of its own: stored
        EmailMailbox.objects.create(
            inbox=inbox_email,
            host=server.host,
            port=server.port,
            security="none",
            username=server.username,
            password=server.password,
            folder="Support",
        )
        with django_capture_on_commit_callbacks(execute=True):
            mailboxes_poll()
    assert InboundEvent.objects.count() == 2
    first, second = entries()
    assert first == entry and second.body == "My order 1001 never arrived."


# --- keys stored before the fingerprint ------------------------------------------------------------------
def stored_as_before(raw: bytes, message_id: str, run_worker: Any) -> Entry:
    """A message the hub stored and recorded before 2026-12: keyed and identified by its Message-ID alone."""
    event, _ = inbound_event_store(
        kind="email",
        idempotency_key=f"email:{digest(message_id)}",
        payload={"source": "mta", "envelope_recipient": "", "route_inbox": None, "message_id": message_id},
        raw=raw,
    )
    entry = run_worker(event)
    assert entry is not None
    Entry.objects.filter(pk=entry.pk).update(provider_id=digest(message_id))
    return entry


@pytest.mark.django_db
def test_a_key_stored_before_still_stops_a_redelivery_but_not_another_message(
    ingest_email, run_worker, inbox_email
) -> None:
    old = stored_as_before(DANA, "trail-runners-1@contoso.example", run_worker)
    again = ingest_email(as_imap_has_it(DANA))  # the same message, other bytes
    assert again.idempotency_key == f"email:{digest('trail-runners-1@contoso.example')}"
    assert list(entries()) == [old]
    other = DANA.replace(b"Can you swap them?", b"Can I have a refund instead?").replace(
        b"Can yo=\nu swap them?", b"Can I have a refund instead?"
    )
    newer = run_worker(ingest_email(other))
    assert newer is not None and newer.pk != old.pk and newer.data["shares_message_id"] is True
    assert "refund" in newer.body and InboundEvent.objects.count() == 2


# --- threading when two messages share an id -------------------------------------------------------------
def reply(client: Client, conversation_id: int, body: str, capture: Any) -> Entry:
    with capture(execute=True):
        response = client.post(f"/inbox/{conversation_id}/reply/", {"body": body, "channel": "email"})
    assert response.status_code == 201, response.content
    return Entry.objects.get(pk=response.json()["entry"]["id"])


@pytest.mark.django_db
def test_threading_finds_each_customer_when_two_messages_share_a_message_id(
    ingest_email, run_worker, inbox_email, alice_client, settings, django_capture_on_commit_callbacks
) -> None:
    settings.EMAIL_SANDBOX = True
    alice = run_worker(ingest_email(ALICE))
    bob = run_worker(ingest_email(BOB))
    assert alice is not None and bob is not None
    to_alice = reply(alice_client, alice.conversation_id, "On its way.", django_capture_on_commit_callbacks)
    to_bob = reply(alice_client, bob.conversation_id, "Cancelled.", django_capture_on_commit_callbacks)
    assert (to_alice.to_address, to_bob.to_address) == ("alice@customer.example", "bob@customer.example")
    assert to_alice.email.in_reply_to == to_bob.email.in_reply_to == FIXED

    def answer(name: str, address: str, ours: Entry | None, n: int) -> Entry:
        references = f"<{FIXED}>" + (f" <{ours.email.message_id}>" if ours else "")
        raw = form_mail(name, address, f"Thanks ({n})", message_id=f"answer-{n}@customer.example").replace(
            b"Content-Type:",
            f"In-Reply-To: {references.split()[-1]}\r\nReferences: {references}\r\n".encode()
            + b"Content-Type:",
        )
        entry = run_worker(ingest_email(raw))
        assert entry is not None
        return entry

    from_bob = answer("Bob Baker", "bob@customer.example", to_bob, 1)
    from_alice = answer("Alice Archer", "alice@customer.example", to_alice, 2)
    assert (from_bob.conversation_id, from_bob.data["answers_entry"]) == (bob.conversation_id, to_bob.pk)
    assert (from_alice.conversation_id, from_alice.data["answers_entry"]) == (
        alice.conversation_id,
        to_alice.pk,
    )
    # Citing only the shared id, an answer goes by its sender: the id picks no one's thread.
    only_shared = answer("Bob Baker", "bob@customer.example", None, 3)
    assert only_shared.conversation_id == bob.conversation_id and "answers_entry" not in only_shared.data

"""Each bad input of the issue: stored as well as it can be or refused with a clear reason, never a crash."""

from __future__ import annotations

import base64

import pytest

from channels_adapters.email.services import EmailRefused, email_store
from channels_adapters.email.tokens import reply_address, reply_address_verify
from channels_adapters.models import InboundEvent
from conversations.models import Attachment, Entry
from tests.channels_adapters.email.conftest import eml

BASE = (
    b"From: Kim Lee <kim@lee.example>\r\nTo: support@shoes.example\r\nSubject: Hello\r\n"
    b"Message-ID: <bad-input-{n}@lee.example>\r\nDate: Mon, 18 Nov 2024 10:00:00 +0000\r\n"
)


def message(n: int, headers: bytes = b"", body: bytes = b"Hello there\r\n", base: bytes = BASE) -> bytes:
    return base.replace(b"{n}", str(n).encode()) + headers + b"\r\n" + body


def stored(entry: Entry | None) -> Entry:
    assert entry is not None
    assert InboundEvent.objects.filter(entry=entry, state="done").exists()
    return entry


@pytest.mark.django_db
def test_no_from_is_stored_under_a_flagged_unknown_sender(deliver_email, inbox_email) -> None:
    raw = message(1, base=BASE.replace(b"From: Kim Lee <kim@lee.example>\r\n", b""))
    entry = stored(deliver_email(raw))
    assert entry.from_address == "(no sender)"
    assert entry.data["invalid_sender"] is True
    assert entry.body == "Hello there"


@pytest.mark.django_db
def test_no_message_id_is_keyed_on_the_raw_bytes(deliver_email, inbox_email) -> None:
    raw = message(2, base=BASE.replace(b"Message-ID: <bad-input-{n}@lee.example>\r\n", b""))
    stored(deliver_email(raw))
    stored(deliver_email(raw))
    assert InboundEvent.objects.get().idempotency_key.startswith("email:raw:")
    assert Entry.objects.filter(kind="message").count() == 1
    deliver_email(raw + b"P.S. another message\r\n")
    assert Entry.objects.filter(kind="message").count() == 2


@pytest.mark.django_db
def test_no_body_is_stored_empty(deliver_email, inbox_email) -> None:
    entry = stored(deliver_email(message(3, body=b"")))
    assert entry.body == "" and entry.subject == "Hello"


@pytest.mark.django_db
def test_an_empty_input_is_refused_with_a_reason(db) -> None:
    with pytest.raises(EmailRefused, match="empty"):
        email_store(raw=b"  \r\n", source="test")


@pytest.mark.django_db
def test_a_broken_mime_structure_keeps_the_text(deliver_email, inbox_email) -> None:
    headers = b'MIME-Version: 1.0\r\nContent-Type: multipart/mixed; boundary="never-used"\r\n'
    entry = stored(deliver_email(message(4, headers, b"Plain words with no parts at all\r\n--wrong--\r\n")))
    assert "Plain words with no parts at all" in entry.body


@pytest.mark.django_db
def test_a_multipart_without_boundary_keeps_the_text(deliver_email, inbox_email) -> None:
    headers = b"MIME-Version: 1.0\r\nContent-Type: multipart/alternative\r\n"
    entry = stored(deliver_email(message(5, headers, b"Still readable\r\n")))
    assert "Still readable" in entry.body


@pytest.mark.django_db
def test_an_unknown_charset_falls_back(deliver_email, inbox_email) -> None:
    headers = (
        b"MIME-Version: 1.0\r\nContent-Type: text/plain; charset=x-klingon-8\r\n"
        b"Content-Transfer-Encoding: 8bit\r\n"
    )
    entry = stored(deliver_email(message(6, headers, "Grüße aus Köln\r\n".encode())))
    assert entry.body == "Grüße aus Köln"


@pytest.mark.django_db
def test_a_lying_charset_falls_back(deliver_email, inbox_email) -> None:
    headers = b"MIME-Version: 1.0\r\nContent-Type: text/plain; charset=us-ascii\r\nContent-Transfer-Encoding: 8bit\r\n"
    entry = stored(deliver_email(message(7, headers, "Café crème, 5 €\r\n".encode("cp1252"))))
    assert entry.body == "Café crème, 5 €"


@pytest.mark.django_db
def test_an_8bit_header_and_a_nul_byte_are_stored(deliver_email, inbox_email) -> None:
    raw = message(8, body=b"nul\x00byte\r\n").replace(b"Subject: Hello", "Subject: Größe 42 · ok".encode())
    raw = raw.replace(b"From: Kim Lee", "From: Jürgen Weiß".encode())
    entry = stored(deliver_email(raw))
    assert entry.subject == "Größe 42 · ok"
    assert entry.body == "nulbyte"
    assert entry.conversation.contact.name == "Jürgen Weiß"


@pytest.mark.django_db
def test_a_20_mb_attachment_over_the_limit_is_refused_and_the_message_kept(
    deliver_email, inbox_email
) -> None:
    payload = base64.encodebytes(b"\x00" * (20 * 1024 * 1024))
    headers = b'MIME-Version: 1.0\r\nContent-Type: multipart/mixed; boundary="b1"\r\n'
    body = (
        b"--b1\r\nContent-Type: text/plain\r\n\r\nSee the video attached\r\n"
        b'--b1\r\nContent-Type: video/mp4\r\nContent-Disposition: attachment; filename="unboxing.mp4"\r\n'
        b"Content-Transfer-Encoding: base64\r\n\r\n" + payload + b"--b1--\r\n"
    )
    entry = stored(deliver_email(message(9, headers, body)))
    assert entry.body == "See the video attached"
    video = Attachment.objects.get(entry=entry, filename="unboxing.mp4")
    assert video.state == "refused" and not video.file
    assert "over the 10 MB limit" in video.error


@pytest.mark.django_db
def test_a_message_over_the_total_limit_is_refused(db, settings) -> None:
    settings.EMAIL_MAX_BYTES = 1000
    with pytest.raises(EmailRefused, match="over the"):
        email_store(raw=message(10, body=b"x" * 2000), source="test")


@pytest.mark.django_db
def test_script_onerror_and_javascript_links_never_survive(deliver_email, inbox_email) -> None:
    html = (
        b'<p onclick="steal()">Hi <script>alert(1)</script><img src=x onerror="alert(2)">'
        b'<a href="javascript:alert(3)">track</a> <a href="https://shoes.example/o/1">order</a>'
        b'<iframe src="https://evil.example"></iframe><style>body{display:none}</style>'
        b"<details open ontoggle=alert(4)>x</details><svg onload=alert(5)></svg></p>"
    )
    headers = b"MIME-Version: 1.0\r\nContent-Type: text/html; charset=utf-8\r\n"
    entry = stored(deliver_email(message(11, headers, html)))
    clean = entry.email.html
    for bad in (
        "<script",
        "onerror",
        "onclick",
        "javascript:",
        "<iframe",
        "<style",
        "ontoggle",
        "<svg",
        "<details",
    ):
        assert bad not in clean.lower(), bad
    assert '<a href="https://shoes.example/o/1"' in clean and 'rel="noopener noreferrer nofollow"' in clean
    assert "alert(1)" not in entry.body and entry.body.startswith("Hi")


@pytest.mark.django_db
def test_a_cid_that_points_nowhere_is_dropped(deliver_email, inbox_email) -> None:
    headers = b"MIME-Version: 1.0\r\nContent-Type: text/html; charset=utf-8\r\n"
    entry = stored(deliver_email(message(12, headers, b'<p>see <img src="cid:missing@x" alt="pic"></p>')))
    assert "cid:" not in entry.email.html and 'alt="pic"' in entry.email.html


@pytest.mark.django_db
def test_a_references_header_with_500_ids_is_capped(deliver_email, inbox_email) -> None:
    refs = b" ".join(b"<ref-%d@lee.example>" % i for i in range(500))
    entry = stored(deliver_email(message(13, b"References: " + refs + b"\r\n")))
    kept = entry.email.references
    assert len(kept) == 50 and kept[0] == "ref-0@lee.example" and kept[-1] == "ref-499@lee.example"


@pytest.mark.django_db
def test_a_forged_reply_token_is_not_trusted(deliver_email, inbox_email, sms_thread) -> None:
    genuine = reply_address(entry_id=1, domain="shoes.example")
    assert reply_address_verify(genuine) == 1
    forged = genuine.replace("reply+1.", "reply+2.")
    truncated = genuine.split("@")[0][:-4] + "@shoes.example"
    assert reply_address_verify(forged) is None and reply_address_verify(truncated) is None
    assert reply_address_verify("reply+1.@shoes.example") is None
    raw = message(14).replace(b"To: support@shoes.example", b"To: " + forged.encode())
    entry = stored(deliver_email(raw))
    assert entry.data["forged_reply_token"] is True
    assert entry.conversation.contact.identities.get().address == "kim@lee.example"
    assert entry.conversation_id != sms_thread.pk


@pytest.mark.django_db
def test_garbage_bytes_never_crash(deliver_email, inbox_email) -> None:
    entry = stored(deliver_email(b"\xff\xfe\x00garbage\r\n\r\n\x80\x81 not an email at all"))
    assert entry.from_address == "(no sender)"


def test_a_broken_message_never_raises_from_the_parser() -> None:
    from channels_adapters.email.parse import parse_email

    samples = [
        b"",
        b"Content-Type: multipart/mixed; boundary=x\r\n\r\n--x\r\nContent-Type: message/rfc822\r\n\r\n--x--",
        b'Content-Type: text/plain; charset=""\r\nContent-Transfer-Encoding: base64\r\n\r\n!!!notbase64',
        b"Subject: =?utf-8?B?broken?=\r\nFrom: =?x-unknown?Q?a?= <@>\r\n\r\nbody",
        eml("dsn"),
    ]
    for raw in samples:
        parse_email(raw, attachment_max_bytes=1024)

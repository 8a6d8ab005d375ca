"""The issue's proof: a customer whose phone number, email address and a unique phrase went through every
channel (an SMS, an MMS image, an email's raw MIME and attachment, a voicemail transcript, a web chat upload, a
private note) is erased, and none of them is found afterwards, in any of the forms they take on the wire (as
written, digits only, URL-encoded, base64, quoted-printable), in a `pg_dump` of the whole test database, in any
key or value of the test Redis database, in the files under media (raw mail included) and the sandbox, or in
the hub's log records; and the funnel and performance reports count the same as before."""

from __future__ import annotations

import base64
import logging
import os
import quopri
import re
import subprocess
from email.message import EmailMessage as MimeMessage
from pathlib import Path
from typing import Any
from urllib.parse import quote, quote_plus

import pytest
from django.conf import settings
from django.core.files.uploadedfile import SimpleUploadedFile
from django.db import connection
from rest_framework.test import APIClient

from channels_adapters.email.services import email_store
from channels_adapters.outbound import message_send
from channels_adapters.webchat.identity import visitor_token_new
from channels_adapters.webchat.services import webchat_message_store, webchat_upload_store
from contacts.models import Contact, Identity
from conversations.customers import contact_merge
from conversations.models import Attachment, Inbox
from conversations.services import note_add
from tests import factories
from tests.conftest import ACCOUNT_SID, twilio_fixture
from tests.images import png
from tests.privacy.test_erase import _counts

PHONE = "+14155550177"
EMAIL = "dana.proof@example.net"
PHRASE = "Quokka=Lantern 8842"  # "=" and the space change in quoted-printable and URL encoding
SECRETS = (PHONE, EMAIL, PHRASE)
SUPPORT_EMAIL = "support@shoes.example"
CALL_SID = "CA" + "7" * 32
REC = "RE" + "7" * 32


def _needles(secret: str) -> set[bytes]:
    """Every form the secret takes on the wire; each is looked for case-insensitively but base64."""
    raw = secret.encode()
    forms = {raw, quote(secret, safe="").encode(), quote_plus(secret).encode()}
    forms.add(quopri.encodestring(raw).rstrip(b"\n").rstrip(b"="))
    forms.add(quopri.encodestring(raw, quotetabs=True).rstrip(b"\n").rstrip(b"="))
    if secret.startswith("+"):
        digits = re.sub(r"\D", "", secret)
        forms |= {digits.encode(), digits[1:].encode()}  # 14155550177 and the national 4155550177
    return {form.lower() for form in forms}


def _base64_needles(secret: str) -> set[bytes]:
    """Base64 of the secret at each of the three offsets it may start at inside a longer text."""
    raw = secret.encode()
    found = set()
    for offset in range(3):
        encoded = base64.b64encode(b"\0" * offset + raw)
        start = 4 if offset else 0
        end = (offset + len(raw)) // 3 * 4
        found.add(encoded[start:end])
    return found


def _leaks(haystack: bytes, where: str) -> list[str]:
    # MIME wraps base64 at 76 characters and quoted-printable with soft breaks ("=" at a line's end).
    unwrapped = re.sub(rb"=?\r?\n", b"", haystack)
    lowered = haystack.lower() + b"\n" + unwrapped.lower()
    leaks = []
    for secret in SECRETS:
        leaks += [f"{where}: {secret!r} as {n!r}" for n in _needles(secret) if n in lowered]
        leaks += [
            f"{where}: {secret!r} as base64 {n!r}"
            for n in _base64_needles(secret)
            if n in haystack or n in unwrapped
        ]
    return sorted(set(leaks))


def _pg_dump() -> bytes:
    db = connection.settings_dict
    env = {**os.environ, "PGPASSWORD": str(db.get("PASSWORD") or "")}
    command = [
        "pg_dump",
        "--data-only",
        "--no-owner",
        "-d",
        str(db["NAME"]),
        "-U",
        str(db["USER"] or "postgres"),
    ]
    if db.get("HOST"):
        command += ["-h", str(db["HOST"]), "-p", str(db.get("PORT") or 5432)]
    return subprocess.run(command, env=env, capture_output=True, check=True, timeout=120).stdout


def _redis_dump() -> bytes:
    import redis

    client = redis.Redis.from_url(settings.REDIS_URL)
    parts: list[bytes] = []
    for key in client.scan_iter(count=500):
        parts.append(key)
        kind = client.type(key)
        if kind == b"string":
            parts.append(client.get(key) or b"")
        elif kind == b"hash":
            parts += [b for pair in client.hgetall(key).items() for b in pair]
        elif kind == b"list":
            parts += client.lrange(key, 0, -1)
        elif kind == b"set":
            parts += list(client.smembers(key))
        elif kind == b"zset":
            parts += client.zrange(key, 0, -1)
        elif kind == b"stream":
            parts += [b for _, fields in client.xrange(key) for pair in fields.items() for b in pair]
    return b"\n".join(parts)


def _files() -> list[tuple[str, bytes]]:
    found = []
    for root in (Path(settings.MEDIA_ROOT), Path(settings.SANDBOX_DIR)):
        for path in root.rglob("*") if root.exists() else []:
            if path.is_file():
                found.append((str(path), path.read_bytes()))
    return found


def _everywhere(log: list[str]) -> list[str]:
    leaks = []
    for table in re.split(rb"\n(?=COPY )", _pg_dump()):  # one part per table, named in the report
        name = table.split(b" (", 1)[0].decode(errors="replace") if table.startswith(b"COPY ") else "header"
        leaks += _leaks(table, f"pg_dump {name}")
    leaks += _leaks(_redis_dump(), "redis")
    for name, content in _files():
        leaks += _leaks(content, name)
    leaks += _leaks("\n".join(log).encode(), "logs")
    return leaks


def _email() -> bytes:
    mime = MimeMessage()
    mime["From"] = f"Dana <{EMAIL}>"
    mime["To"] = SUPPORT_EMAIL
    mime["Subject"] = "My order"
    mime["Message-ID"] = "<proof-1@example.net>"
    mime.set_content(f"Call me on {PHONE} about {PHRASE}, or write to {EMAIL}.\n", cte="quoted-printable")
    mime.add_attachment(
        f"Receipt for {EMAIL} / {PHONE}: {PHRASE}\n".encode(),
        maintype="application",
        subtype="octet-stream",
        filename="receipt.txt",
    )
    return mime.as_bytes()


@pytest.fixture
def log_lines() -> Any:
    """Every record written at the level the hub logs by default (INFO), formatted as the console writes them."""
    lines: list[str] = []

    class Keep(logging.Handler):
        def emit(self, record: logging.LogRecord) -> None:
            lines.append(self.format(record))

    handler = Keep(level=logging.INFO)
    root = logging.getLogger()
    level = root.level
    root.addHandler(handler)
    root.setLevel(logging.INFO)  # what the hub writes by default (LOG_LEVEL)
    yield lines
    root.removeHandler(handler)
    root.setLevel(level)


@pytest.mark.django_db(transaction=True)
def test_an_erased_customer_is_nowhere_in_any_wire_form_and_the_reports_count_the_same(
    inbox_support: Inbox,
    team_support: Any,
    agent_alice: Any,
    manager_maria: Any,
    fake_twilio: Any,
    twilio_post: Any,
    log_lines: list[str],
) -> None:
    # An SMS, then an MMS whose image shows the phrase, the number and the address.
    sms = twilio_fixture(
        "inbound_sms", From=PHONE, Body=f"Hi, {PHRASE}. Mail me at {EMAIL}", MessageSid="SM" + "1" * 32
    )
    assert twilio_post("/webhooks/twilio/messaging/", {**sms, "SmsSid": sms["MessageSid"]}).status_code == 200
    fake_twilio.state.media["/media/MEproof"] = (
        png(4, 4, text=f"{PHRASE} {PHONE} {EMAIL}".encode()),
        "image/png",
    )
    mms = twilio_fixture(
        "inbound_mms", From=PHONE, Body="photo", NumMedia="1", MediaUrl0=f"{fake_twilio.url}/media/MEproof"
    )
    mms.pop("MediaUrl1"), mms.pop("MediaContentType1")
    mms.update(MessageSid="MM" + "2" * 32, SmsSid="MM" + "2" * 32, SmsMessageSid="MM" + "2" * 32)
    assert twilio_post("/webhooks/twilio/messaging/", mms).status_code == 200
    contact = Contact.objects.get(identities__address=PHONE)
    Identity.objects.create(contact=contact, kind="email", address=EMAIL, raw_address=EMAIL)

    # An email: quoted-printable text and a base64 attachment, its raw MIME stored.
    factories.InboxFactory(name="Support email", kind=Inbox.EMAIL, address=SUPPORT_EMAIL, team=team_support)
    email_store(raw=_email(), source="test")

    # A voicemail whose transcript says it all; Twilio's callbacks carry the caller URL-encoded.
    voice = {"From": PHONE, "Caller": PHONE, "CallSid": CALL_SID}
    context = f"call={CALL_SID}&caller={quote(PHONE, safe='')}&called=%2B14155550100"
    twilio_post("/webhooks/twilio/voice/", twilio_fixture("voice_incoming", **voice))
    twilio_post("/webhooks/twilio/voice/status/", twilio_fixture("voice_status_completed", **voice))
    path = f"/2010-04-01/Accounts/{ACCOUNT_SID}/Recordings/{REC}"
    fake_twilio.state.media[path + ".mp3"] = (
        b"ID3\x04\x00\x00\x00\x00\x00\x00" + b"\xff\xfb\x90\x00" * 64,
        "audio/mpeg",
    )
    recording = twilio_fixture(
        "voice_recording_completed", RecordingUrl=fake_twilio.url + path, RecordingSid=REC, **voice
    )
    twilio_post("/webhooks/twilio/voice/recording/", recording, query=context)
    transcript = f"It's Dana, {PHRASE}, call me back on {PHONE} or mail {EMAIL}"
    twilio_post(
        "/webhooks/twilio/voice/transcription/",
        twilio_fixture(
            "voice_transcription_completed",
            RecordingUrl=fake_twilio.url + path,
            RecordingSid=REC,
            TranscriptionText=transcript,
            **voice,
        ),
        query=context,
    )

    # A web chat visitor uploads a picture and writes; the agents find it is Dana and merge the two.
    chat = factories.InboxFactory(name="Shop chat", kind=Inbox.WEBCHAT, address="", team=team_support)
    visitor, token = visitor_token_new(inbox_id=chat.pk)
    picture = png(4, 4, text=f"{PHRASE} {PHONE} {EMAIL}".encode())
    ref = webchat_upload_store(inbox=chat, token=token, upload=SimpleUploadedFile("me.png", picture), ip="")
    webchat_message_store(
        inbox=chat,
        visitor_id=visitor,
        client_id="proof0001",
        body=f"{PHRASE}, I'm {EMAIL}",
        ip="",
        uploads=[ref["upload"]],
    )
    visitor_contact = Contact.objects.get(identities__address=visitor)
    contact_merge(source=visitor_contact, into=contact, by=manager_maria)

    # A private note that names her and tells a colleague.
    factories.agent("agent_carl", teams=(team_support,))
    thread = contact.conversation
    note_add(conversation=thread, author=agent_alice, body=f"@agent_carl Dana {PHONE} {EMAIL} said {PHRASE}")

    # And the agent's answer by SMS, through Twilio (the fake one).
    reply = message_send(
        conversation=thread, body=f"Noted: {PHRASE}", author=agent_alice, channel="sms", inbox=inbox_support
    )

    reply.refresh_from_db()
    assert reply.delivery_status == "sent" and reply.provider_id.startswith("SM")

    kinds = set(thread.entries.exclude(kind="event").values_list("kind", "channel"))
    assert kinds >= {
        ("message", "sms"),
        ("message", "email"),
        ("call", "voice"),
        ("message", "webchat"),
        ("note", ""),
    }
    assert Attachment.objects.filter(entry__conversation=thread, state="stored").count() >= 4
    before = _counts()
    # The scan sees what it looks for: every secret, in its wire forms, is there before the erasure.
    found = "\n".join(_everywhere(log_lines))
    for secret in SECRETS:
        assert f"{secret!r} as" in found and f"{secret!r} as base64" in found, secret
    assert "b'quokka=3dlantern 8842'" in found, found  # the email's quoted-printable text, in its raw MIME

    client = APIClient()
    client.force_login(manager_maria)
    response = client.post(
        f"/api/v1/contacts/{contact.pk}/erase/", {"reason": f"{EMAIL} asked"}, format="json"
    )
    assert response.status_code == 200, response.content

    assert _everywhere(log_lines) == [], "\n".join(_everywhere(log_lines))
    sent_sid = reply.provider_id
    reply.refresh_from_db()
    assert {"SM" + "1" * 32, sent_sid} <= set(fake_twilio.state.deleted)  # Twilio's copies too
    assert reply.provider_id == ""
    assert _counts() == before

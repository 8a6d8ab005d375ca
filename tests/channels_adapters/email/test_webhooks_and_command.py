"""The two other ways in: anymail's real inbound view (signed by the ESP, behind the webhook secret) and the
MTA pipe command; and anymail's tracking webhook moving a reply's status."""

from __future__ import annotations

import base64
import hashlib
import hmac
import json
import subprocess
import sys
import time
from typing import Any

import pytest
from django.test import Client

from channels_adapters.models import InboundEvent
from conversations.models import Entry
from tests.channels_adapters.email.conftest import eml
from tests.live import ROOT, hub_env

SIGNING_KEY = "key-mailgun-signing-0123456789"
SECRET = "anymail-user:anymail-pass-0123456789"


@pytest.fixture
def anymail_configured(settings: Any) -> None:
    settings.ANYMAIL = {"WEBHOOK_SECRET": [SECRET], "MAILGUN_WEBHOOK_SIGNING_KEY": SIGNING_KEY}


def basic_auth(secret: str = SECRET) -> str:
    return "Basic " + base64.b64encode(secret.encode()).decode()


def mailgun_form(raw: bytes, *, key: str = SIGNING_KEY) -> dict[str, str]:
    timestamp, token = str(int(time.time())), "f3a1c2b4d5e6f7a8b9c0d1e2f3a4b5c6d7e8f9a0b1c2d3e4f5"
    signature = hmac.new(key.encode(), f"{timestamp}{token}".encode(), hashlib.sha256).hexdigest()
    return {
        "body-mime": raw.decode("utf-8"),
        "recipient": "support@shoes.example",
        "sender": "dana.whitfield@contoso.example",
        "timestamp": timestamp,
        "token": token,
        "signature": signature,
    }


@pytest.mark.django_db
def test_mailgun_inbound_through_anymails_view_lands_in_the_thread(
    anymail_configured, inbox_email, django_capture_on_commit_callbacks
) -> None:
    with django_capture_on_commit_callbacks(execute=True):
        response = Client().post(
            "/anymail/mailgun/inbound/", mailgun_form(eml("outlook")), HTTP_AUTHORIZATION=basic_auth()
        )
    assert response.status_code == 200, response.content
    entry = Entry.objects.get(channel="email")
    assert entry.inbox == inbox_email and entry.subject.startswith("RE: Order #10443")
    assert InboundEvent.objects.get().payload["source"] == "anymail:mailgun"


@pytest.mark.django_db
@pytest.mark.parametrize(
    ("auth", "key"),
    [("", SIGNING_KEY), (basic_auth("anymail-user:wrong"), SIGNING_KEY), (basic_auth(), "not-the-key")],
    ids=["no-basic-auth", "wrong-secret", "bad-mailgun-signature"],
)
def test_an_unauthenticated_inbound_webhook_changes_nothing(
    anymail_configured, inbox_email, auth, key
) -> None:
    headers = {"HTTP_AUTHORIZATION": auth} if auth else {}
    response = Client().post("/anymail/mailgun/inbound/", mailgun_form(eml("outlook"), key=key), **headers)
    assert response.status_code in (400, 401, 403)
    assert not InboundEvent.objects.exists()


@pytest.mark.django_db
def test_with_no_secret_configured_the_webhooks_refuse_everyone(inbox_email) -> None:
    response = Client().post(
        "/anymail/postmark/inbound/",
        data="{}",
        content_type="application/json",
        HTTP_AUTHORIZATION=basic_auth(),
    )
    assert response.status_code in (400, 401, 403)
    assert not InboundEvent.objects.exists()


@pytest.mark.django_db
def test_postmark_tracking_events_move_the_reply_live(
    anymail_configured, deliver_email, inbox_email, alice_client, django_capture_on_commit_callbacks, settings
) -> None:
    settings.EMAIL_SANDBOX = True
    customer = deliver_email(eml("gmail"))
    with django_capture_on_commit_callbacks(execute=True):
        alice_client.post(f"/inbox/{customer.conversation_id}/reply/", {"body": "Done", "channel": "email"})
    sent = Entry.objects.get(direction="outbound")
    Entry.objects.filter(pk=sent.pk).update(provider_id="883953f4-6105-42a2-a16a-77a8eac79483")
    delivered = {
        "RecordType": "Delivery",
        "MessageID": "883953f4-6105-42a2-a16a-77a8eac79483",
        "Recipient": "sam.carter@gmail.example",
        "DeliveredAt": "2024-11-13T19:00:00Z",
        "Details": "Test delivery webhook details",
        "Tag": "",
        "ServerID": 23,
        "MessageStream": "outbound",
        "Metadata": {},
    }
    response = Client().post(
        "/anymail/postmark/tracking/",
        data=json.dumps(delivered),
        content_type="application/json",
        HTTP_AUTHORIZATION=basic_auth(),
    )
    assert response.status_code == 200, response.content
    sent.refresh_from_db()
    assert sent.delivery_status == "delivered"
    bounced = {
        "RecordType": "Bounce",
        "ID": 4323372036854775807,
        "Type": "HardBounce",
        "TypeCode": 1,
        "Name": "Hard bounce",
        "MessageID": "883953f4-6105-42a2-a16a-77a8eac79483",
        "Description": "The server was unable to deliver your message (ex: unknown user, mailbox not found).",
        "Details": "smtp;550 5.1.1 The email account that you tried to reach does not exist.",
        "Email": "sam.carter@gmail.example",
        "BouncedAt": "2024-11-13T19:01:00Z",
        "Inactive": True,
        "CanActivate": True,
        "Subject": "Re: Your return label",
        "MessageStream": "outbound",
    }
    response = Client().post(
        "/anymail/postmark/tracking/",
        data=json.dumps(bounced),
        content_type="application/json",
        HTTP_AUTHORIZATION=basic_auth(),
    )
    assert response.status_code == 200
    sent.refresh_from_db()
    assert sent.delivery_status == "failed" and "bounced" in sent.status_reason


# --- the MTA pipe ------------------------------------------------------------------------------------
def ingest(raw: bytes, tmp_path: Any, *args: str) -> subprocess.CompletedProcess[bytes]:
    # Embedded Celery (no REDIS_URL): the command's process also turns the stored event into an entry.
    env = hub_env(tmp_path / "var", REDIS_URL="")
    return subprocess.run(
        [sys.executable, "manage.py", "ingest_email", *args],
        input=raw,
        cwd=ROOT,
        env=env,
        capture_output=True,
        timeout=60,
        check=False,
    )


@pytest.mark.django_db(transaction=True)
@pytest.mark.integration
def test_ingest_email_stores_once_and_refuses_with_a_one_line_reason(tmp_path, inbox_email) -> None:
    first = ingest(eml("apple_mail"), tmp_path, "--recipient", "support@shoes.example")
    assert first.returncode == 0, first.stderr
    again = ingest(eml("apple_mail"), tmp_path)
    assert again.returncode == 0, again.stderr
    assert InboundEvent.objects.count() == 1
    entry = Entry.objects.get(channel="email")
    assert entry.subject.startswith("Photo of the damaged sole") and entry.inbox == inbox_email
    empty = ingest(b"", tmp_path)
    assert empty.returncode == 65
    assert empty.stderr.decode().strip() == "ingest_email: refused: The message is empty."
    assert len(empty.stderr.decode().strip().splitlines()) == 1


@pytest.mark.integration
def test_ingest_email_with_the_database_down_exits_75_so_the_mta_retries(tmp_path) -> None:
    """The fault drill for the pipe: nothing stored is never reported as stored."""
    env = hub_env(tmp_path / "var", REDIS_URL="", DATABASE_URL="postgres://postgres@127.0.0.1:9/hub_down")
    result = subprocess.run(
        [sys.executable, "manage.py", "ingest_email"],
        input=eml("gmail"),
        cwd=ROOT,
        env=env,
        capture_output=True,
        timeout=60,
        check=False,
    )
    assert result.returncode == 75, result.stderr
    lines = result.stderr.decode().strip().splitlines()
    assert lines == ["ingest_email: cannot store the message now, try again later (OperationalError)"]

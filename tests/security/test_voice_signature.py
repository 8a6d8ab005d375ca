"""The voice webhooks, forged: every one answers 403 to a forgery of a valid callback and changes nothing,
then the genuine callback still lands. The query carries the call's context, so it is forged too."""

from __future__ import annotations

import base64
from urllib.parse import urlencode

import pytest

from channels_adapters.models import InboundEvent
from contacts.models import Contact
from conversations.models import Entry
from tests.conftest import AUTH_TOKEN, PUBLIC_BASE_URL, twilio_fixture, twilio_sign

CONTEXT = "call=CA5f2c3b4a1e0d9c8b7a6f5e4d3c2b1a09&caller=%2B14155550142&called=%2B14155550100"
# (path, fixture, query the hub's TwiML puts on it)
ENDPOINTS = [
    ("/webhooks/twilio/voice/", "voice_incoming", ""),
    ("/webhooks/twilio/voice/status/", "voice_status_completed", ""),
    ("/webhooks/twilio/voice/status/", "voice_agent_answered", "leg=agent&agent=1&" + CONTEXT),
    ("/webhooks/twilio/voice/dial/", "voice_dial_no_answer", "stage=team&" + CONTEXT),
    ("/webhooks/twilio/voice/recording/", "voice_recording_completed", CONTEXT),
    ("/webhooks/twilio/voice/transcription/", "voice_transcription_completed", CONTEXT),
    ("/webhooks/twilio/voice/bridge/", "voice_status_completed", "entry=1"),
]


def _forgeries(
    path: str, valid: dict[str, str], query: str
) -> list[tuple[str, dict[str, str], str, str | None]]:
    """(name, params posted, query posted, signature header or None for no header)."""
    url = PUBLIC_BASE_URL + path + (f"?{query}" if query else "")
    good = twilio_sign(url, valid)
    found = []
    for key in valid:
        found.append((f"{key} changed", {**valid, key: valid[key] + "0"}, query, good))
        found.append((f"{key} removed", {k: v for k, v in valid.items() if k != key}, query, good))
    found += [
        ("a parameter added", {**valid, "RecordingUrl": "http://169.254.169.254/latest/"}, query, good),
        ("the query changed", valid, query.replace("CA5", "CA6") + "&entry=2", good),
        ("a query added", valid, (query + "&" if query else "") + "agent=7", good),
        ("the query dropped", valid, "", good if query else twilio_sign(url + "?leg=agent", valid)),
        (
            "signed for another voice path",
            valid,
            query,
            twilio_sign(PUBLIC_BASE_URL + "/webhooks/twilio/voice/x/", valid),
        ),
        (
            "signed for the messaging webhook",
            valid,
            query,
            twilio_sign(PUBLIC_BASE_URL + "/webhooks/twilio/messaging/", valid),
        ),
        ("signed over http", valid, query, twilio_sign(url.replace("https://", "http://"), valid)),
        ("another token", valid, query, twilio_sign(url, valid, token="f" * 32)),
        ("signature truncated", valid, query, good[:-2]),
        ("signature in hex", valid, query, base64.b64decode(good).hex()),
        ("signature empty", valid, query, ""),
        ("no signature header", valid, query, None),
    ]
    return found


def _post(client, path: str, params: dict[str, str], query: str, signature: str | None):
    headers = {} if signature is None else {"HTTP_X_TWILIO_SIGNATURE": signature}
    return client.post(
        path + (f"?{query}" if query else ""),
        data=urlencode(params),
        content_type="application/x-www-form-urlencoded",
        **headers,
    )


@pytest.mark.django_db
@pytest.mark.parametrize("path,fixture,query", ENDPOINTS, ids=[f"{p} {f}" for p, f, _ in ENDPOINTS])
def test_every_forgery_of_a_voice_callback_is_refused_and_changes_nothing(
    path, fixture, query, client, inbox_support, fake_twilio, django_capture_on_commit_callbacks
) -> None:
    valid = twilio_fixture(fixture)
    accepted = []
    with django_capture_on_commit_callbacks(execute=True):
        for name, params, posted_query, signature in _forgeries(path, valid, query):
            response = _post(client, path, params, posted_query, signature)
            if response.status_code != 403:
                accepted.append((name, response.status_code))
            elif b"<Response" in response.content:
                accepted.append((name, "answered TwiML"))
    assert accepted == []
    assert (InboundEvent.objects.count(), Entry.objects.count(), Contact.objects.count()) == (0, 0, 0)
    assert fake_twilio.calls == [] and fake_twilio.state.media_requests == []

    url = PUBLIC_BASE_URL + path + (f"?{query}" if query else "")
    with django_capture_on_commit_callbacks(execute=True):
        response = _post(client, path, valid, query, twilio_sign(url, valid))
    assert response.status_code in (200, 204)
    if not path.endswith("/bridge/"):
        assert InboundEvent.objects.count() == 1


@pytest.mark.django_db
def test_the_forgeries_cover_every_parameter_of_every_fixture() -> None:
    for path, fixture, query in ENDPOINTS:
        valid = twilio_fixture(fixture)
        names = {name for name, *_ in _forgeries(path, valid, query)}
        for key in valid:
            assert {f"{key} changed", f"{key} removed"} <= names


@pytest.mark.django_db
def test_a_voice_callback_signed_by_the_real_token_but_for_another_account_sid_is_refused(
    twilio_post,
) -> None:
    params = twilio_fixture("voice_incoming", AccountSid="AC" + "b" * 32)
    assert twilio_post("/webhooks/twilio/voice/", params, token=AUTH_TOKEN).status_code == 403
    assert not InboundEvent.objects.exists()

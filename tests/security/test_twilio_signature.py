"""Twilio webhook signatures: the SDK's own test vectors against our verifier, then forgeries of one valid
request, each refused with 403 and leaving nothing behind, and the valid request still landing afterwards.
"""

from __future__ import annotations

import base64
import hashlib
import hmac
import json
from dataclasses import dataclass, field
from typing import Any
from urllib.parse import urlencode

import pytest
from django.http import QueryDict
from django.test import RequestFactory
from twilio.request_validator import RequestValidator

from channels_adapters.models import InboundEvent, TwilioAccount
from channels_adapters.twilio_auth import twilio_signature_valid
from contacts.models import Contact
from conversations.models import Entry
from tests.conftest import ACCOUNT_SID, AUTH_TOKEN, PUBLIC_BASE_URL, twilio_fixture, twilio_sign

PATH = "/webhooks/twilio/messaging/"
URL = PUBLIC_BASE_URL + PATH

# --- the Twilio SDK's validator vectors (twilio-python tests/unit/test_request_validator.py) ----------
SDK_TOKEN = "12345"
SDK_URI = "https://mycompany.com/myapp.php?foo=1&bar=2"
SDK_PARAMS = {
    "CallSid": "CA1234567890ABCDE",
    "Digits": "1234",
    "From": "+14158675309",
    "To": "+18005551212",
    "Caller": "+14158675309",
}
SDK_EXPECTED = "RSOYDt4T1cUTdK1PDd93/VVr8B8="
SDK_BODY = '{"property": "value", "boolean": true}'
SDK_BODY_HASH = "0a1ff7634d9ab3b95db5c9a2dfe9416e41502b283a80c7cf19632632f96e6620"
SDK_BODY_SIGNATURE = "a9nBmqA0ju/hNViExpshrM61xv4="
SDK_DUPLICATES = [("Sid", "CA123"), ("SidAccount", "AC123"), ("Digits", "5678"), ("Digits", "1234")]
SDK_DUPLICATES_EXPECTED = "IK+Dwps556ElfBT0I3Rgjkr1wJU="


@dataclass
class Vector:
    name: str
    uri: str
    signature: str
    form: list[tuple[str, str]] = field(default_factory=list)
    body: str | None = None  # a JSON body instead of a form
    token: str = SDK_TOKEN


def _with_port(uri: str, port: int) -> str:
    return uri.replace(".com", f".com:{port}")


ACCEPTED = [
    Vector("compute_signature / validation", SDK_URI, SDK_EXPECTED, list(SDK_PARAMS.items())),
    Vector("removes port on https", _with_port(SDK_URI, 1234), SDK_EXPECTED, list(SDK_PARAMS.items())),
    Vector(
        "removes port on http",
        _with_port(SDK_URI, 1234).replace("https", "http"),
        "Zmvh+3yNM1Phv2jhDCwEM3q5ebU=",
        list(SDK_PARAMS.items()),
    ),
    Vector("adds port on https", SDK_URI, "kvajT1Ptam85bY51eRf/AJRuM3w=", list(SDK_PARAMS.items())),
    Vector(
        "adds port on http",
        SDK_URI.replace("https", "http"),
        "0ZXoZLH/DfblKGATFgpif+LLRf4=",
        list(SDK_PARAMS.items()),
    ),
    Vector("duplicate parameters", SDK_URI, SDK_DUPLICATES_EXPECTED, SDK_DUPLICATES),
    Vector(
        "JSON body with bodySHA256",
        f"{SDK_URI}&bodySHA256={SDK_BODY_HASH}",
        SDK_BODY_SIGNATURE,
        body=SDK_BODY,
    ),
]

_changed = dict(SDK_PARAMS, Digits="4321")
REJECTED = [
    Vector("another token", SDK_URI, SDK_EXPECTED, list(SDK_PARAMS.items()), token="12346"),
    Vector("a parameter changed", SDK_URI, SDK_EXPECTED, list(_changed.items())),
    Vector(
        "a parameter removed", SDK_URI, SDK_EXPECTED, [(k, v) for k, v in SDK_PARAMS.items() if k != "Caller"]
    ),
    Vector("a parameter added", SDK_URI, SDK_EXPECTED, [*SDK_PARAMS.items(), ("Extra", "1")]),
    Vector("a duplicate dropped", SDK_URI, SDK_DUPLICATES_EXPECTED, SDK_DUPLICATES[:3]),
    Vector("the query changed", SDK_URI.replace("foo=1", "foo=2"), SDK_EXPECTED, list(SDK_PARAMS.items())),
    Vector("the path changed", SDK_URI.replace("myapp", "other"), SDK_EXPECTED, list(SDK_PARAMS.items())),
    Vector("the host changed", SDK_URI.replace("mycompany", "evil"), SDK_EXPECTED, list(SDK_PARAMS.items())),
    Vector(
        "https signed, http received",
        SDK_URI.replace("https", "http"),
        SDK_EXPECTED,
        list(SDK_PARAMS.items()),
    ),
    Vector(
        "port 80 signature on https",
        SDK_URI,
        "0ZXoZLH/DfblKGATFgpif+LLRf4=",
        list(SDK_PARAMS.items()),
    ),
    Vector(
        "JSON body changed, bodySHA256 kept",
        f"{SDK_URI}&bodySHA256={SDK_BODY_HASH}",
        SDK_BODY_SIGNATURE,
        body=SDK_BODY.replace("true", "false"),
    ),
    Vector(
        "bodySHA256 changed to the forged body's",
        f"{SDK_URI}&bodySHA256={hashlib.sha256(b'{}').hexdigest()}",
        SDK_BODY_SIGNATURE,
        body="{}",
    ),
]


def _sdk_says(vector: Vector) -> bool:
    params: Any = vector.body if vector.body is not None else QueryDict(urlencode(vector.form), mutable=True)
    return bool(RequestValidator(vector.token).validate(vector.uri, params, vector.signature))


def _ours_says(vector: Vector, settings: Any) -> bool:
    """Our verifier on the request as Django receives it: the URL rebuilt from PUBLIC_BASE_URL + path + query."""
    scheme, rest = vector.uri.split("://", 1)
    host, _, path_and_query = rest.partition("/")
    settings.PUBLIC_BASE_URL = f"{scheme}://{host}"
    target = "/" + path_and_query
    factory = RequestFactory()
    if vector.body is not None:
        request = factory.post(
            target,
            data=vector.body,
            content_type="application/json",
            HTTP_X_TWILIO_SIGNATURE=vector.signature,
        )
    else:
        request = factory.post(
            target,
            data=urlencode(vector.form),
            content_type="application/x-www-form-urlencoded",
            HTTP_X_TWILIO_SIGNATURE=vector.signature,
        )
    return twilio_signature_valid(request, vector.token)


def test_the_vectors_are_the_sdks() -> None:
    """The vectors are what the SDK's suite says they are (a typo here would make the tables below hollow)."""
    validator = RequestValidator(SDK_TOKEN)
    assert validator.compute_signature(SDK_URI, SDK_PARAMS) == SDK_EXPECTED
    assert validator.compute_hash(SDK_BODY) == SDK_BODY_HASH == hashlib.sha256(SDK_BODY.encode()).hexdigest()
    assert (
        validator.compute_signature(SDK_URI, QueryDict(urlencode(SDK_DUPLICATES))) == SDK_DUPLICATES_EXPECTED
    )


@pytest.mark.parametrize("vector", ACCEPTED, ids=lambda v: v.name)
def test_what_the_sdk_accepts_we_accept(vector: Vector, settings: Any) -> None:
    assert _sdk_says(vector) is True
    assert _ours_says(vector, settings) is True


@pytest.mark.parametrize("vector", REJECTED, ids=lambda v: v.name)
def test_what_the_sdk_rejects_we_reject(vector: Vector, settings: Any) -> None:
    assert _sdk_says(vector) is False
    assert _ours_says(vector, settings) is False


def test_a_json_body_without_bodysha256_is_not_signed_at_all(settings: Any) -> None:
    """The signature then covers the URL only: anyone could replay it with any body. Ours refuses it."""
    unsigned_body_signature = RequestValidator(SDK_TOKEN).compute_signature(SDK_URI, {})
    vector = Vector("no bodySHA256", SDK_URI, unsigned_body_signature, body=SDK_BODY)
    assert _ours_says(vector, settings) is False


# --- our webhook, signed as Twilio signs it -------------------------------------------------------------
def assert_nothing_stored() -> None:
    assert InboundEvent.objects.count() == 0
    assert Entry.objects.count() == 0
    assert Contact.objects.count() == 0


@pytest.mark.django_db
@pytest.mark.parametrize(
    "public_base_url,signed_url",
    [
        ("https://hub.example.test", "https://hub.example.test:443" + PATH),
        ("https://hub.example.test:8443", "https://hub.example.test" + PATH),
        ("https://hub.example.test:8443", "https://hub.example.test:8443" + PATH),
        ("http://hub.example.test", "http://hub.example.test:80" + PATH),
    ],
)
def test_the_default_port_may_or_may_not_be_signed(
    twilio_post, settings, inbox_support, public_base_url, signed_url
) -> None:
    """As the SDK: Twilio's signing is inconsistent about ports, so the URL is tried with and without."""
    settings.PUBLIC_BASE_URL = public_base_url
    response = twilio_post(PATH, twilio_fixture("inbound_sms"), sign_url=signed_url)
    assert response.status_code == 200
    assert InboundEvent.objects.count() == 1


@pytest.mark.django_db
def test_repeated_parameters_are_signed_and_stored_as_sent(client, inbox_support) -> None:
    params = [*twilio_fixture("inbound_sms").items(), ("Body", "second part")]
    signature = RequestValidator(AUTH_TOKEN).compute_signature(URL, QueryDict(urlencode(params)))
    response = client.post(
        PATH,
        data=urlencode(params),
        content_type="application/x-www-form-urlencoded",
        HTTP_X_TWILIO_SIGNATURE=signature,
    )
    assert response.status_code == 200
    assert InboundEvent.objects.get().payload["Body"] == [
        "Hi, is the blue trail runner back in size 9?",
        "second part",
    ]


@dataclass
class Forgery:
    name: str
    params: dict[str, str] | None = None  # what is posted (default: the valid request's)
    query: str = ""  # posted with this query string
    signature: str | None = None  # default: the valid request's own signature
    headers: dict[str, str] = field(default_factory=dict)


def _hmac(key: str, message: str, digest: Any) -> bytes:
    return hmac.new(key.encode(), message.encode(), digest).digest()


def _forgeries() -> list[Forgery]:
    valid = twilio_fixture("inbound_sms")
    good = twilio_sign(URL, valid)
    raw = base64.b64decode(good)
    signed_string = URL + "".join(k + valid[k] for k in sorted(valid))

    def signed_for(url: str, params: dict[str, str] | None = None, token: str = AUTH_TOKEN) -> str:
        return twilio_sign(url, params if params is not None else valid, token)

    forgeries: list[Forgery] = []
    for key in valid:
        forgeries.append(Forgery(f"{key} changed", params={**valid, key: valid[key] + "0"}))
        forgeries.append(Forgery(f"{key} removed", params={k: v for k, v in valid.items() if k != key}))
    forgeries += [
        Forgery("a parameter added", params={**valid, "OptOutType": "STOP"}),
        Forgery(
            "a media URL added",
            params={**valid, "NumMedia": "1", "MediaUrl0": "http://169.254.169.254/latest/meta-data/"},
        ),
        Forgery("an empty parameter added", params={**valid, "ProfileName": ""}),
        Forgery("parameters swapped", params={**valid, "From": valid["To"], "To": valid["From"]}),
        Forgery("a query added", query="entry=1"),
        Forgery("the query changed", query="inbox=2", signature=signed_for(URL + "?inbox=1")),
        Forgery("the query dropped", signature=signed_for(URL + "?inbox=1")),
        Forgery("scheme http", signature=signed_for(URL.replace("https://", "http://"))),
        Forgery("host changed", signature=signed_for("https://evil.example.test" + PATH)),
        Forgery("host suffixed", signature=signed_for("https://hub.example.test.evil.test" + PATH)),
        Forgery("port 8443", signature=signed_for("https://hub.example.test:8443" + PATH)),
        Forgery("port 80 on https", signature=signed_for("https://hub.example.test:80" + PATH)),
        Forgery("path of the status callback", signature=signed_for(PUBLIC_BASE_URL + PATH + "status/")),
        Forgery("path without its slash", signature=signed_for(PUBLIC_BASE_URL + PATH.rstrip("/"))),
        Forgery("internal URL the proxy forwarded to", signature=signed_for("http://testserver" + PATH)),
        Forgery("signature truncated by one", signature=good[:-1]),
        Forgery("signature truncated to half", signature=good[: len(good) // 2]),
        Forgery("signature padded", signature=good + "="),
        Forgery("signature with a byte appended", signature=base64.b64encode(raw + b"\0").decode()),
        Forgery("signature without padding", signature=good.rstrip("=")),
        Forgery(
            "signature urlsafe, no padding", signature=base64.urlsafe_b64encode(raw).decode().rstrip("=")
        ),
        Forgery("signature in hex", signature=raw.hex()),
        Forgery("signature lowercased", signature=good.lower()),
        Forgery("signature empty", signature=""),
        Forgery("signature header absent", signature=None, headers={"omit": "1"}),
        # Two X-Twilio-Signature headers reach Django joined with a comma (ASGI and WSGI alike).
        Forgery("signature header duplicated", signature=f"{good},{good}"),
        Forgery("a wrong and the right signature", signature=f"bm90IGEgc2lnbmF0dXJl,{good}"),
        Forgery(
            "HMAC-SHA256 of the same string",
            signature=base64.b64encode(_hmac(AUTH_TOKEN, signed_string, hashlib.sha256)).decode(),
        ),
        Forgery("another account's token", signature=signed_for(URL, token="f" * 32)),
        Forgery("the token of an account not named in AccountSid", signature=signed_for(URL, token="5" * 32)),
        Forgery(
            "an unknown AccountSid signed with its own token",
            params={**valid, "AccountSid": "AC" + "b" * 32},
            signature=signed_for(URL, {**valid, "AccountSid": "AC" + "b" * 32}, token="b" * 32),
        ),
        Forgery(
            "the subaccount's AccountSid signed with the parent's token",
            params={**valid, "AccountSid": "AC" + "5" * 32},
            signature=signed_for(URL, {**valid, "AccountSid": "AC" + "5" * 32}),
        ),
        Forgery("a body replayed as JSON", signature=good, headers={"json": "1"}),
    ]
    return forgeries


FORGERIES = _forgeries()


@pytest.mark.django_db
def test_every_forgery_of_a_valid_request_is_refused_and_the_valid_one_still_lands(
    client, inbox_support, django_capture_on_commit_callbacks
) -> None:
    """None accepted, none lost: 403 for each forgery, nothing stored, then the genuine request lands."""
    TwilioAccount.objects.create(name="EU subaccount", account_sid="AC" + "5" * 32, auth_token="5" * 32)
    valid = twilio_fixture("inbound_sms")
    good = twilio_sign(URL, valid)
    accepted = []
    for forgery in FORGERIES:
        params = forgery.params if forgery.params is not None else valid
        target = PATH + (f"?{forgery.query}" if forgery.query else "")
        signature = good if forgery.signature is None else forgery.signature
        headers = {} if "omit" in forgery.headers else {"HTTP_X_TWILIO_SIGNATURE": signature}
        if "json" in forgery.headers:
            response = client.post(
                target, data=json.dumps(params), content_type="application/json", **headers
            )
        else:
            response = client.post(
                target, data=urlencode(params), content_type="application/x-www-form-urlencoded", **headers
            )
        if response.status_code != 403:
            accepted.append((forgery.name, response.status_code))
    assert accepted == []
    assert_nothing_stored()

    with django_capture_on_commit_callbacks(execute=True):
        response = client.post(
            PATH,
            data=urlencode(valid),
            content_type="application/x-www-form-urlencoded",
            HTTP_X_TWILIO_SIGNATURE=good,
        )
    assert response.status_code == 200
    assert InboundEvent.objects.get().state == InboundEvent.DONE
    assert Entry.objects.get(kind="message").body == valid["Body"]


def test_the_forgery_table_covers_every_parameter() -> None:
    names = {forgery.name for forgery in FORGERIES}
    for key in twilio_fixture("inbound_sms"):
        assert {f"{key} changed", f"{key} removed"} <= names


# --- the positive cases that peers got wrong --------------------------------------------------------------
@pytest.mark.django_db
def test_behind_a_tls_terminating_proxy_the_public_url_is_what_counts(
    client, inbox_support, settings
) -> None:
    """Twilio signed https://hub.example.test/...; the request reaches Django as http on an internal host."""
    settings.ALLOWED_HOSTS = [*settings.ALLOWED_HOSTS, "hub-internal"]
    params = twilio_fixture("inbound_sms")
    response = client.post(
        PATH,
        data=urlencode(params),
        content_type="application/x-www-form-urlencoded",
        HTTP_X_TWILIO_SIGNATURE=twilio_sign(URL, params),
        HTTP_HOST="hub-internal:8000",
        secure=False,
    )
    assert response.status_code == 200
    assert InboundEvent.objects.count() == 1


@pytest.mark.django_db
def test_a_number_in_a_messaging_service_pool_validates(
    twilio_post, django_capture_on_commit_callbacks
) -> None:
    """The pool number is registered nowhere: the token comes from the signed AccountSid, not the To number."""
    with django_capture_on_commit_callbacks(execute=True):
        response = twilio_post(PATH, twilio_fixture("inbound_messaging_service"))
    assert response.status_code == 200
    assert Entry.objects.get(kind="message").body == "Do you ship to Canada?"


@pytest.mark.django_db
def test_a_subaccount_signs_with_its_own_token(twilio_post, inbox_support) -> None:
    sub_sid, sub_token = "AC" + "5" * 32, "5" * 32
    TwilioAccount.objects.create(name="EU subaccount", account_sid=sub_sid, auth_token=sub_token)
    params = twilio_fixture("inbound_sms", AccountSid=sub_sid)
    assert twilio_post(PATH, params, token=sub_token).status_code == 200
    # The parent account's token does not sign for the subaccount.
    params = twilio_fixture("inbound_sms", AccountSid=sub_sid, MessageSid="SM" + "d" * 32)
    assert twilio_post(PATH, params, token=AUTH_TOKEN).status_code == 403


@pytest.mark.django_db
def test_the_subaccount_token_is_stored_encrypted() -> None:
    from django.db import connection

    TwilioAccount.objects.create(name="Sub", account_sid="AC" + "6" * 32, auth_token="plain-secret-token")
    with connection.cursor() as cursor:
        cursor.execute("SELECT auth_token FROM channels_adapters_twilioaccount")
        stored = cursor.fetchone()[0]
    assert "plain-secret-token" not in stored
    assert TwilioAccount.objects.get().auth_token == "plain-secret-token"


@pytest.mark.django_db
def test_status_callbacks_are_signed_too(twilio_post) -> None:
    params = twilio_fixture("status_delivered")
    assert twilio_post("/webhooks/twilio/messaging/status/", params, token="0" * 32).status_code == 403
    assert twilio_post("/webhooks/twilio/messaging/status/", params).status_code == 204


def test_the_env_account_is_what_the_fixture_uses() -> None:
    assert twilio_fixture("inbound_sms")["AccountSid"] == ACCOUNT_SID


@pytest.mark.django_db
def test_a_replay_with_a_moved_name_value_boundary_passes_the_signature_and_changes_nothing(
    client, inbox_support, django_capture_on_commit_callbacks
) -> None:
    """Twilio signs the URL followed by name+value pairs run together, so `Body=ab` and `Bod=yab` sign
    alike (and repeated values collapse in some SDKs). The signature cannot catch that tampering; the
    idempotency key can: the replay carries the same MessageSid, so it is the same event, stored once."""
    genuine = twilio_fixture("inbound_sms")
    signature = twilio_sign(URL, genuine)
    tampered = {k: v for k, v in genuine.items() if k != "Body"}
    tampered["Bod"] = "y" + genuine["Body"]
    assert twilio_sign(URL, tampered) == signature  # the scheme's blind spot, as Twilio defines it
    for params in (genuine, tampered):
        with django_capture_on_commit_callbacks(execute=True):
            response = client.post(
                PATH,
                data=urlencode(params),
                content_type="application/x-www-form-urlencoded",
                HTTP_X_TWILIO_SIGNATURE=signature,
            )
        assert response.status_code == 200
    assert InboundEvent.objects.count() == 1
    assert list(Entry.objects.filter(kind="message").values_list("body", flat=True)) == [genuine["Body"]]

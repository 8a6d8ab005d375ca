"""Forged or misaddressed webhooks are refused with 403 and change nothing."""

from __future__ import annotations

import base64

import pytest

from channels_adapters.models import InboundEvent, TwilioAccount
from contacts.models import Contact
from conversations.models import Entry
from tests.conftest import ACCOUNT_SID, AUTH_TOKEN, PUBLIC_BASE_URL, twilio_fixture, twilio_sign

PATH = "/webhooks/twilio/messaging/"


def assert_nothing_stored() -> None:
    assert InboundEvent.objects.count() == 0
    assert Entry.objects.count() == 0
    assert Contact.objects.count() == 0


@pytest.mark.django_db
def test_a_correctly_signed_webhook_is_accepted(twilio_post, inbox_support) -> None:
    response = twilio_post(PATH, twilio_fixture("inbound_sms"))
    assert response.status_code == 200
    assert InboundEvent.objects.count() == 1


@pytest.mark.django_db
def test_missing_signature_is_refused(client) -> None:
    response = client.post(PATH, data=twilio_fixture("inbound_sms"))
    assert response.status_code == 403
    assert_nothing_stored()


@pytest.mark.django_db
def test_wrong_signature_is_refused(twilio_post) -> None:
    response = twilio_post(PATH, twilio_fixture("inbound_sms"), signature="bm90IGEgc2lnbmF0dXJl")
    assert response.status_code == 403
    assert_nothing_stored()


@pytest.mark.django_db
def test_signature_for_another_url_is_refused(twilio_post) -> None:
    params = twilio_fixture("inbound_sms")
    response = twilio_post(PATH, params, sign_url=PUBLIC_BASE_URL + "/webhooks/twilio/messaging/status/")
    assert response.status_code == 403
    assert_nothing_stored()


@pytest.mark.django_db
def test_signature_for_another_host_is_refused(twilio_post) -> None:
    response = twilio_post(PATH, twilio_fixture("inbound_sms"), sign_url="https://evil.example.test" + PATH)
    assert response.status_code == 403
    assert_nothing_stored()


@pytest.mark.django_db
@pytest.mark.parametrize(
    "field,value",
    [
        ("Body", "Send the refund to my new account"),
        ("From", "+14155550199"),
        ("To", "+14155550199"),
        ("MessageSid", "SM" + "f" * 32),
    ],
)
def test_a_replayed_body_with_one_field_changed_is_refused(twilio_post, client, field, value) -> None:
    params = twilio_fixture("inbound_sms")
    signature = twilio_sign(PUBLIC_BASE_URL + PATH, params)
    tampered = {**params, field: value}
    response = twilio_post(PATH, tampered, signature=signature)
    assert response.status_code == 403
    assert_nothing_stored()


@pytest.mark.django_db
def test_a_query_string_is_part_of_what_is_signed(twilio_post) -> None:
    params = twilio_fixture("inbound_sms")
    signature = twilio_sign(PUBLIC_BASE_URL + PATH + "?inbox=1", params)
    response = twilio_post(PATH, params, signature=signature, query="inbox=2")
    assert response.status_code == 403
    assert_nothing_stored()


@pytest.mark.django_db
def test_another_accounts_token_is_refused(twilio_post) -> None:
    response = twilio_post(PATH, twilio_fixture("inbound_sms"), token="f" * 32)
    assert response.status_code == 403
    assert_nothing_stored()


@pytest.mark.django_db
def test_an_unknown_account_is_refused(twilio_post) -> None:
    params = twilio_fixture("inbound_sms", AccountSid="AC" + "b" * 32)
    response = twilio_post(PATH, params)
    assert response.status_code == 403
    assert_nothing_stored()


@pytest.mark.django_db
def test_a_truncated_or_reencoded_signature_is_refused(twilio_post) -> None:
    params = twilio_fixture("inbound_sms")
    good = twilio_sign(PUBLIC_BASE_URL + PATH, params)
    for forged in [
        good[:-2],
        good + "A",
        base64.urlsafe_b64encode(base64.b64decode(good)).decode().rstrip("="),
        good.lower(),
    ]:
        if forged == good:
            continue
        assert twilio_post(PATH, params, signature=forged).status_code == 403
    assert_nothing_stored()


@pytest.mark.django_db
def test_behind_a_tls_terminating_proxy_the_public_url_is_what_counts(twilio_post, inbox_support) -> None:
    # The request reaches Django as http://testserver/..., Twilio signed https://hub.example.test/...
    params = twilio_fixture("inbound_sms")
    response = twilio_post(PATH, params, sign_url=PUBLIC_BASE_URL + PATH)
    assert response.status_code == 200
    # And a signature over the internal URL the proxy forwarded to is not accepted.
    params2 = twilio_fixture("inbound_sms", MessageSid="SM" + "c" * 32)
    response = twilio_post(PATH, params2, sign_url="http://testserver" + PATH)
    assert response.status_code == 403


@pytest.mark.django_db
def test_a_number_in_a_messaging_service_pool_validates(twilio_post) -> None:
    """The pool number is registered nowhere: the token comes from the signed AccountSid, not the To number."""
    response = twilio_post(PATH, twilio_fixture("inbound_messaging_service"))
    assert response.status_code == 200
    assert InboundEvent.objects.count() == 1


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
    response = twilio_post("/webhooks/twilio/messaging/status/", params, token="0" * 32)
    assert response.status_code == 403


def test_the_env_account_is_what_the_fixture_uses() -> None:
    assert twilio_fixture("inbound_sms")["AccountSid"] == ACCOUNT_SID

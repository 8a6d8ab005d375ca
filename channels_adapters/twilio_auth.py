"""Authenticating Twilio's webhooks: the signature over PUBLIC_BASE_URL + path + query, per account."""

from __future__ import annotations

from django.conf import settings
from django.http import HttpRequest
from twilio.request_validator import RequestValidator

from channels_adapters.accounts import twilio_account_by_sid
from channels_adapters.base import ProviderAccount


def twilio_public_url(request: HttpRequest) -> str:
    """The URL Twilio requested, as the outside world sees it; never the scheme and host a proxy handed us."""
    query = request.META.get("QUERY_STRING", "")
    return settings.PUBLIC_BASE_URL + request.path + (f"?{query}" if query else "")


def twilio_request_verify(request: HttpRequest) -> ProviderAccount | None:
    """The account that signed this request, or None when the signature is missing, wrong or unknown.

    The token is that of the account named in the signed `AccountSid`, so numbers pooled in a Messaging
    Service or owned by a subaccount validate without being registered as inboxes first.
    """
    signature = request.headers.get("X-Twilio-Signature", "")
    if not signature:
        return None
    account = twilio_account_by_sid(request.POST.get("AccountSid", ""))
    if account is None or not account.secret:
        return None
    if not RequestValidator(account.secret).validate(twilio_public_url(request), request.POST, signature):
        return None
    return account


def form_payload(request: HttpRequest) -> dict[str, object]:
    """Every field Twilio sent, kept as sent (Twilio adds fields without notice)."""
    return {key: values[0] if len(values) == 1 else values for key, values in request.POST.lists()}

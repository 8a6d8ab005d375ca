"""Authenticating Twilio's webhooks: the signature over PUBLIC_BASE_URL + path + query, per account."""

from __future__ import annotations

import json
import logging
from collections.abc import Callable
from functools import wraps
from typing import Any
from urllib.parse import parse_qs

from django.conf import settings
from django.db import DatabaseError
from django.http import HttpRequest, HttpResponse
from django.views.decorators.csrf import csrf_exempt
from django.views.decorators.http import require_POST
from twilio.request_validator import RequestValidator

from channels_adapters.accounts import twilio_account_by_sid
from channels_adapters.base import ProviderAccount

FORM_CONTENT_TYPES = ("application/x-www-form-urlencoded", "multipart/form-data")

logger = logging.getLogger("hub.webhooks")

View = Callable[..., HttpResponse]


def twilio_webhook(*, stores: str, failure: str) -> Callable[[View], View]:
    """A Twilio webhook view: POST only, no CSRF token, the signature checked before anything else.

    A forgery is answered 403 and nothing happens. A database error is logged as `failure` and answered
    503, so Twilio retries: never 200 for a `stores` (a message, a call) the hub did not keep.
    """

    def decorate(view: View) -> View:
        @csrf_exempt
        @require_POST
        @wraps(view)
        def webhook(request: HttpRequest, *args: Any, **kwargs: Any) -> HttpResponse:
            try:
                if twilio_request_verify(request) is None:
                    return HttpResponse(
                        "Invalid or missing X-Twilio-Signature.\n", status=403, content_type="text/plain"
                    )
                return view(request, *args, **kwargs)
            except DatabaseError:
                logger.exception(failure)
                return HttpResponse(
                    f"Temporarily unable to store the {stores}; please retry.\n",
                    status=503,
                    content_type="text/plain",
                )

        return webhook

    return decorate


def twilio_public_url(request: HttpRequest) -> str:
    """The URL Twilio requested, as the outside world sees it; never the scheme and host a proxy handed us."""
    query = request.META.get("QUERY_STRING", "")
    return settings.PUBLIC_BASE_URL + request.path + (f"?{query}" if query else "")


def _is_form(request: HttpRequest) -> bool:
    return request.content_type in FORM_CONTENT_TYPES or not request.body


def twilio_signature_valid(request: HttpRequest, token: str) -> bool:
    """Whether `token` signed this request, exactly as the Twilio SDK's validator decides.

    A form body is signed parameter by parameter. Any other body (JSON) is signed through the
    `bodySHA256` query parameter, which must be present and match the body: a signature over the URL
    alone would otherwise let anyone replay it with a body of their choosing.
    """
    signature = request.headers.get("X-Twilio-Signature", "")
    if not signature or not token:
        return False
    url = twilio_public_url(request)
    validator = RequestValidator(token)
    if _is_form(request):
        return bool(validator.validate(url, request.POST, signature))
    if "bodySHA256" not in parse_qs(request.META.get("QUERY_STRING", "")):
        return False
    try:
        body = request.body.decode("utf-8")
    except UnicodeDecodeError:
        return False
    return bool(validator.validate(url, body, signature))


def twilio_request_verify(request: HttpRequest) -> ProviderAccount | None:
    """The account that signed this request, or None when the signature is missing, wrong or unknown.

    The token is that of the account named in the signed `AccountSid`, so numbers pooled in a Messaging
    Service or owned by a subaccount validate without being registered as inboxes first.
    """
    if not request.headers.get("X-Twilio-Signature", ""):
        return None
    account = twilio_account_by_sid(_account_sid(request))
    if account is None or not account.secret:
        return None
    if not twilio_signature_valid(request, account.secret):
        return None
    return account


def _account_sid(request: HttpRequest) -> str:
    if _is_form(request):
        return str(request.POST.get("AccountSid", ""))
    try:
        document = json.loads(request.body)
    except ValueError:
        return ""
    if not isinstance(document, dict):
        return ""
    return str(document.get("AccountSid") or document.get("account_sid") or "")


def form_payload(request: HttpRequest) -> dict[str, object]:
    """Every field Twilio sent, kept as sent (Twilio adds fields without notice)."""
    return {key: values[0] if len(values) == 1 else values for key, values in request.POST.lists()}

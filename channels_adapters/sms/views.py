"""Twilio Messaging webhooks: thin. Authenticate, store durably, answer at once."""

from __future__ import annotations

import logging

from django.db import DatabaseError
from django.http import HttpRequest, HttpResponse
from django.views.decorators.csrf import csrf_exempt
from django.views.decorators.http import require_POST
from twilio.twiml.messaging_response import MessagingResponse

from channels_adapters.inbound import inbound_event_store
from channels_adapters.outbound import entry_status_apply
from channels_adapters.registry import get_adapter
from channels_adapters.twilio_auth import form_payload, twilio_request_verify

logger = logging.getLogger("hub.webhooks")

KIND = "twilio_messaging"


def _forbidden() -> HttpResponse:
    return HttpResponse("Invalid or missing X-Twilio-Signature.\n", status=403, content_type="text/plain")


def _unavailable() -> HttpResponse:
    # 5xx makes Twilio retry: never 200 for something we did not store.
    return HttpResponse(
        "Temporarily unable to store the message; please retry.\n", status=503, content_type="text/plain"
    )


@csrf_exempt
@require_POST
def messaging_inbound(request: HttpRequest) -> HttpResponse:
    try:
        if twilio_request_verify(request) is None:
            return _forbidden()
        sid = request.POST.get("MessageSid") or request.POST.get("SmsSid") or ""
        if not sid:
            return HttpResponse("MessageSid is missing.\n", status=400, content_type="text/plain")
        inbound_event_store(kind=KIND, idempotency_key=f"twilio:message:{sid}", payload=form_payload(request))
    except DatabaseError:
        logger.exception("Inbound SMS webhook could not be stored")
        return _unavailable()
    return HttpResponse(str(MessagingResponse()), content_type="text/xml; charset=utf-8")


@csrf_exempt
@require_POST
def messaging_status(request: HttpRequest) -> HttpResponse:
    try:
        if twilio_request_verify(request) is None:
            return _forbidden()
        update = get_adapter(KIND).parse_status(form_payload(request))
        reference = request.GET.get("entry", "")
        entry_status_apply(update=update, entry_id=int(reference) if reference.isdigit() else None)
    except DatabaseError:
        logger.exception("Message status callback could not be stored")
        return _unavailable()
    return HttpResponse(status=204)

"""Twilio Messaging webhooks: thin. Authenticate, store durably, answer at once."""

from __future__ import annotations

from django.http import HttpRequest, HttpResponse
from twilio.twiml.messaging_response import MessagingResponse

from channels_adapters.inbound import inbound_event_store
from channels_adapters.outbound import entry_status_apply
from channels_adapters.registry import get_adapter
from channels_adapters.twilio_auth import form_payload, twilio_webhook

KIND = "twilio_messaging"


@twilio_webhook(stores="message", failure="Inbound SMS webhook could not be stored")
def messaging_inbound(request: HttpRequest) -> HttpResponse:
    sid = request.POST.get("MessageSid") or request.POST.get("SmsSid") or ""
    if not sid:
        return HttpResponse("MessageSid is missing.\n", status=400, content_type="text/plain")
    inbound_event_store(kind=KIND, idempotency_key=f"twilio:message:{sid}", payload=form_payload(request))
    return HttpResponse(str(MessagingResponse()), content_type="text/xml; charset=utf-8")


@twilio_webhook(stores="message", failure="Message status callback could not be stored")
def messaging_status(request: HttpRequest) -> HttpResponse:
    update = get_adapter(KIND).parse_status(form_payload(request))
    reference = request.GET.get("entry", "")
    entry_status_apply(update=update, entry_id=int(reference) if reference.isdigit() else None)
    return HttpResponse(status=204)

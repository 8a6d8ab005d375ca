"""Twilio Voice webhooks: thin. Authenticate, store the callback durably, answer TwiML at once.

Every callback is stored under its own key before anything else (the call's entry is made and updated by
the inbound pipeline), so nothing Twilio was answered for is lost and a retried callback changes nothing.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

from django.http import HttpRequest, HttpResponse

from channels_adapters.inbound import inbound_event_store
from channels_adapters.twilio_auth import form_payload, twilio_webhook
from channels_adapters.voice import services
from channels_adapters.voice.services import KIND


def _bad(reason: str) -> HttpResponse:
    return HttpResponse(f"{reason}\n", status=400, content_type="text/plain")


def _twiml(document: str) -> HttpResponse:
    return HttpResponse(document, content_type="text/xml; charset=utf-8")


def _payload(request: HttpRequest, source: str) -> dict[str, Any]:
    """The fields Twilio sent, plus the context we put in the (signed) callback URL's query."""
    return {**form_payload(request), "_source": source, "_query": {k: v for k, v in request.GET.items()}}


def _webhook(source: str, key: Callable[[HttpRequest], str]) -> Callable[..., HttpResponse]:
    """A callback that is stored and answered with an empty 204 (Twilio accepts any 2xx there)."""

    # A 5xx makes Twilio retry (or play its error to the caller): never 200 for something not stored.
    @twilio_webhook(stores="call", failure=f"Voice {source} callback could not be stored")
    def view(request: HttpRequest) -> HttpResponse:
        idempotency_key = key(request)
        if not idempotency_key:
            return _bad(f"The {source} callback is missing its id.")
        inbound_event_store(kind=KIND, idempotency_key=idempotency_key, payload=_payload(request, source))
        return HttpResponse(status=204)

    view.__name__ = f"voice_{source}"
    return view


def _status_key(request: HttpRequest) -> str:
    sid = request.POST.get("CallSid", "")
    status = request.POST.get("CallStatus", "")
    return f"twilio:call:{sid}:status:{status}" if sid and status else ""


def _recording_key(request: HttpRequest) -> str:
    sid = request.POST.get("RecordingSid", "")
    return f"twilio:recording:{sid}" if sid and request.POST.get("CallSid") else ""


def _transcription_key(request: HttpRequest) -> str:
    sid = request.POST.get("TranscriptionSid", "")
    return f"twilio:transcription:{sid}" if sid and request.POST.get("CallSid") else ""


voice_status = _webhook("status", _status_key)
voice_recording = _webhook("recording", _recording_key)
voice_transcription = _webhook("transcription", _transcription_key)


@twilio_webhook(stores="call", failure="Incoming call webhook could not be stored")
def voice_incoming(request: HttpRequest) -> HttpResponse:
    sid = request.POST.get("CallSid", "")
    if not sid:
        return _bad("CallSid is missing.")
    payload = _payload(request, "incoming")
    inbound_event_store(kind=KIND, idempotency_key=f"twilio:call:{sid}:incoming", payload=payload)
    return _twiml(services.call_answer(payload=payload))


@twilio_webhook(stores="call", failure="Dial action callback could not be stored")
def voice_dial(request: HttpRequest) -> HttpResponse:
    """The <Dial> (and <Record>) action: store how the dial went, say what happens next."""
    sid = request.POST.get("CallSid", "")
    if not sid:
        return _bad("CallSid is missing.")
    stage = request.GET.get("stage", "team")
    payload = _payload(request, "dial")
    recording_sid = request.POST.get("RecordingSid", "")
    if stage != "recorded":
        inbound_event_store(kind=KIND, idempotency_key=f"twilio:call:{sid}:dial:{stage}", payload=payload)
    elif recording_sid:
        # The <Record> action carries the recording too: should its own callback be lost, this one counts.
        inbound_event_store(
            kind=KIND,
            idempotency_key=f"twilio:recording:{recording_sid}:action",
            payload={**payload, "_source": "recording"},
        )
    tried = request.GET.get("tried", "")
    return _twiml(
        services.call_dial_next(payload=payload, stage=stage, tried=int(tried) if tried.isdigit() else None)
    )


@twilio_webhook(stores="call", failure="Click-to-call bridge could not be read")
def voice_bridge(request: HttpRequest) -> HttpResponse:
    """The agent answered the call we placed for them: TwiML that connects them to the customer."""
    reference = request.GET.get("entry", "")
    return _twiml(services.call_bridge(entry_id=int(reference) if reference.isdigit() else None))

"""Twilio Voice: incoming calls, voicemail, recordings, transcriptions and click-to-call.

The adapter knows Twilio and nothing of the database: it parses the callbacks into `CallEvent`s, builds
TwiML with the SDK's VoiceResponse, and places calls. Services (channels_adapters.voice.services) keep the
records.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any
from urllib.parse import urlencode

import requests
from django.conf import settings
from twilio.base.exceptions import TwilioRestException
from twilio.twiml.voice_response import VoiceResponse

from channels_adapters.base import (
    AdapterError,
    DeliveryUncertain,
    InboundMessage,
    OutboundMessage,
    ProviderAccount,
    SendResult,
    StatusUpdate,
)
from channels_adapters.sandbox import sandbox_record, sandbox_sent
from channels_adapters.sms.adapter import TwilioMessagingAdapter, _never_reached_twilio
from channels_adapters.sms.twilio_client import twilio_client

# Caller ids a carrier sends when the caller withheld their number: never an identity of anyone.
WITHHELD_CALLER_IDS = frozenset(
    {
        "",
        "anonymous",
        "restricted",
        "unknown",
        "unavailable",
        "private",
        "blocked",
        "+266696687",  # ANONYMOUS on a keypad
        "+7378742833",  # RESTRICTED
        "+8656696",  # UNKNOWN
        "+86282452253",  # UNAVAILABLE
        "+2562533",  # BLOCKED
        "266696687",
    }
)

# Twilio call statuses, in the order a call lives through them; the last row are the ends.
CALL_STATUS_RANK: dict[str, int] = {
    "queued": 0,
    "initiated": 1,
    "ringing": 2,
    "in-progress": 3,
    "answered": 3,
    "completed": 4,
    "busy": 4,
    "failed": 4,
    "no-answer": 4,
    "canceled": 4,
}
FINAL_STATUSES = frozenset(status for status, rank in CALL_STATUS_RANK.items() if rank == 4)

WEBHOOK_PATHS = {
    "incoming": "/webhooks/twilio/voice/",
    "status": "/webhooks/twilio/voice/status/",
    "dial": "/webhooks/twilio/voice/dial/",
    "recording": "/webhooks/twilio/voice/recording/",
    "transcription": "/webhooks/twilio/voice/transcription/",
    "bridge": "/webhooks/twilio/voice/bridge/",
}


@dataclass(frozen=True)
class CallEvent:
    """One Twilio Voice callback, normalized. `call_sid` is the call the entry is about."""

    source: str  # incoming, status, dial, recording, transcription
    call_sid: str
    account_id: str = ""
    caller: str = ""  # the customer's number as Twilio gave it ("" or "anonymous" when withheld)
    called: str = ""  # the business number
    direction: str = "inbound"  # inbound or outbound, as our vocabulary says
    status: str = ""  # a Twilio call status
    leg: str = ""  # "agent" or "customer" when the callback is about a dialled leg, not the call itself
    agent_id: int | None = None  # whose phone that leg rang
    entry_id: int | None = None  # our entry, for the calls we placed
    dial_status: str = ""
    duration_s: int = 0
    recording_sid: str = ""
    recording_url: str = ""
    recording_status: str = ""
    recording_duration_s: int = 0
    transcription_sid: str = ""
    transcription_status: str = ""
    transcription_text: str = ""
    caller_name: str = ""


@dataclass(frozen=True)
class DialTarget:
    number: str
    agent_id: int


def callback_url(name: str, **query: Any) -> str:
    """A URL handed to Twilio: PUBLIC_BASE_URL, our path, and the context the callback needs to stand alone."""
    kept = {key: str(value) for key, value in query.items() if value not in (None, "")}
    return settings.PUBLIC_BASE_URL + WEBHOOK_PATHS[name] + (f"?{urlencode(kept)}" if kept else "")


class TwilioVoiceAdapter:
    provider = "twilio"

    # --- callbacks -------------------------------------------------------------------------------
    def parse_call_event(self, payload: dict[str, Any]) -> CallEvent:
        query = payload.get("_query") if isinstance(payload.get("_query"), dict) else {}
        assert isinstance(query, dict)
        source = str(payload.get("_source", ""))
        parent = _text(payload, "ParentCallSid")
        leg = str(query.get("leg", ""))
        call_sid = _text(payload, "CallSid")
        if leg in ("agent", "customer") and (parent or query.get("call")):
            call_sid = str(query.get("call") or parent)
        if not call_sid:
            raise AdapterError("The callback has no CallSid.", permanent=True)
        twilio_direction = _text(payload, "Direction")
        direction = str(query.get("direction", "")) or (
            "outbound" if twilio_direction.startswith("outbound") and not parent else "inbound"
        )
        caller = str(query.get("caller", _text(payload, "From") if leg == "" else ""))
        called = str(query.get("called", _text(payload, "To") if leg == "" else ""))
        return CallEvent(
            source=source,
            call_sid=call_sid,
            account_id=_text(payload, "AccountSid"),
            caller=caller,
            called=called,
            direction=direction if direction in ("inbound", "outbound") else "inbound",
            status=_text(payload, "CallStatus").lower(),
            leg=leg,
            agent_id=_int_or_none(query.get("agent")),
            entry_id=_int_or_none(query.get("entry")),
            dial_status=_text(payload, "DialCallStatus").lower(),
            duration_s=_int(payload.get("CallDuration") or payload.get("DialCallDuration")),
            recording_sid=_text(payload, "RecordingSid"),
            recording_url=_text(payload, "RecordingUrl"),
            recording_status=_text(payload, "RecordingStatus").lower(),
            recording_duration_s=_int(payload.get("RecordingDuration")),
            transcription_sid=_text(payload, "TranscriptionSid"),
            transcription_status=_text(payload, "TranscriptionStatus").lower(),
            transcription_text=str(payload.get("TranscriptionText", "") or ""),
            caller_name=_text(payload, "CallerName")[:200],
        )

    def parse_inbound(self, payload: dict[str, Any]) -> InboundMessage:
        raise AdapterError("Voice callbacks are recorded as calls, not messages.", permanent=True)

    def parse_status(self, payload: dict[str, Any]) -> StatusUpdate:
        return StatusUpdate(provider_id=_text(payload, "CallSid"), status="")

    # --- TwiML -----------------------------------------------------------------------------------
    def twiml_dial(
        self,
        *,
        say: Sequence[str],
        targets: Sequence[DialTarget],
        caller_id: str,
        timeout_s: int,
        action: str,
        call_sid: str,
        caller: str,
        called: str,
    ) -> str:
        """Ring every target at once, showing the business number; `action` hears how it went."""
        response = VoiceResponse()
        for text in say:
            response.say(text)
        dial = response.dial(caller_id=caller_id, timeout=timeout_s, action=action, method="POST")
        for target in targets:
            dial.number(
                target.number,
                status_callback=callback_url(
                    "status", leg="agent", agent=target.agent_id, call=call_sid, caller=caller, called=called
                ),
                status_callback_event="answered completed",
                status_callback_method="POST",
            )
        return str(response)

    def twiml_voicemail(
        self, *, say: Sequence[str], max_length_s: int, call_sid: str, caller: str, called: str
    ) -> str:
        """Take a message: the recording and its transcription come back to their own callbacks."""
        response = VoiceResponse()
        for text in say:
            response.say(text)
        context = {"call": call_sid, "caller": caller, "called": called}
        response.record(
            action=callback_url("dial", stage="recorded", **context),
            method="POST",
            max_length=max_length_s,
            play_beep=True,
            finish_on_key="#",
            recording_status_callback=callback_url("recording", **context),
            recording_status_callback_method="POST",
            recording_status_callback_event="completed absent",
            transcribe=True,
            transcribe_callback=callback_url("transcription", **context),
        )
        # An empty recording does not call the action: the call goes on to the next verb.
        response.hangup()
        return str(response)

    def twiml_hangup(self, *, say: Sequence[str] = ()) -> str:
        response = VoiceResponse()
        for text in say:
            response.say(text)
        response.hangup()
        return str(response)

    def twiml_bridge(self, *, say: Sequence[str], customer: str, caller_id: str, entry_id: int) -> str:
        """The agent picked up the call we placed: connect them to the customer, showing the business number."""
        response = VoiceResponse()
        for text in say:
            response.say(text)
        dial = response.dial(caller_id=caller_id, answer_on_bridge=True)
        dial.number(
            customer,
            status_callback=callback_url("status", leg="customer", entry=entry_id, direction="outbound"),
            status_callback_event="answered completed",
            status_callback_method="POST",
        )
        return str(response)

    # --- click-to-call ---------------------------------------------------------------------------
    def send(self, message: OutboundMessage, *, account: ProviderAccount) -> SendResult:
        """Place a call to the agent's phone (`connect_first`); when they answer, the bridge dials `to`."""
        if not message.connect_first:
            raise AdapterError("The agent has no phone number to call first.", permanent=True)
        if account.sandbox:
            sandbox_id = sandbox_record(
                channel="voice",
                prefix="CA",
                record={
                    "to": message.to,
                    "from": message.from_address,
                    "agent_phone": message.connect_first,
                    "body": f"Call {message.connect_first} (the agent), then bridge to {message.to}",
                    "status_callback": message.status_callback,
                    "reference": message.reference,
                },
            )
            return SendResult(provider_id=sandbox_id, status="sent", sandbox=True)
        try:
            created = twilio_client(account).calls.create(
                to=message.connect_first,
                from_=message.from_address,
                url=callback_url("bridge", entry=message.reference),
                method="POST",
                status_callback=message.status_callback,
                status_callback_event=["initiated", "ringing", "answered", "completed"],
                status_callback_method="POST",
            )
        except TwilioRestException as error:
            raise _call_error(error) from error
        except requests.exceptions.RequestException as error:
            if _never_reached_twilio(error):
                raise AdapterError(f"Twilio could not be reached ({error.__class__.__name__}).") from error
            raise DeliveryUncertain(
                "The connection to Twilio broke after the call was requested; it may have been placed."
            ) from error
        return SendResult(provider_id=str(created.sid), status="sent")

    def find_sent(
        self, message: OutboundMessage, *, account: ProviderAccount, since_iso: str
    ) -> list[SendResult]:
        """A call is never placed twice on a guess: only the sandbox can say for sure."""
        if account.sandbox:
            return sandbox_sent(reference=message.reference)
        return []

    # --- recordings ------------------------------------------------------------------------------
    def fetch_media(self, url: str, *, account: ProviderAccount, max_bytes: int) -> tuple[bytes, str]:
        """Recordings come from the same hosts as MMS media, through the same SSRF-hardened fetch."""
        return TwilioMessagingAdapter().fetch_media(url, account=account, max_bytes=max_bytes)


# Errors placing a call that never succeed on retry, with what the agent reads.
CALL_ERRORS: dict[int, str] = {
    21210: "The business number is not a verified caller id on the Twilio account.",
    21211: "Your phone number in your profile is not a number Twilio can call.",
    21212: "The business number cannot be used as the caller id.",
    21215: "Calls to your phone's country are not enabled on the Twilio account (geo permissions).",
    21216: "Twilio will not call your phone's number (blocked).",
    21217: "Your phone number in your profile is not a valid phone number.",
    20003: "Twilio refused the account's credentials.",
}


def _call_error(error: TwilioRestException) -> AdapterError:
    code = int(error.code) if error.code else 0
    status = int(error.status or 0)
    if code in CALL_ERRORS:
        return AdapterError(f"{CALL_ERRORS[code]} (Twilio error {code})", permanent=True, code=str(code))
    if status >= 500:
        return DeliveryUncertain(
            f"Twilio answered {status}; the call may have been placed.", code=str(code or status)
        )
    detail = (error.msg or "").strip() or f"HTTP {status}"
    return AdapterError(
        f"Twilio refused the call: {detail} (Twilio error {code or status})",
        permanent=400 <= status < 500 and status != 429,
        code=str(code or status),
    )


def recording_media_url(recording_url: str) -> str:
    """Twilio serves a recording as WAV by default; MP3 is a tenth of the size and plays everywhere."""
    if not recording_url or recording_url.lower().endswith((".mp3", ".wav")):
        return recording_url
    return recording_url + ".mp3"


def caller_withheld(caller: str) -> bool:
    return caller.strip().lower() in WITHHELD_CALLER_IDS


def _text(payload: dict[str, Any], key: str) -> str:
    value = payload.get(key, "")
    if isinstance(value, list):
        value = value[0] if value else ""
    return str(value or "").strip()


def _int(value: Any) -> int:
    try:
        return max(0, int(str(value)))
    except (TypeError, ValueError):
        return 0


def _int_or_none(value: Any) -> int | None:
    text = str(value or "")
    return int(text) if text.isdigit() else None

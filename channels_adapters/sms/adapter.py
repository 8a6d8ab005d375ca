"""Twilio Messaging: SMS, MMS and WhatsApp through Twilio. Provider quirks stay in this file."""

from __future__ import annotations

import json
import re
from datetime import datetime
from typing import Any
from urllib.parse import urlsplit

import requests
import urllib3
from django.conf import settings
from twilio.base.exceptions import TwilioRestException

from channels_adapters.base import (
    AdapterError,
    DeliveryUncertain,
    InboundMedia,
    InboundMessage,
    OutboundMessage,
    ProviderAccount,
    SendResult,
    StatusUpdate,
)
from channels_adapters.sandbox import sandbox_record, sandbox_sent
from channels_adapters.sms.twilio_client import twilio_client
from config import safe_http

WHATSAPP_PREFIX = "whatsapp:"

# Twilio's default opt-out keywords (Advanced Opt-Out adds OptOutType to the webhook; we read either).
STOP_WORDS = {"stop", "stopall", "unsubscribe", "cancel", "end", "quit", "optout", "revoke"}
START_WORDS = {"start", "yes", "unstop", "optin"}
HELP_WORDS = {"help", "info"}

# Errors that never succeed on retry, with what the agent reads.
PERMANENT_ERRORS: dict[int, str] = {
    21211: "The customer's number is not a valid phone number.",
    21408: "Sending to this country is not enabled on the Twilio account.",
    21606: "The business number cannot send messages on this channel.",
    21610: "The customer texted STOP and cannot be messaged until they text START.",
    21612: "Twilio cannot route a message between these two numbers.",
    21614: "The customer's number cannot receive SMS (not a mobile number).",
    21617: "The message is longer than Twilio's limit of 1,600 characters.",
    63016: "WhatsApp refused a free-form message outside the 24-hour window; a template is needed.",
    63049: "Meta chose not to deliver this marketing template to the customer.",
    20003: "Twilio refused the account's credentials.",
}

# Twilio message status -> our delivery status.
STATUS_MAP: dict[str, str] = {
    "accepted": "sent",
    "scheduled": "sent",
    "queued": "sent",
    "sending": "sent",
    "sent": "sent",
    "delivered": "delivered",
    "read": "read",
    "undelivered": "undelivered",
    "failed": "failed",
    "canceled": "failed",
    "partially_delivered": "delivered",
}

_MEDIA_KEY = re.compile(r"^MediaUrl(\d+)$")
_KEPT_FIELDS = (
    "FromCity",
    "FromState",
    "FromZip",
    "FromCountry",
    "ToCountry",
    "NumSegments",
    "WaId",
    "ProfileName",
    "MessagingServiceSid",
    "ApiVersion",
    "SmsStatus",
    "OptOutType",
    "Latitude",
    "Longitude",
    "ButtonText",
)


class TwilioMessagingAdapter:
    provider = "twilio"

    # --- inbound ---------------------------------------------------------------------------------
    def parse_inbound(self, payload: dict[str, Any]) -> InboundMessage:
        sender = str(payload.get("From", ""))
        recipient = str(payload.get("To", ""))
        channel = "whatsapp" if sender.lower().startswith(WHATSAPP_PREFIX) else "sms"
        sid = str(payload.get("MessageSid") or payload.get("SmsSid") or "")
        if not sid:
            raise AdapterError("The payload has no MessageSid.", permanent=True)
        body = str(payload.get("Body", ""))
        return InboundMessage(
            channel=channel,
            sender_kind="phone",
            sender=sender,
            recipient=_strip_whatsapp(recipient),
            body=body,
            provider=self.provider,
            provider_id=sid,
            account_id=str(payload.get("AccountSid", "")),
            route_hint=str(payload.get("MessagingServiceSid", "")),
            sender_name=str(payload.get("ProfileName", ""))[:200],
            media=_media(payload),
            keyword=_keyword(body, str(payload.get("OptOutType", ""))),
            data={key: payload[key] for key in _KEPT_FIELDS if payload.get(key)},
        )

    # --- outbound --------------------------------------------------------------------------------
    def send(self, message: OutboundMessage, *, account: ProviderAccount) -> SendResult:
        to, sender = _addresses(message)
        if account.sandbox:
            sandbox_id = sandbox_record(
                channel=message.channel,
                prefix="SM",
                record={
                    "to": to,
                    "from": sender or message.messaging_service_id,
                    "body": message.body,
                    "media_urls": list(message.media_urls),
                    **({"content_sid": message.content_sid} if message.content_sid else {}),
                    "status_callback": message.status_callback,
                    "reference": message.reference,
                },
            )
            return SendResult(provider_id=sandbox_id, status="sent", sandbox=True)
        kwargs: dict[str, Any] = {"to": to, "status_callback": message.status_callback}
        if message.content_sid:
            kwargs["content_sid"] = message.content_sid
            kwargs["content_variables"] = json.dumps(message.content_variables)
        else:
            kwargs["body"] = message.body
        if message.messaging_service_id and not sender:
            kwargs["messaging_service_sid"] = message.messaging_service_id
        else:
            kwargs["from_"] = sender
        if message.media_urls:
            kwargs["media_url"] = list(message.media_urls)
        try:
            created = twilio_client(account).messages.create(**kwargs)
        except TwilioRestException as error:
            raise _rest_error(error) from error
        except requests.exceptions.RequestException as error:
            if _never_reached_twilio(error):
                raise AdapterError(f"Twilio could not be reached ({error.__class__.__name__}).") from error
            raise DeliveryUncertain(
                "The connection to Twilio broke after the message was handed over; it may have been sent."
            ) from error
        return SendResult(provider_id=str(created.sid), status=STATUS_MAP.get(str(created.status), "sent"))

    def find_sent(
        self, message: OutboundMessage, *, account: ProviderAccount, since_iso: str
    ) -> list[SendResult]:
        """Messages Twilio holds to the same number with the same text, created since `since_iso`, oldest first."""
        if account.sandbox:
            return sandbox_sent(reference=message.reference)
        to, sender = _addresses(message)
        since = datetime.fromisoformat(since_iso)
        try:
            # DateSent> is only as precise as a day at Twilio; the exact bound is checked below.
            candidates = twilio_client(account).messages.list(to=to, date_sent_after=since, limit=100)
        except (TwilioRestException, requests.exceptions.RequestException) as error:
            raise AdapterError(f"Twilio could not be asked about the message: {error}") from error
        found = [
            candidate
            for candidate in candidates
            if candidate.body == message.body
            and (not sender or candidate.from_ == sender)
            and (candidate.date_created is None or candidate.date_created >= since)
        ]
        found.sort(key=lambda candidate: candidate.date_created or since)
        return [
            SendResult(provider_id=str(c.sid), status=STATUS_MAP.get(str(c.status), "sent")) for c in found
        ]

    # --- status callbacks ------------------------------------------------------------------------
    def parse_status(self, payload: dict[str, Any]) -> StatusUpdate:
        raw = str(payload.get("MessageStatus") or payload.get("SmsStatus") or "").lower()
        code = str(payload.get("ErrorCode", "") or "")
        reason = ""
        if code:
            reason = PERMANENT_ERRORS.get(int(code), "") if code.isdigit() else ""
            reason = f"{reason} (Twilio error {code})".strip() if reason else f"Twilio error {code}"
        return StatusUpdate(
            provider_id=str(payload.get("MessageSid") or payload.get("SmsSid") or ""),
            status=STATUS_MAP.get(raw, ""),
            reason=reason,
            opted_out=code == "21610",
        )

    # --- media -----------------------------------------------------------------------------------
    def fetch_media(self, url: str, *, account: ProviderAccount, max_bytes: int) -> tuple[bytes, str]:
        """Download one media item from Twilio's own hosts, following redirects only to Twilio's hosts.

        Two layers: every hop's URL must name Twilio (media_url_checked), and config/safe_http connects only
        to an address on the public internet that it resolved itself, so a Twilio name that resolved to an
        internal address would be refused as well.
        """

        def auth_for(current: str) -> tuple[str, str] | None:
            # Credentials go only to the API host itself, never to a CDN a redirect names.
            if _is_api_host(current) and not account.sandbox:
                return (account.account_id, account.secret)
            return None

        try:
            fetched = safe_http.safe_get(
                url, max_bytes=max_bytes, allow=media_url_checked, auth_for=auth_for, max_hops=3
            )
        except safe_http.HostNotAllowed as error:
            raise AdapterError(
                f"Refused to fetch media from a host that is not Twilio's: {error.host}", permanent=True
            ) from error
        except safe_http.TooManyRedirects as error:
            raise AdapterError("Too many redirects fetching the media.", permanent=True) from error
        except safe_http.ResponseTooLarge as error:
            raise AdapterError(
                f"The media is larger than the limit of {max_bytes} bytes.", permanent=True
            ) from error
        except safe_http.DestinationRefused as error:
            raise AdapterError(f"Refused to fetch media: {error.message}", permanent=True) from error
        except requests.exceptions.RequestException as error:
            raise AdapterError(f"Media could not be fetched: {error.__class__.__name__}") from error
        if fetched.status == 404:
            raise AdapterError("Twilio no longer has this media (404).", permanent=True)
        if fetched.status >= 400:
            raise AdapterError(
                f"Twilio answered {fetched.status} for the media.",
                permanent=400 <= fetched.status < 500 and fetched.status != 429,
            )
        return fetched.content, fetched.content_type


def media_url_checked(url: str) -> str | None:
    """The URL to fetch, in the form the HTTP client will connect to, or None when it is not Twilio's.

    safe_http.url_checked refuses a URL that two parsers could read differently, with userinfo, whitespace
    or backslashes; what is left must be on Twilio's hosts (or exactly the configured API host).
    """
    prepared = safe_http.url_checked(url)
    if prepared is None or not media_host_allowed(prepared):
        return None
    return prepared


def media_host_allowed(url: str) -> bool:
    """Twilio's own media hosts over HTTPS, or exactly the configured API host (a local fake in tests)."""
    parts = urlsplit(url)
    try:
        port = parts.port
    except ValueError:
        return False
    if parts.username is not None or parts.password is not None:
        return False
    host = (parts.hostname or "").lower()
    if _origin(url) == _origin(settings.TWILIO_API_BASE_URL):
        return True
    if parts.scheme != "https" or port not in (None, 443):
        return False
    return host == "api.twilio.com" or host.endswith((".twilio.com", ".twiliocdn.com"))


def _origin(url: str) -> tuple[str, str, int | None]:
    """(scheme, host, port) with the scheme's default port made explicit."""
    parts = urlsplit(url)
    try:
        port = parts.port
    except ValueError:
        return ("", "", None)
    default = {"https": 443, "http": 80}.get(parts.scheme)
    return (parts.scheme, (parts.hostname or "").lower(), port if port is not None else default)


def _is_api_host(url: str) -> bool:
    """Only the API itself gets the account's credentials: same scheme, host and port."""
    return _origin(url) in {("https", "api.twilio.com", 443), _origin(settings.TWILIO_API_BASE_URL)}


def _host(url: str) -> str:
    return urlsplit(url).hostname or "(none)"


def _strip_whatsapp(address: str) -> str:
    return address[len(WHATSAPP_PREFIX) :] if address.lower().startswith(WHATSAPP_PREFIX) else address


def _addresses(message: OutboundMessage) -> tuple[str, str]:
    if message.channel == "whatsapp":
        return WHATSAPP_PREFIX + message.to, (
            WHATSAPP_PREFIX + message.from_address if message.from_address else ""
        )
    return message.to, message.from_address


def _media(payload: dict[str, Any]) -> tuple[InboundMedia, ...]:
    items: list[tuple[int, InboundMedia]] = []
    for key, value in payload.items():
        match = _MEDIA_KEY.match(key)
        if match and value:
            index = int(match.group(1))
            items.append(
                (
                    index,
                    InboundMedia(
                        url=str(value), content_type=str(payload.get(f"MediaContentType{index}", ""))
                    ),
                )
            )
    return tuple(media for _, media in sorted(items, key=lambda pair: pair[0]))


def _keyword(body: str, opt_out_type: str) -> str:
    if opt_out_type:
        return (
            opt_out_type.strip().lower() if opt_out_type.strip().lower() in {"stop", "start", "help"} else ""
        )
    word = body.strip().strip(".!").lower()
    if word in STOP_WORDS:
        return "stop"
    if word in START_WORDS:
        return "start"
    if word in HELP_WORDS:
        return "help"
    return ""


def _never_reached_twilio(error: requests.exceptions.RequestException) -> bool:
    """True only when the request surely never left: a refused, unresolvable or timed-out connect."""
    if isinstance(error, requests.exceptions.ConnectTimeout):
        return True
    if not isinstance(error, requests.exceptions.ConnectionError):
        return False
    reason = getattr(error.args[0], "reason", None) if error.args else None
    return isinstance(reason, urllib3.exceptions.NewConnectionError | urllib3.exceptions.ConnectTimeoutError)


def _rest_error(error: TwilioRestException) -> AdapterError:
    code = int(error.code) if error.code else 0
    if code in PERMANENT_ERRORS:
        return AdapterError(
            f"{PERMANENT_ERRORS[code]} (Twilio error {code})",
            permanent=True,
            code=str(code),
            opted_out=code == 21610,
        )
    status = int(error.status or 0)
    detail = (error.msg or "").strip() or f"HTTP {status}"
    if status >= 500:
        # A gateway error can come back after Twilio created the message: never resend blindly.
        return DeliveryUncertain(
            f"Twilio answered {status} ({detail}); the message may have been sent.", code=str(code or status)
        )
    permanent = 400 <= status < 500 and status != 429
    return AdapterError(
        f"Twilio refused the message: {detail} (Twilio error {code or status})",
        permanent=permanent,
        code=str(code or status),
    )

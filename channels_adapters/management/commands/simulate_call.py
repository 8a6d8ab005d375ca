"""Play a whole incoming call against a running hub, signed as Twilio signs it: ringing, nobody answers,
voicemail, the recording and its transcription. The TwiML the hub answers decides what comes next."""

from __future__ import annotations

import secrets
import time
from typing import Any
from urllib.parse import urlsplit
from xml.etree import ElementTree

import requests
from django.conf import settings
from django.core.management.base import BaseCommand, CommandError
from twilio.request_validator import RequestValidator

from channels_adapters.management.commands.simulate_sms import Command as SmsCommand
from contacts.addresses import normalize_phone

DEFAULT_VOICEMAIL = "Hi, this is a simulated voicemail: please call me back about my order. Thanks!"


class Command(BaseCommand):
    help = "Play a signed incoming call (ringing, no answer, voicemail, recording, transcription) against the hub."

    def add_arguments(self, parser: Any) -> None:
        parser.add_argument("--from", dest="caller", required=True, help="the caller, e.g. '+1 415 555 0142'")
        parser.add_argument("--to", default="", help="the business number (default: the first phone inbox)")
        parser.add_argument(
            "--voicemail",
            default=None,
            help="what the caller says after the beep (default: a sample text); --no-voicemail hangs up instead",
        )
        parser.add_argument(
            "--no-voicemail", action="store_true", help="hang up without a message: a missed call"
        )
        parser.add_argument(
            "--ring-seconds", type=float, default=4.0, help="how long the agents' phones ring"
        )
        parser.add_argument("--sid", default="", help="the CallSid (default: a new one)")
        parser.add_argument("--url", default="", help="the hub's base URL (default: PUBLIC_BASE_URL)")

    def handle(self, *args: Any, **options: Any) -> None:
        sms = SmsCommand()
        self.account_sid, self.token = sms._account()
        self.base = (options["url"] or settings.PUBLIC_BASE_URL).rstrip("/")
        to = options["to"] or sms._default_to()
        raw = options["caller"].strip()
        caller = raw if raw.lower() in ("", "anonymous") else normalize_phone(raw).address
        sid = options["sid"] or "CA" + secrets.token_hex(16)
        self.call = {
            "AccountSid": self.account_sid,
            "ApiVersion": "2010-04-01",
            "CallSid": sid,
            "Called": to,
            "Caller": caller,
            "Direction": "inbound",
            "From": caller,
            "FromCountry": "US",
            "To": to,
            "ToCountry": "US",
        }
        twiml = self._post("/webhooks/twilio/voice/", {"CallStatus": "ringing"})
        self._say(f"Calling {to} from {caller or 'a withheld number'} ({sid}): ringing.")
        record = self._verb(twiml, "Record")
        while record is None:
            dial = self._verb(twiml, "Dial")
            if dial is None:
                raise CommandError("The hub answered neither <Dial> nor <Record>:\n" + twiml)
            numbers = [n.text or "" for n in dial.iter("Number")]
            self._say(f"Ringing {', '.join(numbers)} for {options['ring_seconds']:g} s; nobody answers.")
            time.sleep(options["ring_seconds"])
            twiml = self._post(
                dial.get("action", ""),
                {"CallStatus": "in-progress", "DialCallStatus": "no-answer", "DialCallDuration": "0"},
            )
            record = self._verb(twiml, "Record")
        if options["no_voicemail"]:
            self._say("The caller hangs up without leaving a message.")
            self._post(
                "/webhooks/twilio/voice/status/",
                {"CallStatus": "completed", "CallDuration": "9"},
                twiml=False,
            )
            self._done("a missed call")
            return
        text = options["voicemail"] if options["voicemail"] is not None else DEFAULT_VOICEMAIL
        self._say("Voicemail: the caller speaks after the beep.")
        time.sleep(2)
        recording_sid = "RE" + secrets.token_hex(16)
        recording = {
            "RecordingSid": recording_sid,
            # Where Twilio keeps it: the hub fetches it from there with the account's credentials (the sandbox
            # has none, and says so on the entry).
            "RecordingUrl": f"{settings.TWILIO_API_BASE_URL}/2010-04-01/Accounts/{self.account_sid}"
            f"/Recordings/{recording_sid}",
            "RecordingDuration": str(max(3, len(text) // 12)),
        }
        self._post(record.get("action", ""), {"CallStatus": "in-progress", **recording, "Digits": "hangup"})
        self._post(
            "/webhooks/twilio/voice/status/",
            {"CallStatus": "completed", "CallDuration": str(int(recording["RecordingDuration"]) + 12)},
            twiml=False,
        )
        self._post(
            record.get("recordingStatusCallback", ""),
            {
                **recording,
                "RecordingStatus": "completed",
                "RecordingChannels": "1",
                "RecordingSource": "RecordVerb",
                "RecordingStartTime": time.strftime("%a, %d %b %Y %H:%M:%S +0000", time.gmtime()),
            },
            twiml=False,
            call_fields=False,
        )
        self._say("Transcribing…")
        time.sleep(2)
        self._post(
            record.get("transcribeCallback", ""),
            {
                **recording,
                "CallStatus": "completed",
                "TranscriptionSid": "TR" + secrets.token_hex(16),
                "TranscriptionStatus": "completed",
                "TranscriptionText": text,
                "TranscriptionType": "fast",
                "TranscriptionUrl": f"https://api.twilio.com/2010-04-01/Accounts/{self.account_sid}/Transcriptions/TR",
            },
            twiml=False,
        )
        self._done("a voicemail with its transcript")

    def _post(
        self, target: str, fields: dict[str, str], *, twiml: bool = True, call_fields: bool = True
    ) -> str:
        """Post to a path (or a URL the hub handed out), signed over the hub's base URL as Twilio would."""
        if not target:
            raise CommandError("The hub's TwiML named no callback URL.")
        parts = urlsplit(target)
        path = parts.path + (f"?{parts.query}" if parts.query else "")
        url = self.base + path
        params = {
            **(
                self.call
                if call_fields
                else {"AccountSid": self.account_sid, "CallSid": self.call["CallSid"]}
            ),
            **fields,
        }
        signature = RequestValidator(self.token).compute_signature(url, params)
        try:
            response = requests.post(url, data=params, headers={"X-Twilio-Signature": signature}, timeout=20)
        except requests.RequestException as error:
            raise CommandError(f"The hub did not answer at {url}: {error}. Is `make run` running?") from error
        if response.status_code >= 300:
            raise CommandError(f"{url} answered {response.status_code}: {response.text.strip()[:200]}")
        return response.text if twiml else ""

    @staticmethod
    def _verb(twiml: str, name: str) -> ElementTree.Element | None:
        try:
            return ElementTree.fromstring(twiml).find(name)  # noqa: S314 (our own hub's answer)
        except ElementTree.ParseError as error:
            raise CommandError(f"The hub's answer is not TwiML: {error}") from error

    def _say(self, text: str) -> None:
        self.stdout.write(text)

    def _done(self, what: str) -> None:
        self.stdout.write(
            self.style.SUCCESS(f"Done: {self.call['CallSid']} is {what} in the caller's thread.")
        )

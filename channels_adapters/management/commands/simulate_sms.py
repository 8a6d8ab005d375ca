"""Post a correctly signed Twilio SMS webhook to a running hub, as Twilio would."""

from __future__ import annotations

import secrets
from typing import Any

import requests
from django.conf import settings
from django.core.management.base import BaseCommand, CommandError
from twilio.request_validator import RequestValidator

from channels_adapters.models import TwilioAccount
from contacts.addresses import normalize_phone
from conversations.models import Inbox


class Command(BaseCommand):
    help = "Send a signed inbound SMS (or WhatsApp) webhook to the hub, exactly as Twilio posts it."

    def add_arguments(self, parser: Any) -> None:
        parser.add_argument(
            "--from", dest="sender", required=True, help="the customer's number, e.g. '+1 415 555 0142'"
        )
        parser.add_argument("--body", required=True)
        parser.add_argument("--to", default="", help="the business number (default: the first phone inbox)")
        parser.add_argument("--whatsapp", action="store_true", help="send it as a WhatsApp message")
        parser.add_argument(
            "--sid", default="", help="the MessageSid (default: a new one); repeat one to test retries"
        )
        parser.add_argument("--url", default="", help="the hub's base URL (default: PUBLIC_BASE_URL)")

    def handle(self, *args: Any, **options: Any) -> None:
        account_sid, token = self._account()
        to = options["to"] or self._default_to()
        sender = normalize_phone(options["sender"]).address
        if options["whatsapp"]:
            sender, to = f"whatsapp:{sender}", f"whatsapp:{to}"
        sid = options["sid"] or "SM" + secrets.token_hex(16)
        params = {
            "ToCountry": "US",
            "ToState": "CA",
            "SmsMessageSid": sid,
            "NumMedia": "0",
            "ToCity": "SAN FRANCISCO",
            "FromZip": "94105",
            "SmsSid": sid,
            "FromState": "CA",
            "SmsStatus": "received",
            "FromCity": "SAN FRANCISCO",
            "Body": options["body"],
            "FromCountry": "US",
            "To": to,
            "ToZip": "94105",
            "NumSegments": "1",
            "MessageSid": sid,
            "AccountSid": account_sid,
            "From": sender,
            "ApiVersion": "2010-04-01",
        }
        base = (options["url"] or settings.PUBLIC_BASE_URL).rstrip("/")
        url = f"{base}/webhooks/twilio/messaging/"
        signature = RequestValidator(token).compute_signature(url, params)
        try:
            response = requests.post(url, data=params, headers={"X-Twilio-Signature": signature}, timeout=20)
        except requests.RequestException as error:
            raise CommandError(f"The hub did not answer at {url}: {error}. Is `make run` running?") from error
        if response.status_code != 200:
            raise CommandError(f"The hub answered {response.status_code}: {response.text.strip()[:200]}")
        self.stdout.write(self.style.SUCCESS(f"Delivered {sid} from {sender} to {to}: the hub answered 200."))

    def _account(self) -> tuple[str, str]:
        if settings.TWILIO_ACCOUNT_SID and settings.TWILIO_AUTH_TOKEN:
            return settings.TWILIO_ACCOUNT_SID, settings.TWILIO_AUTH_TOKEN
        sandbox = TwilioAccount.objects.filter(is_sandbox=True).exclude(auth_token="").first()
        if sandbox is None:
            raise CommandError(
                "No Twilio account to sign with: run `make run` once (it loads the demo data) "
                "or set TWILIO_ACCOUNT_SID and TWILIO_AUTH_TOKEN."
            )
        return sandbox.account_sid, sandbox.auth_token

    def _default_to(self) -> str:
        inbox = (
            Inbox.objects.filter(kind=Inbox.PHONE, is_default=False)
            .exclude(address="")
            .order_by("pk")
            .first()
        )
        if inbox is None:
            raise CommandError("No phone inbox exists; pass --to with the business number.")
        return inbox.address

"""Which Twilio credentials sign a webhook or send a message."""

from __future__ import annotations

from django.conf import settings

from channels_adapters.base import ProviderAccount
from channels_adapters.models import TwilioAccount
from conversations.models import Inbox

SANDBOX = ProviderAccount(account_id="sandbox", secret="", sandbox=True)


def twilio_account_by_sid(account_sid: str) -> ProviderAccount | None:
    """The account (or subaccount) named in a webhook's AccountSid, with the token it signs with."""
    if not account_sid:
        return None
    if (
        settings.TWILIO_ACCOUNT_SID
        and account_sid == settings.TWILIO_ACCOUNT_SID
        and settings.TWILIO_AUTH_TOKEN
    ):
        return ProviderAccount(account_id=account_sid, secret=settings.TWILIO_AUTH_TOKEN)
    row = TwilioAccount.objects.filter(account_sid=account_sid).first()
    if row is None or not row.auth_token:
        return None
    return ProviderAccount(account_id=row.account_sid, secret=row.auth_token, sandbox=row.is_sandbox)


def twilio_account_for_inbox(inbox: Inbox | None) -> ProviderAccount:
    """The account an inbox sends through: its own, else the environment's, else the sandbox."""
    if inbox is not None and inbox.twilio_account_id is not None:
        row = inbox.twilio_account
        assert row is not None
        if row.is_sandbox or not row.auth_token:
            return SANDBOX
        return ProviderAccount(account_id=row.account_sid, secret=row.auth_token)
    if settings.TWILIO_ACCOUNT_SID and settings.TWILIO_AUTH_TOKEN:
        return ProviderAccount(account_id=settings.TWILIO_ACCOUNT_SID, secret=settings.TWILIO_AUTH_TOKEN)
    return SANDBOX

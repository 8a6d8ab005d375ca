"""Email: raw MIME in (MTA pipe, anymail webhooks, IMAP), Django's email backends out. Quirks stay here."""

from __future__ import annotations

import smtplib
import socket
from dataclasses import asdict
from typing import Any

from django.conf import settings
from django.core.mail import EmailMultiAlternatives, get_connection

from channels_adapters.base import (
    RAW_PAYLOAD_KEY,
    AdapterError,
    DeliveryUncertain,
    InboundFile,
    InboundMessage,
    OutboundMessage,
    ProviderAccount,
    SendResult,
    StatusUpdate,
)
from channels_adapters.email.parse import digest, message_fingerprint, message_key, parse_email
from channels_adapters.sandbox import sandbox_record, sandbox_sent

# anymail's normalized tracking events -> our delivery status.
TRACKING_STATUS = {
    "queued": "sent",
    "sent": "sent",
    "delivered": "delivered",
    "opened": "read",
    "clicked": "read",
    "bounced": "failed",
    "rejected": "failed",
    "failed": "failed",
}
TRACKING_REASONS = {
    "bounced": "The customer's mail server refused the email (it bounced)",
    "rejected": "The email provider refused to send the email",
    "failed": "The email provider could not send the email",
}


class EmailAdapter:
    provider = "email"

    # --- inbound ---------------------------------------------------------------------------------
    def parse_inbound(self, payload: dict[str, Any]) -> InboundMessage:
        raw = payload.get(RAW_PAYLOAD_KEY)
        if not isinstance(raw, bytes) or not raw:
            raise AdapterError("The stored email has no raw message.", permanent=True)
        parsed = parse_email(raw, attachment_max_bytes=settings.EMAIL_ATTACHMENT_MAX_BYTES)
        recipients = [
            str(payload.get("envelope_recipient") or "").lower(),
            *parsed.delivered_to,
            *parsed.to,
            *parsed.cc,
        ]
        recipients = [r for r in dict.fromkeys(recipients) if r]
        data: dict[str, Any] = {
            "message_id": parsed.message_id,
            "in_reply_to": parsed.in_reply_to,
            "references": parsed.references,
            "threading_ids": parsed.threading_ids,
            "from_header": parsed.from_header,
            "to": parsed.to,
            "cc": parsed.cc,
            "recipients": recipients[:100],
            "reply_to": parsed.reply_to,
            "html": parsed.html,
            "auto": parsed.auto,
            "bounce": asdict(parsed.bounce) if parsed.bounce else None,
            "defects": sorted(set(parsed.defects))[:20],
            "limits": parsed.limits[:10],
            "source": str(payload.get("source", "")),
            "route_inbox": payload.get("route_inbox"),
        }
        # The stored event's fingerprint when it has one (its key was made from it), else read now.
        fingerprint = str(payload.get("fingerprint") or "") or message_fingerprint(parsed)
        key = message_key(message_id=parsed.message_id, fingerprint=fingerprint, raw=raw)
        return InboundMessage(
            channel="email",
            sender_kind="email",
            sender=parsed.from_address,
            recipient=recipients[0] if recipients else "",
            body=parsed.text,
            provider=self.provider,
            # One entry per message, not per Message-ID (entries before 2026-12 hold digest(Message-ID)).
            provider_id=digest(key) if parsed.message_id else digest(raw),
            sender_name=parsed.from_name,
            subject=parsed.subject,
            data=data,
            files=tuple(
                InboundFile(
                    filename=a.filename,
                    declared_content_type=a.declared_content_type,
                    content=a.content,
                    size=a.size,
                    content_id=a.content_id,
                    refused=a.refused,
                )
                for a in parsed.attachments
            ),
            raw=raw,
        )

    # --- outbound --------------------------------------------------------------------------------
    def send(self, message: OutboundMessage, *, account: ProviderAccount) -> SendResult:
        if account.sandbox:
            sandbox_id = sandbox_record(
                channel="email",
                prefix="EM",
                record={
                    "to": message.to,
                    "cc": list(message.cc),
                    "from": message.from_address,
                    "subject": message.subject,
                    "body": message.body,
                    "headers": message.headers,
                    "reply_to": message.reply_to,
                    "reference": message.reference,
                    "attachments": [
                        {"filename": f.filename, "content_type": f.content_type, "size": len(f.content)}
                        for f in message.files
                    ],
                },
            )
            return SendResult(
                provider_id=message.headers.get("Message-ID", sandbox_id), status="sent", sandbox=True
            )
        mail = EmailMultiAlternatives(
            subject=message.subject,
            body=message.body,
            from_email=message.from_address,
            to=[message.to],
            cc=list(message.cc),
            reply_to=[message.reply_to] if message.reply_to else None,
            headers=message.headers,
            connection=get_connection(fail_silently=False),
        )
        if message.html:
            mail.attach_alternative(message.html, "text/html")
        for file in message.files:
            mail.attach(file.filename, file.content, file.content_type)
        try:
            mail.send(fail_silently=False)
        except (smtplib.SMTPRecipientsRefused, smtplib.SMTPSenderRefused) as error:
            raise AdapterError(f"The mail server refused the address: {error}", permanent=True) from error
        except smtplib.SMTPAuthenticationError as error:
            raise AdapterError("The mail server refused the hub's credentials.", permanent=True) from error
        except (smtplib.SMTPServerDisconnected, TimeoutError) as error:
            raise DeliveryUncertain(
                "The connection to the mail server broke while sending; the email may have gone out."
            ) from error
        except (smtplib.SMTPException, OSError, socket.gaierror) as error:
            raise AdapterError(f"The mail server could not be reached: {error}") from error
        except Exception as error:
            # anymail's errors (AnymailRecipientsRefused is permanent, API errors may pass).
            permanent = error.__class__.__name__ in ("AnymailRecipientsRefused", "AnymailInvalidAddress")
            raise AdapterError(
                f"The email provider refused the email: {error}", permanent=permanent
            ) from error
        status = getattr(mail, "anymail_status", None)
        esp_id = str(getattr(status, "message_id", "") or "") if status is not None else ""
        # The ESP's id when there is one (its tracking events name it), else our Message-ID.
        provider_id = (esp_id or message.headers.get("Message-ID", "")).strip().strip("<>")
        return SendResult(provider_id=provider_id[:128], status="sent")

    def find_sent(
        self, message: OutboundMessage, *, account: ProviderAccount, since_iso: str
    ) -> list[SendResult]:
        """Only the sandbox can say; an SMTP server cannot be asked what it accepted."""
        if account.sandbox:
            return sandbox_sent(reference=message.reference)
        return []

    # --- status (anymail tracking events) --------------------------------------------------------
    def parse_status(self, payload: dict[str, Any]) -> StatusUpdate:
        event_type = str(payload.get("event_type", "")).lower()
        reason = ""
        if event_type in TRACKING_REASONS:
            detail = str(payload.get("mta_response") or payload.get("description") or "").strip()
            reason = TRACKING_REASONS[event_type] + (f": {detail[:300]}" if detail else ".")
        return StatusUpdate(
            provider_id=str(payload.get("message_id") or "").strip().strip("<>")[:128],
            status=TRACKING_STATUS.get(event_type, ""),
            reason=reason,
        )

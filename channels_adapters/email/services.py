"""Email into the lifetime thread, and the agent's threaded reply out.

In: `email_store` (the MTA pipe, anymail's inbound webhook, the IMAP poller all call it) stores the raw
message durably under its Message-ID and its fingerprint (one message delivered twice, or by two ways, is
stored once; another message under a reused or forged Message-ID is stored too); the inbound pipeline then
calls `email_inbound_record`.
Out: `email_message_send` queues an entry with our Message-ID, In-Reply-To/References from the customer's
latest email and a signed Reply-To; `entry_deliver` hands it to Django's email backend through the adapter.
"""

from __future__ import annotations

import html as html_lib
import logging
import re
import secrets
from collections.abc import Sequence
from datetime import datetime
from email.utils import formataddr
from typing import Any

import phonenumbers
from django.conf import settings
from django.contrib.auth.models import User
from django.core.files.base import ContentFile
from django.db import transaction

from channels_adapters.base import InboundMessage, StatusUpdate
from channels_adapters.email.parse import (
    digest,
    message_fingerprint,
    message_key,
    parse_email,
    quote_start,
)
from channels_adapters.email.sanitize import html_sanitize, html_to_text
from channels_adapters.email.tokens import is_reply_address, reply_address, reply_address_verify
from channels_adapters.models import EmailMessage, InboundEvent
from channels_adapters.outbound import outbound_entry_queue
from channels_adapters.outbound_files import CheckedFile, outbound_files_attach, outbound_files_check
from config.errors import ChannelRuleError, HubError, ValidationError
from contacts import addresses
from contacts.models import Contact, Identity
from contacts.services import contact_resolve, contact_surviving, contact_surviving_locked
from conversations.answers import rating_answered
from conversations.assignment import conversation_route_inbound
from conversations.models import Attachment, Conversation, Entry, Inbox
from conversations.selectors import inboxes_sendable_by
from conversations.services import (
    conversation_get_or_create,
    conversation_reopen_for_inbound,
    entry_append,
    entry_touch,
)

logger = logging.getLogger("hub.email")

KIND = "email"
NO_SENDER = "(no sender)"
BODY_MAX = 20_000
MAX_REFERENCES_OUT = 20
_RE_PREFIX = re.compile(r"^\s*((re|aw|sv|antw|ref|fw|fwd|wg|tr)\s*(\[\d+\])?\s*:\s*)+", re.IGNORECASE)


class EmailRefused(HubError):
    """A message the hub will not store, with the one-line reason the MTA (or the ESP) is told."""

    code = "email_refused"
    status_code = 400


# --- in ---------------------------------------------------------------------------------------------
def email_store(
    *, raw: bytes, source: str, envelope_recipient: str = "", route_inbox: int | None = None
) -> tuple[InboundEvent, bool]:
    """Store one raw message durably, once. Returns (event, new).

    A message is one message when its Message-ID *and* its fingerprint (sender, date, subject, words, files:
    what the pipe, IMAP and an ESP's webhook agree on) are the same: web forms and notifiers reuse fixed
    Message-IDs, and anyone can forge one, so an id alone must never make a message vanish.
    """
    from channels_adapters.inbound import inbound_event_store

    if not raw or not raw.strip():
        raise EmailRefused("The message is empty.")
    if len(raw) > settings.EMAIL_MAX_BYTES:
        limit = settings.EMAIL_MAX_BYTES / 1_048_576
        raise EmailRefused(f"The message is {len(raw) / 1_048_576:.1f} MB, over the {limit:.0f} MB limit.")
    parsed = parse_email(raw, attachment_max_bytes=settings.EMAIL_ATTACHMENT_MAX_BYTES)
    fingerprint = message_fingerprint(parsed)
    if parsed.message_id:
        before = _stored_under_message_id_alone(parsed.message_id, fingerprint)
        if before is not None:
            return before, False
    payload = {
        "source": source,
        "envelope_recipient": envelope_recipient.strip().lower()[:320],
        "route_inbox": route_inbox,
        "message_id": parsed.message_id[:300],
        "fingerprint": fingerprint,
    }
    key = message_key(message_id=parsed.message_id, fingerprint=fingerprint, raw=raw)
    return inbound_event_store(kind=KIND, idempotency_key=key, payload=payload, raw=raw)


def _stored_under_message_id_alone(message_id: str, fingerprint: str) -> InboundEvent | None:
    """The same message, stored before 2026-12 under `email:<digest of its Message-ID>` alone.

    Such a key still stops a redelivery of its message, but only of that message: the stored one's
    fingerprint, read from its raw bytes, must match.
    """
    earlier = InboundEvent.objects.filter(kind=KIND, idempotency_key=f"email:{digest(message_id)}").first()
    if earlier is None or _event_fingerprint(earlier) != fingerprint:
        return None
    return earlier


def _event_fingerprint(event: InboundEvent) -> str:
    known = str(event.payload.get("fingerprint") or "")
    if known or not event.raw_file:
        return known
    try:
        with event.raw_file.open("rb") as handle:
            raw = handle.read()
    except (OSError, ValueError):
        return ""  # unreadable: not provably the same message, so the new one is kept
    return message_fingerprint(parse_email(raw, attachment_max_bytes=settings.EMAIL_ATTACHMENT_MAX_BYTES))


def email_inbound_record(*, message: InboundMessage, received_at: datetime) -> Entry:
    """A customer's email, in the lifetime thread of whoever it answers, else of its sender."""
    existing = Entry.objects.filter(provider=message.provider, provider_id=message.provider_id).first()
    if existing is not None:
        return existing
    d = message.data
    auto = str(d.get("auto") or "")
    data: dict[str, Any] = {}
    inbox, unrouted = email_inbox_route(
        recipients=list(d.get("recipients") or []), route_inbox=d.get("route_inbox")
    )
    if unrouted and message.recipient:
        data["unrouted_to"] = message.recipient

    answered, forged = _answered_entry(message)
    if forged:
        data["forged_reply_token"] = True
    if auto == EmailMessage.BOUNCE:
        original = _bounced_entry(message) or answered
        if original is not None:
            answered = original
            _bounce_apply(original, message)
            data["bounced_entry"] = original.pk

    sender = message.sender
    if answered is not None:
        contact = contact_surviving_locked(answered.conversation.contact)
        data["answers_entry"] = answered.pk
        if sender and not auto:
            _identity_offer(contact, sender, data)
    else:
        contact, identity = contact_resolve(
            kind=addresses.EMAIL, address=sender or NO_SENDER, name=message.sender_name
        )
        if not identity.is_valid:
            data["invalid_sender"] = True
    conversation = conversation_get_or_create(contact=contact)
    rating = None
    if auto:
        data["auto"] = auto
    else:
        # A 1-to-5 answer to the satisfaction question lands in the thread without reopening it.
        reply_text = message.body[: quote_start(message.body)]  # what they wrote above the quoted question
        rating = rating_answered(conversation=conversation, body=reply_text)
        if rating is not None:
            data["rating"] = rating
    if not auto and rating is None:
        conversation_reopen_for_inbound(conversation=conversation)
        _merge_offer(contact, message.body, data)
    if d.get("cc"):
        data["cc"] = list(d["cc"])[:20]
    if d.get("defects"):
        data["defects"] = list(d["defects"])
    if d.get("limits"):
        data["read_in_part"] = list(d["limits"])  # a hostile or broken message: what was left unread
    message_id = str(d.get("message_id") or "")
    if message_id and EmailMessage.objects.filter(message_id_digest=digest(message_id)).exists():
        # Another, different message came with this Message-ID (a form's or a notifier's fixed id, or a
        # forged one): both are kept, threading reads each on its own, and the agent is told.
        data["shares_message_id"] = True
    data["exchange"] = _exchange_key(message, answered)
    html = str(d.get("html") or "")
    body = message.body or (html_to_text(html) if html else "")
    entry = entry_append(
        conversation=conversation,
        kind=Entry.MESSAGE,
        direction=Entry.INBOUND,
        channel=Entry.EMAIL,
        inbox=inbox,
        body=body,
        subject=message.subject,
        provider=message.provider,
        provider_id=message.provider_id,
        data=data,
        from_address=sender or NO_SENDER,
        to_address=message.recipient,
        created_at=received_at,
        awaits_reply=not auto and rating is None,
        opens_episode=not auto and rating is None,
    )
    cids = _attachments_store(entry, message)
    raw_attachment = _raw_store(entry, message.raw, position=len(message.files))
    EmailMessage.objects.create(
        entry=entry,
        message_id=str(d.get("message_id") or ""),
        message_id_digest=digest(str(d["message_id"])) if d.get("message_id") else "",
        in_reply_to=" ".join(d.get("in_reply_to") or [])[:2000],
        references=list(d.get("references") or []),
        from_header=str(d.get("from_header") or ""),
        to=list(d.get("to") or []),
        cc=list(d.get("cc") or []),
        html=html_sanitize(html, cid_urls=lambda cid: cids.get(cid)) if html else "",
        auto=auto,
        quote_at=quote_start(body),
        raw_attachment=raw_attachment,
    )
    if not auto:
        conversation_route_inbound(conversation=conversation)
    return entry


def email_inbox_route(*, recipients: list[str], route_inbox: Any = None) -> tuple[Inbox, bool]:
    """The email inbox that claims one of the recipients (or polled the mailbox); else the default, flagged."""
    from channels_adapters.inbound import inbox_default

    if isinstance(route_inbox, int):
        polled = Inbox.objects.filter(pk=route_inbox).first()
        if polled is not None:
            return polled, False
    plain = [r for r in recipients if not is_reply_address(r)]
    if plain:
        claimed = {i.address.lower(): i for i in Inbox.objects.filter(kind=Inbox.EMAIL, address__in=plain)}
        for recipient in plain:
            if recipient in claimed:
                return claimed[recipient], False
    for recipient in recipients:
        entry_id = reply_address_verify(recipient) if is_reply_address(recipient) else None
        if entry_id is not None:
            sent = Entry.objects.filter(pk=entry_id).select_related("inbox").first()
            if sent is not None and sent.inbox is not None:
                return sent.inbox, False
    return inbox_default(), True


def _answered_entry(message: InboundMessage) -> tuple[Entry | None, bool]:
    """Our outbound email this one answers: by a signed reply address, else by In-Reply-To/References."""
    forged = False
    for recipient in message.data.get("recipients") or []:
        if not is_reply_address(recipient):
            continue
        entry_id = reply_address_verify(recipient)
        if entry_id is None:
            forged = True
            continue
        found = (
            Entry.objects.filter(pk=entry_id, direction=Entry.OUTBOUND, channel=Entry.EMAIL)
            .select_related("conversation__contact")
            .first()
        )
        if found is not None:
            return found, forged
    ids = list(message.data.get("threading_ids") or [])
    if ids:
        ours = (
            EmailMessage.objects.filter(
                message_id_digest__in=[digest(i) for i in ids], entry__direction=Entry.OUTBOUND
            )
            .select_related("entry__conversation__contact")
            .order_by("-entry__created_at")
            .first()
        )
        if ours is not None:
            return ours.entry, forged
    return None, forged


def _bounced_entry(message: InboundMessage) -> Entry | None:
    bounce = message.data.get("bounce") or {}
    ids = [*(bounce.get("original_message_ids") or []), *(message.data.get("threading_ids") or [])]
    if not ids:
        return None
    ours = (
        EmailMessage.objects.filter(
            message_id_digest__in=[digest(i) for i in ids[:200]], entry__direction=Entry.OUTBOUND
        )
        .select_related("entry__conversation__contact")
        .first()
    )
    return ours.entry if ours else None


def _bounce_apply(original: Entry, message: InboundMessage) -> None:
    from channels_adapters.outbound import entry_status_apply

    bounce = message.data.get("bounce") or {}
    detail = " ".join(str(bounce.get(k) or "") for k in ("status", "diagnostic")).strip()
    reason = "The email bounced" + (f": {detail[:300]}" if detail else ".")
    entry_status_apply(
        update=StatusUpdate(provider_id="", status=Entry.FAILED, reason=reason),
        entry_id=original.pk,
        provider=original.provider,
    )


def _identity_offer(contact: Contact, sender: str, data: dict[str, Any]) -> None:
    """A reply from an address the customer never used: offered to the agent, never attached silently."""
    normalized = addresses.normalize_email(sender)
    if not normalized.valid:
        return
    owner = (
        Identity.objects.filter(kind=addresses.EMAIL, address=normalized.address, verified=True)
        .select_related("contact")
        .first()
    )
    if owner is None:
        data["identity_suggestion"] = normalized.address
        return
    survivor = contact_surviving(owner.contact)
    if survivor.pk != contact.pk:
        data["merge_suggestion"] = {
            "contact": survivor.pk,
            "name": survivor.display_name[:200],
            "address": normalized.address,
        }


def _merge_offer(contact: Contact, body: str, data: dict[str, Any]) -> None:
    """A phone number in the body or signature that belongs to another customer: offer a merge."""
    if "merge_suggestion" in data or not body:
        return
    found: list[str] = []
    try:
        for match in phonenumbers.PhoneNumberMatcher(body[:20_000], settings.DEFAULT_PHONE_REGION):
            number = phonenumbers.format_number(match.number, phonenumbers.PhoneNumberFormat.E164)
            if number not in found:
                found.append(number)
            if len(found) >= 10:
                break
    except Exception:
        return
    if not found:
        return
    for identity in (
        Identity.objects.filter(kind=addresses.PHONE, address__in=found, verified=True)
        .exclude(contact=contact)
        .select_related("contact")
    ):
        other = contact_surviving(identity.contact)
        if other.pk != contact.pk:
            data["merge_suggestion"] = {
                "contact": other.pk,
                "name": other.display_name[:200],
                "phone": identity.address,
            }
            return


def _exchange_key(message: InboundMessage, answered: Entry | None) -> str:
    """Entries of one email exchange share this key (the root message of the References chain)."""
    if answered is not None and answered.data.get("exchange"):
        return str(answered.data["exchange"])
    refs = list(message.data.get("references") or [])
    root = refs[0] if refs else next(iter(message.data.get("in_reply_to") or []), "")
    return digest(root or str(message.data.get("message_id") or message.provider_id))[:16]


def _attachments_store(entry: Entry, message: InboundMessage) -> dict[str, str]:
    """Store the files with their sniffed type; returns Content-ID -> our URL for inline images."""
    from config.file_check import file_checked

    cids: dict[str, str] = {}
    for position, item in enumerate(message.files):
        attachment = Attachment(
            entry=entry,
            position=position,
            filename=item.filename[:255],
            declared_content_type=item.declared_content_type[:255],
            size=item.size,
        )
        if item.content is None:
            attachment.state = Attachment.REFUSED
            attachment.error = item.refused or "Not kept."
            attachment.save()
            continue
        # An image that does not hold up (a decompression bomb, a page behind an image header) is a plain file.
        attachment.content_type = file_checked(item.content).content_type
        attachment.state = Attachment.STORED
        attachment.file.save(f"email-{entry.pk}-{position}", ContentFile(item.content), save=False)
        attachment.save()
        if item.content_id and attachment.is_inline_image:
            cids[item.content_id] = f"/attachments/{attachment.pk}/"
    return cids


def _raw_store(entry: Entry, raw: bytes, *, position: int) -> Attachment | None:
    if not raw:
        return None
    attachment = Attachment(
        entry=entry,
        position=position,
        filename=f"message-{entry.pk}.eml",
        declared_content_type="message/rfc822",
        content_type="application/octet-stream",
        size=len(raw),
        state=Attachment.STORED,
    )
    attachment.file.save(f"email-{entry.pk}-source.eml", ContentFile(raw), save=False)
    attachment.save()
    return attachment


def identity_suggestion_accept(*, entry: Entry, by: User) -> Identity:
    """The agent agrees: the address an email came from is this customer's too."""
    from conversations.customers import identity_attach

    address = str(entry.data.get("identity_suggestion") or "")
    if not address:
        raise ValidationError("This email offers no new address.")
    contact = contact_surviving(entry.conversation.contact)
    with transaction.atomic():
        identity = identity_attach(contact=contact, kind=addresses.EMAIL, address=address, by=by)
        locked = Entry.objects.select_for_update().select_related("conversation").get(pk=entry.pk)
        data = {k: v for k, v in locked.data.items() if k != "identity_suggestion"}
        locked.data = {**data, "identity_added": identity.address}
        entry_touch(entry=locked, fields=["data"])  # the offer disappears from every agent's screen
    return identity


# --- out --------------------------------------------------------------------------------------------
def email_message_send(
    *,
    conversation: Conversation,
    body: str,
    author: User | None,
    inbox: Inbox | None = None,
    keep_cc: bool = True,
    recipient: str = "",
    files: Sequence[CheckedFile] = (),
) -> Entry:
    """An agent's email reply, threaded under the customer's latest email, queued for delivery after commit.

    `recipient`: an address the customer gave but never proved (a web chat visitor's), used instead of theirs.
    `files`: attachments, within the email size limit.
    """

    text = body.strip()
    if not text and not files:
        raise ValidationError("The message is empty.")
    outbound_files_check(channel=Entry.EMAIL, files=files)
    if len(text) > BODY_MAX:
        raise ValidationError(f"The message is {len(text)} characters; an email reply allows {BODY_MAX}.")
    latest = (
        Entry.objects.filter(conversation=conversation, channel=Entry.EMAIL, direction=Entry.INBOUND)
        .exclude(data__has_key="auto")  # machine-sent mail is never what the agent answers
        .select_related("email", "inbox")
        .order_by("-created_at", "-id")
        .first()
    )
    if inbox is None:
        inbox = latest.inbox if latest is not None and latest.inbox and not latest.inbox.is_default else None
    if inbox is None:
        inbox = (
            inboxes_sendable_by(author).filter(kind=Inbox.EMAIL).exclude(address="").order_by("pk").first()
        )
    if inbox is None or inbox.kind != Inbox.EMAIL or not inbox.address:
        raise ValidationError(
            "Pick the email inbox to answer from: no email inbox is set up for this customer."
        )
    if not inboxes_sendable_by(author).filter(pk=inbox.pk).exists():
        raise ValidationError("You cannot send from that inbox.")
    recipient = recipient or _email_recipient(conversation, latest)
    if not recipient:
        raise ChannelRuleError("This customer has no email address that can receive email.")
    email_data = getattr(latest, "email", None) if latest is not None else None
    subject = _reply_subject(latest.subject if latest is not None else "", inbox)
    in_reply_to, references = "", []
    if email_data is not None and email_data.message_id:
        in_reply_to = email_data.message_id
        references = [*list(email_data.references)[-(MAX_REFERENCES_OUT - 1) :], email_data.message_id]
    cc: list[str] = []
    if keep_cc and email_data is not None:
        ours = {inbox.address.lower(), recipient.lower()}
        cc = [
            a
            for a in [*email_data.to, *email_data.cc]
            if a.lower() not in ours
            and not is_reply_address(a)
            and not Inbox.objects.filter(kind=Inbox.EMAIL, address=a.lower()).exists()
        ][:20]
    domain = _reply_domain(inbox)
    with transaction.atomic():
        entry = outbound_entry_queue(
            conversation=conversation,
            channel=Entry.EMAIL,
            inbox=inbox,
            author=author,
            provider="email",
            to_address=recipient,
            body=text,
            subject=subject,
            data={
                "exchange": latest.data.get("exchange", "") if latest is not None else "",
                **({"cc": cc} if cc else {}),
            },
        )
        message_id = f"hub.{entry.pk}.{secrets.token_hex(8)}@{domain}"
        EmailMessage.objects.create(
            entry=entry,
            message_id=message_id,
            message_id_digest=digest(message_id),
            in_reply_to=in_reply_to,
            references=references,
            from_header=formataddr((inbox.name, inbox.address)),
            to=[recipient],
            cc=cc,
            html=_reply_html(text),
        )
        outbound_files_attach(entry=entry, files=files)
    return entry


def email_outbound_fields(entry: Entry) -> dict[str, Any]:
    """What the adapter needs to send an email entry (read again at each attempt)."""
    email_data = EmailMessage.objects.filter(entry=entry).first()
    assert entry.inbox is not None
    headers = {}
    message_id = email_data.message_id if email_data else ""
    if message_id:
        headers["Message-ID"] = f"<{message_id}>"
    if email_data is not None and email_data.in_reply_to:
        headers["In-Reply-To"] = f"<{email_data.in_reply_to}>"
    if email_data is not None and email_data.references:
        headers["References"] = " ".join(f"<{r}>" for r in email_data.references)
    # RFC 3834: the hub's own answers (a rule's out-of-hours reply) say so, so the other side's auto-responder
    # does not answer them; an agent's reply is a person's.
    headers["Auto-Submitted"] = "auto-replied" if entry.data.get("automatic") else "no"
    return {
        "subject": entry.subject,
        "html": email_data.html if email_data else "",
        "cc": tuple(email_data.cc) if email_data else (),
        "reply_to": reply_address(entry_id=entry.pk, domain=_reply_domain(entry.inbox)),
        "headers": headers,
        "from_address": email_data.from_header
        if email_data and email_data.from_header
        else entry.from_address,
    }


def email_status_apply(*, payload: dict[str, Any]) -> Entry | None:
    """An anymail tracking event (delivered, bounced, complained): the entry's status, live."""
    from channels_adapters.outbound import entry_status_apply
    from channels_adapters.registry import get_adapter

    update = get_adapter(KIND).parse_status(payload)
    if not update.provider_id:
        return None
    entry = entry_status_apply(update=update, entry_id=None, provider="email")
    if entry is not None and str(payload.get("event_type")) == "complained":
        from conversations.services import event_append

        event_append(
            conversation=entry.conversation,
            event_type="email.complained",
            body="The customer marked the hub's email as spam.",
            data={"entry": entry.pk},
        )
    return entry


def _email_recipient(conversation: Conversation, latest: Entry | None) -> str:
    identities = Identity.objects.filter(
        contact_id=conversation.contact_id, kind=addresses.EMAIL, verified=True, is_valid=True
    )
    if (
        latest is not None
        and latest.from_address
        and identities.filter(address=latest.from_address.lower()).exists()
    ):
        return latest.from_address.lower()
    found = identities.order_by("-last_seen_at", "-id").values_list("address", flat=True).first()
    return found or ""


def _reply_subject(subject: str, inbox: Inbox) -> str:
    rest = _RE_PREFIX.sub("", subject or "").strip()
    return f"Re: {rest}"[:500] if rest else f"A message from {inbox.name}"[:500]


def _reply_domain(inbox: Inbox) -> str:
    if settings.EMAIL_REPLY_DOMAIN:
        return str(settings.EMAIL_REPLY_DOMAIN)
    domain = inbox.address.rpartition("@")[2]
    return domain or str(settings.DEFAULT_FROM_EMAIL).rpartition("@")[2] or "localhost"


def _reply_html(text: str) -> str:
    paragraphs = [html_lib.escape(p).replace("\n", "<br>\n") for p in re.split(r"\n\s*\n", text)]
    return "<div>" + "".join(f"<p>{p}</p>" for p in paragraphs) + "</div>"

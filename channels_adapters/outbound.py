"""The outbound pipeline: never sent twice silently.

`message_send` checks the channel's rules and queues an entry; `entry_deliver` claims it (queued -> sending,
committed before the provider is called), sends, and records sent or failed. A worker that dies after the
provider accepted leaves the entry in `sending`; `outbound_reconcile` asks the provider, and marks it
`unknown` for an agent to decide when the provider cannot say. Nothing is resent without a person asking.
"""

from __future__ import annotations

import logging
from collections.abc import Sequence
from datetime import datetime, timedelta
from typing import Any

from django.conf import settings
from django.contrib.auth.models import User
from django.db import transaction
from django.utils import timezone

from channels_adapters.accounts import twilio_account_for_inbox
from channels_adapters.base import (
    AdapterError,
    DeliveryUncertain,
    OutboundFile,
    OutboundMessage,
    ProviderAccount,
    StatusUpdate,
)
from channels_adapters.outbound_files import (
    Upload,
    media_url_sign,
    outbound_files_attach,
    outbound_files_check,
    outbound_files_read,
)
from channels_adapters.registry import adapter_for_channel
from config.enqueue import enqueue_now, enqueue_on_commit
from config.errors import ChannelRuleError, ValidationError
from contacts.addresses import normalize_phone
from contacts.models import Identity, Suppression
from contacts.selectors import address_suppressed
from contacts.services import identity_set_opt_out
from conversations.models import Attachment, Conversation, Entry, Inbox
from conversations.selectors import inboxes_sendable_by
from conversations.services import entry_append, entry_touch, event_append

logger = logging.getLogger("hub.outbound")

SENDABLE_CHANNELS = (Entry.SMS, Entry.WHATSAPP)
SMS_MAX_LENGTH = 1600
WHATSAPP_WINDOW = timedelta(hours=24)

# How far each status is along the way; a callback never moves an entry backwards.
STATUS_RANK = {
    Entry.QUEUED: 0,
    Entry.SENDING: 1,
    Entry.UNKNOWN: 1,
    Entry.SENT: 2,
    Entry.DELIVERED: 3,
    Entry.UNDELIVERED: 3,
    Entry.FAILED: 3,
    Entry.READ: 4,
}


def message_send(
    *,
    conversation: Conversation,
    body: str,
    author: User | None,
    channel: str | None = None,
    inbox: Inbox | None = None,
    keep_cc: bool = True,
    uploads: Sequence[Upload] = (),
) -> Entry:
    """An agent's reply, with or without files: checked against the channel's rules and limits, queued, and
    delivered after commit.

    `keep_cc` (email): copy the others the customer's email went to, as a mail client's "reply all".
    """

    channel = channel or reply_default_channel(conversation)
    files = outbound_files_read(uploads=uploads)
    if channel == Entry.EMAIL:
        from channels_adapters.email.services import email_message_send

        if inbox is not None and inbox.kind != Inbox.EMAIL:
            inbox = None  # the picker's number: email goes out from the customer's email inbox
        return email_message_send(
            conversation=conversation, body=body, author=author, inbox=inbox, keep_cc=keep_cc, files=files
        )
    if channel == Entry.WEBCHAT:
        from channels_adapters.webchat.services import webchat_message_send

        return webchat_message_send(
            conversation=conversation, body=body, author=author, inbox=inbox, files=files
        )
    if channel not in SENDABLE_CHANNELS:
        raise ValidationError(f"Replies on the {channel or 'unknown'} channel are not available yet.")
    text = body.strip()
    if not text and not files:
        raise ValidationError("The message is empty.")
    if len(text) > SMS_MAX_LENGTH:
        raise ValidationError(
            f"The message is {len(text)} characters; SMS and WhatsApp allow {SMS_MAX_LENGTH}."
        )
    inbox = inbox or reply_default_inbox(conversation)
    if inbox is None or inbox.kind != Inbox.PHONE or not (inbox.address or inbox.messaging_service_sid):
        raise ValidationError(
            "Pick the business number to answer from: this customer wrote to a number no inbox claims."
        )
    if not inboxes_sendable_by(author).filter(pk=inbox.pk).exists():
        raise ValidationError("You cannot send from that inbox.")
    identity = recipient_for(conversation)
    if identity is None:
        raise ChannelRuleError("This customer has no phone number that can receive messages.")
    if files:
        # The file's own reasons first: outside WhatsApp's window, what the agent must know is that only a
        # media template can carry a file.
        outbound_files_check(
            channel=channel,
            files=files,
            from_address=inbox.address,
            to_address=identity.address,
            window_open=channel != Entry.WHATSAPP or whatsapp_window_open(conversation),
        )
    channel_rules_check(conversation=conversation, channel=channel, identity=identity)
    with transaction.atomic():
        entry = outbound_entry_queue(
            conversation=conversation,
            channel=channel,
            inbox=inbox,
            author=author,
            provider="twilio",
            to_address=identity.address,
            body=text,
        )
        outbound_files_attach(entry=entry, files=files)
    return entry


def outbound_entry_queue(
    *,
    conversation: Conversation,
    channel: str,
    inbox: Inbox,
    author: User | None,
    provider: str,
    to_address: str,
    kind: str = Entry.MESSAGE,
    **fields: Any,
) -> Entry:
    """An agent's outbound entry (or, with no author, the hub's own), queued, with its delivery enqueued once the
    transaction commits.

    Inside the caller's transaction, what the caller adds to the entry (an email's headers) is committed
    before any worker reads it.
    """
    from channels_adapters import tasks

    if author is None:
        # The hub's own message (a rule's reply): it answers nobody's wait and is no one's first response.
        fields["data"] = {**(fields.get("data") or {}), "automatic": True}
    with transaction.atomic():
        entry = entry_append(
            conversation=conversation,
            kind=kind,
            direction=Entry.OUTBOUND,
            channel=channel,
            inbox=inbox,
            author=author,
            provider=provider,
            delivery_status=Entry.QUEUED,
            from_address=inbox.address,
            to_address=to_address,
            **fields,
        )
        enqueue_on_commit(tasks.deliver_entry, entry.pk)
    return entry


def channel_rules_check(*, conversation: Conversation, channel: str, identity: Identity) -> None:
    """Refuse, with the reason, a send the channel's rules forbid: SMS after STOP, WhatsApp outside 24 hours."""
    stopped = address_suppressed(channel=Suppression.SMS, address=identity.address)
    if channel == Entry.SMS and stopped is not None:
        raise ChannelRuleError(
            f"{identity.address} texted STOP on {stopped:%Y-%m-%d %H:%M} UTC and cannot be sent SMS "
            "until they text START."
        )
    if channel == Entry.WHATSAPP:
        last = whatsapp_last_inbound(conversation)
        if last is None or timezone.now() - last > WHATSAPP_WINDOW:
            when = f"was at {last:%Y-%m-%d %H:%M} UTC" if last else "has never happened"
            raise ChannelRuleError(
                "WhatsApp allows free-form replies only within 24 hours of the customer's last WhatsApp message, "
                f"which {when}. Use SMS or a WhatsApp template instead."
            )


def whatsapp_last_inbound(conversation: Conversation) -> datetime | None:
    """When the customer last wrote on WhatsApp: free text may answer for 24 hours after it."""
    return (
        Entry.objects.filter(conversation=conversation, channel=Entry.WHATSAPP, direction=Entry.INBOUND)
        .order_by("-created_at")
        .values_list("created_at", flat=True)
        .first()
    )


def whatsapp_window_open(conversation: Conversation) -> bool:
    last = whatsapp_last_inbound(conversation)
    return last is not None and timezone.now() - last <= WHATSAPP_WINDOW


def entry_deliver(*, entry_id: int) -> float | None:
    """Send one queued entry. Returns a delay in seconds when a transient error asks for another attempt."""
    with transaction.atomic():
        entry = (
            Entry.objects.select_for_update(skip_locked=True, of=("self",))
            .select_related("inbox", "inbox__twilio_account", "conversation")
            .filter(pk=entry_id, delivery_status=Entry.QUEUED)
            .first()
        )
        if entry is None:
            return None
        entry.delivery_status = Entry.SENDING
        entry.sending_started_at = timezone.now()
        entry.attempts += 1
        entry.status_reason = ""
        entry_touch(
            entry=entry, fields=["delivery_status", "sending_started_at", "attempts", "status_reason"]
        )
    # The claim is committed: from here a crash leaves `sending`, which is reconciled, never resent.
    adapter = adapter_for_channel(entry.channel)
    account = _account(entry)
    try:
        result = adapter.send(_outbound_message(entry), account=account)
    except DeliveryUncertain as error:
        _entry_update(entry.pk, reason=error.message)
        return None
    except AdapterError as error:
        return _delivery_failed(entry, error)
    _entry_update(
        entry.pk,
        status=result.status or Entry.SENT,
        provider_id=result.provider_id,
        sent_at=timezone.now(),
        data={"sandbox": True} if result.sandbox else None,
        reason="",
    )
    return None


def entry_status_apply(
    *, update: StatusUpdate, entry_id: int | None, provider: str = "twilio"
) -> Entry | None:
    """A provider's status callback: forward-only, idempotent, live on the agent's screen."""
    with transaction.atomic():
        qs = Entry.objects.select_for_update().filter(provider=provider)
        entry = None
        if entry_id is not None:
            entry = qs.filter(pk=entry_id, direction=Entry.OUTBOUND).first()
        if entry is None and update.provider_id:
            entry = qs.filter(provider_id=update.provider_id).first()
        if entry is None:
            return None
        if update.provider_id and (
            (entry.provider_id and update.provider_id != entry.provider_id)
            or update.provider_id in entry.data.get("earlier_provider_ids", [])
        ):
            return None  # a late callback about an earlier attempt of a message sent again
        fields: list[str] = []
        if update.provider_id and not entry.provider_id:
            entry.provider_id = update.provider_id
            fields.append("provider_id")
        # A mail server may accept an email ("delivered") and bounce it later: for email the bounce wins.
        late_bounce = (
            provider == "email"
            and update.status == Entry.FAILED
            and entry.delivery_status in (Entry.SENT, Entry.DELIVERED)
        )
        if update.status and (
            late_bounce or STATUS_RANK.get(update.status, 0) > STATUS_RANK.get(entry.delivery_status, 0)
        ):
            entry.delivery_status = update.status
            fields.append("delivery_status")
            if update.status in (Entry.FAILED, Entry.UNDELIVERED) and update.reason:
                entry.status_reason = update.reason
                fields.append("status_reason")
            elif update.status in (Entry.SENT, Entry.DELIVERED, Entry.READ) and entry.status_reason:
                entry.status_reason = ""
                fields.append("status_reason")
        if update.opted_out:
            _recipient_opted_out(entry)
        if fields:
            entry_touch(entry=entry, fields=fields)
        return entry


def entry_retry(*, entry: Entry, by: User) -> Entry:
    """An agent asks to send a failed or uncertain message again: their decision, recorded."""
    from channels_adapters import tasks

    with transaction.atomic():
        locked = Entry.objects.select_for_update().select_related("conversation").get(pk=entry.pk)
        if locked.direction != Entry.OUTBOUND or locked.delivery_status not in (Entry.FAILED, Entry.UNKNOWN):
            raise ValidationError("Only a failed message, or one whose fate is unknown, can be sent again.")
        if locked.channel not in (Entry.EMAIL, Entry.WEBCHAT):
            identity = _entry_recipient(locked)
            if identity is None:
                raise ChannelRuleError("The number this message went to is no longer the customer's.")
            channel_rules_check(conversation=locked.conversation, channel=locked.channel, identity=identity)
        if locked.provider_id:
            earlier = [*locked.data.get("earlier_provider_ids", []), locked.provider_id]
            locked.data = {**locked.data, "earlier_provider_ids": earlier}
        locked.delivery_status = Entry.QUEUED
        locked.status_reason = ""
        locked.provider_id = ""
        entry_touch(entry=locked, fields=["delivery_status", "status_reason", "provider_id", "data"])
        event_append(
            conversation=locked.conversation,
            event_type="entry.resend_requested",
            body=f"{by.get_username()} asked to send a message again",
            by=by,
            data={"entry": locked.pk},
        )
        enqueue_on_commit(tasks.deliver_entry, locked.pk)
    return locked


def outbound_reconcile() -> dict[str, int]:
    """Entries stuck in `sending` are asked about (never resent); entries left `queued` are enqueued again."""
    from channels_adapters import tasks

    now = timezone.now()
    stuck_before = now - timedelta(seconds=settings.OUTBOUND_STUCK_AFTER_S)
    counts = {"reconciled": 0, "unknown": 0, "postponed": 0, "requeued": 0}
    stuck = list(
        Entry.objects.filter(delivery_status=Entry.SENDING, sending_started_at__lt=stuck_before)
        .select_related("inbox", "inbox__twilio_account")
        .order_by("sending_started_at")[:200]
    )
    for entry in stuck:
        try:
            counts[_entry_reconcile(entry, now=now)] += 1
        except Exception:
            # One entry the provider cannot be asked about must not stop the others from being reconciled.
            logger.exception("Could not reconcile entry %s", entry.pk)
    forgotten = Entry.objects.filter(
        delivery_status=Entry.QUEUED,
        direction=Entry.OUTBOUND,
        created_at__lt=stuck_before,
        updated_at__lt=stuck_before,
    ).values_list("pk", flat=True)[:500]
    for entry_id in forgotten:
        if enqueue_now(tasks.deliver_entry, entry_id):
            counts["requeued"] += 1
    return counts


def _entry_reconcile(entry: Entry, *, now: datetime) -> str:
    """Settle one entry stuck in `sending`: sent (with the provider's id), unknown, or left for later."""
    assert entry.sending_started_at is not None
    adapter = adapter_for_channel(entry.channel)
    # A minute of slack for clocks; candidates made before this attempt started are never ours.
    since = (entry.sending_started_at - timedelta(minutes=1)).isoformat()
    try:
        candidates = adapter.find_sent(_outbound_message(entry), account=_account(entry), since_iso=since)
    except AdapterError as error:
        if now - entry.sending_started_at < timedelta(hours=24):
            logger.warning("Could not ask the provider about entry %s yet: %s", entry.pk, error)
            return "postponed"
        candidates = []
    claimed = set(
        Entry.objects.filter(provider=entry.provider, provider_id__in=[c.provider_id for c in candidates])
        .exclude(pk=entry.pk)
        .values_list("provider_id", flat=True)
    )
    earlier = set(entry.data.get("earlier_provider_ids", []))
    found = next((c for c in candidates if c.provider_id not in claimed | earlier), None)
    if found is not None:
        _entry_update(
            entry.pk,
            status=found.status,
            provider_id=found.provider_id,
            sent_at=now,
            reason="",
            expect=Entry.SENDING,
        )
        return "reconciled"
    _entry_update(
        entry.pk,
        status=Entry.UNKNOWN,
        expect=Entry.SENDING,
        reason="The hub lost track of this message while sending it and Twilio has no record of it. "
        "It was probably not sent; send it again if the customer still needs it.",
    )
    return "unknown"


# --- helpers ------------------------------------------------------------------------------------
def reply_default_channel(conversation: Conversation) -> str:
    if conversation.last_inbound_channel in (*SENDABLE_CHANNELS, Entry.EMAIL, Entry.WEBCHAT):
        return conversation.last_inbound_channel
    return Entry.SMS


def reply_default_inbox(conversation: Conversation) -> Inbox | None:
    inbox = conversation.last_inbound_inbox
    if inbox is not None and not inbox.is_default:
        return inbox
    last_out = (
        Entry.objects.filter(conversation=conversation, direction=Entry.OUTBOUND, inbox__isnull=False)
        .exclude(inbox__is_default=True)
        .select_related("inbox")
        .order_by("-created_at")
        .first()
    )
    return last_out.inbox if last_out else None


def recipient_for(conversation: Conversation) -> Identity | None:
    """The phone identity the customer last wrote from, else their most recently seen valid phone."""
    phones = Identity.objects.filter(
        contact_id=conversation.contact_id, kind="phone", verified=True, is_valid=True
    )
    last_from = (
        Entry.objects.filter(
            conversation=conversation, direction=Entry.INBOUND, channel__in=SENDABLE_CHANNELS
        )
        .order_by("-created_at")
        .values_list("from_address", flat=True)
        .first()
    )
    if last_from:
        match = phones.filter(address=normalize_phone(last_from).address).first()
        if match is not None:
            return match
    return phones.order_by("-last_seen_at", "-id").first()


def _account(entry: Entry) -> ProviderAccount:
    if entry.channel == Entry.EMAIL:
        return ProviderAccount(account_id="email", secret="", sandbox=settings.EMAIL_SANDBOX)
    if entry.channel == Entry.WEBCHAT:
        return ProviderAccount(account_id="webchat", secret="")
    return twilio_account_for_inbox(entry.inbox)


def _outbound_message(entry: Entry) -> OutboundMessage:
    if entry.channel == Entry.EMAIL:
        from channels_adapters.email.services import email_outbound_fields

        fields = email_outbound_fields(entry)
        return OutboundMessage(
            channel=entry.channel,
            to=entry.to_address,
            from_address=fields["from_address"],
            body=entry.body,
            status_callback="",
            reference=str(entry.pk),
            subject=fields["subject"],
            html=fields["html"],
            cc=fields["cc"],
            reply_to=fields["reply_to"],
            headers=fields["headers"],
            files=_outbound_files(entry),
        )
    inbox = entry.inbox
    body = entry.body
    if entry.channel == Entry.SMS:
        # A non-breaking space would switch the SMS to UCS-2 and halve its length.
        body = body.replace("\u00a0", " ").replace("\u202f", " ")
    if entry.channel == Entry.VOICE:
        from channels_adapters.voice.adapter import callback_url

        return OutboundMessage(
            channel=entry.channel,
            to=entry.to_address,
            from_address=entry.from_address,
            body="",
            status_callback=callback_url("status", entry=entry.pk, direction="outbound"),
            reference=str(entry.pk),
            connect_first=str(entry.data.get("agent_phone", "")),
        )
    template = entry.data.get("template") if isinstance(entry.data, dict) else None
    return OutboundMessage(
        channel=entry.channel,
        to=entry.to_address,
        from_address=entry.from_address,
        body=body,
        status_callback=f"{settings.PUBLIC_BASE_URL}/webhooks/twilio/messaging/status/?entry={entry.pk}",
        messaging_service_id=inbox.messaging_service_sid if inbox and not entry.from_address else "",
        reference=str(entry.pk),
        content_sid=str(template["sid"]) if isinstance(template, dict) else "",
        content_variables=dict(template.get("variables") or {}) if isinstance(template, dict) else {},
        # Signed at each attempt, so a retry hours later still hands Twilio URLs that work.
        media_urls=tuple(media_url_sign(a) for a in _stored_attachments(entry)),
    )


def _stored_attachments(entry: Entry) -> list[Attachment]:
    return list(entry.attachments.filter(state=Attachment.STORED).order_by("position"))


def _outbound_files(entry: Entry) -> tuple[OutboundFile, ...]:
    files = []
    for attachment in _stored_attachments(entry):
        with attachment.file.open("rb") as handle:
            content = handle.read()
        files.append(
            OutboundFile(filename=attachment.filename, content_type=attachment.content_type, content=content)
        )
    return tuple(files)


def _delivery_failed(entry: Entry, error: AdapterError) -> float | None:
    if error.opted_out:
        with transaction.atomic():
            _recipient_opted_out(entry)
    if error.permanent or entry.attempts >= settings.OUTBOUND_MAX_ATTEMPTS:
        reason = (
            error.message if error.permanent else f"Gave up after {entry.attempts} attempts: {error.message}"
        )
        _entry_update(entry.pk, status=Entry.FAILED, reason=reason, expect=Entry.SENDING)
        return None
    _entry_update(entry.pk, status=Entry.QUEUED, reason=f"Retrying: {error.message}", expect=Entry.SENDING)
    return float(min(300, 2**entry.attempts * 5))


def _entry_update(
    entry_id: int,
    *,
    status: str | None = None,
    provider_id: str | None = None,
    sent_at: Any = None,
    reason: str | None = None,
    data: dict[str, Any] | None = None,
    expect: str | None = None,
) -> None:
    """Record the outcome of a send without moving the entry backwards past what a callback already said."""
    with transaction.atomic():
        entry = Entry.objects.select_for_update().select_related("conversation").get(pk=entry_id)
        fields: list[str] = []
        moving = status is not None and (expect is None or entry.delivery_status == expect)
        if (
            moving
            and status is not None
            and (
                status in (Entry.QUEUED, Entry.UNKNOWN, Entry.FAILED)
                or STATUS_RANK[status] > STATUS_RANK[entry.delivery_status]
            )
        ):
            entry.delivery_status = status
            fields.append("delivery_status")
        if provider_id and not entry.provider_id:
            entry.provider_id = provider_id
            fields.append("provider_id")
        if sent_at is not None and entry.sent_at is None:
            entry.sent_at = sent_at
            fields.append("sent_at")
        if reason is not None and reason != entry.status_reason:
            entry.status_reason = reason
            fields.append("status_reason")
        if data:
            entry.data = {**entry.data, **data}
            fields.append("data")
        if fields:
            entry_touch(entry=entry, fields=fields)


def _entry_recipient(entry: Entry) -> Identity | None:
    """The customer's phone identity an outbound entry was addressed to."""
    return Identity.objects.filter(
        contact__conversation=entry.conversation_id,
        kind="phone",
        address=normalize_phone(entry.to_address).address,
    ).first()


def _recipient_opted_out(entry: Entry) -> None:
    identity = _entry_recipient(entry)
    if identity is not None:
        identity_set_opt_out(identity=identity, opted_out=True)

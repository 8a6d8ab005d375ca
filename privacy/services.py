"""Erase a customer everywhere their data lives, and export all of it (docs/privacy.md).

What the reports count stays as facts without identifiers: the contact row (no name, no attributes, no
addresses), its thread, episodes and their metrics, stage changes, and each entry's kind, channel, direction
and times. Everything a person wrote or that names them goes: texts, raw payloads and MIME, files, realtime
frames, outbox payloads, webhook logs, exports, sandbox records and Redis keys. The idempotency keys of the
raw inbound events stay, emptied, so a provider's late retry finds its key and recreates nothing.
"""

from __future__ import annotations

import json
import logging
import re
from collections.abc import Callable, Iterable
from dataclasses import dataclass, field
from datetime import datetime
from functools import partial
from typing import Any

from django.conf import settings
from django.contrib.auth.models import User
from django.core.files.storage import default_storage
from django.db import transaction
from django.db.models import Q, TextField
from django.db.models.functions import Cast
from django.utils import timezone

from channels_adapters.models import EmailMessage, InboundEvent
from config.enqueue import enqueue_on_commit
from config.errors import PermissionDenied, ValidationError
from contacts.addresses import PHONE, VISITOR
from contacts.models import Contact, Identity
from conversations import realtime
from conversations.models import Attachment, Conversation, Entry, Notification, RealtimeEvent
from conversations.selectors import agent_sees_everything
from events.models import DomainEvent, WebhookAttempt
from events.services import event_publish
from lifecycle.models import ContactOwner, LeadScore, LeadSignal, StageChange, Touchpoint
from privacy.models import ContactErasure, ContactExport, RetentionPolicy
from reports.models import AuditLog, ExportJob, SatisfactionSurvey, ScheduledFollowUp
from reports.services import audit_record
from sequences.models import Enrollment, StepRun

logger = logging.getLogger("hub.privacy")

REASON_MAX = 300
# Entry.data keys that are facts, not content: what the reports, the leak finder and a call's label read,
# and the provider's ids the hub still needs to ask the provider to delete its copies.
ENTRY_DATA_KEPT = frozenset(
    {
        "keyword",
        "call_outcome",
        "call_label",
        "call_status",
        "dial_status",
        "duration_s",
        "recording_duration_s",
        "recording_status",
        "transcription_status",
        "customer_answered",
        "automatic",
        "auto",
        "media_count",
        "rating",
        "recording_sid",
        "transcription_sid",
    }
)


@dataclass(frozen=True)
class ErasureResult:
    contact_id: int
    already: bool
    erased_at: datetime
    counts: dict[str, int] = field(default_factory=dict)


# --- erase ------------------------------------------------------------------------------------------
def contact_erase(*, contact: Contact, by: User, reason: str) -> ErasureResult:
    """Erase `contact`'s personal data everywhere; a second erasure is a no-op that says so.

    Files are deleted after the commit (storage is not transactional): a rolled-back erasure keeps them."""
    if not agent_sees_everything(by):
        raise PermissionDenied("Only managers and admins erase a customer.")
    reason = " ".join(str(reason or "").split())
    if not reason:
        raise ValidationError("Say why the customer is erased (for example: the customer asked, ticket 123).")
    return _contact_erase(contact=contact, by=by, reason=reason)


def _contact_erase(*, contact: Contact, by: User | None, reason: str) -> ErasureResult:
    """The erasure itself; `by` is None when a retention policy erases."""
    from privacy import tasks

    files: list[str] = []
    with transaction.atomic():
        contact = Contact.objects.select_for_update().get(pk=contact.pk)
        while contact.merged_into_id is not None:
            # Merged while this erasure waited for the lock: the survivor is the same person, with their data.
            contact = Contact.objects.select_for_update().get(pk=contact.merged_into_id)
        done = ContactErasure.objects.filter(contact=contact).first()
        if done is not None:
            return ErasureResult(contact.pk, True, done.erased_at, dict(done.counts))
        now = timezone.now()
        # Tombstones of contacts merged into this one carry their old names.
        merged = list(Contact.objects.filter(merged_into=contact))
        contact_ids = [contact.pk, *(c.pk for c in merged)]
        identities = list(Identity.objects.filter(contact_id__in=contact_ids))
        secrets_ = _identifiers(contact, merged, identities)
        # Only addresses find the customer's data outside their thread: a name (or "Sam") is no one's own.
        addresses_ = _identifiers(Contact(name=""), [], identities)
        visitors = [i.address for i in identities if i.kind == VISITOR]
        thread = Conversation.objects.select_for_update().filter(contact=contact).first()
        counts: dict[str, int] = {"identities": len(identities)}
        provider: list[dict[str, str]] = []

        Identity.objects.filter(pk__in=[i.pk for i in identities]).delete()
        Contact.objects.filter(pk__in=contact_ids).update(name="", attributes={}, updated_at=now)
        # The threads of contacts merged into this one live on (empty) for undoing the merge; they go too.
        threads = list(Conversation.objects.select_for_update().filter(contact_id__in=contact_ids))
        for each in threads:
            for key, value in _thread_erase(each, secrets_, files, provider).items():
                counts[key] = counts.get(key, 0) + value
        Conversation.objects.filter(pk__in=[t.pk for t in threads]).update(last_preview="")
        if thread is not None:
            # Agents with the thread open redraw it from what is left; the list row loses the name.
            realtime.event_record(type="contact.erased", conversation=thread)
        counts["touchpoints"] = Touchpoint.objects.filter(contact_id__in=contact_ids).update(payload={})
        StageChange.objects.filter(contact_id__in=contact_ids).update(reason="")
        ContactOwner.objects.filter(contact_id__in=contact_ids).update(reason="")
        # A lead score profiles the person (what they viewed, where they came from): it goes, not kept.
        counts["lead_signals"] = LeadSignal.objects.filter(contact_id__in=contact_ids).delete()[0]
        LeadScore.objects.filter(contact_id__in=contact_ids).delete()
        counts["inbound_events"] = counts.get("inbound_events", 0) + _inbound_unlinked_erase(
            addresses_, files
        )
        thread_ids = [t.pk for t in threads]
        counts["outbox_events"] = _outbox_erase(contact_ids, thread_ids)
        counts["exports"] = _exports_erase(contact_ids, thread_ids, files)

        erasure = ContactErasure.objects.create(
            contact=contact,
            erased_at=now,
            erased_by=by,
            reason=_scrub(reason, secrets_)[:REASON_MAX],
            counts=counts,
            provider_pending=provider,
            provider_done_at=None if provider else now,
        )
        if provider:
            enqueue_on_commit(tasks.delete_provider_copies, erasure.pk)
        audit_record(
            actor=by,
            action=AuditLog.ERASE,
            description=f"{_name(by)} erased customer {contact.pk}",
            conversation=thread,
            data={"contact": contact.pk, "erasure": erasure.pk, "counts": counts},
        )
        event_publish(
            type="contact.erased",
            conversation_id=thread.pk if thread is not None else None,
            contact_id=contact.pk,
            payload={"by": by.pk if by is not None else None},
            thread_locked=thread is not None,
        )
        transaction.on_commit(lambda: _after_erase(files, addresses_, visitors, thread))
    logger.info("Contact %s erased by %s: %s", contact.pk, by.pk if by is not None else "retention", counts)
    return ErasureResult(contact.pk, False, now, counts)


def _identifiers(contact: Contact, merged: list[Contact], identities: list[Identity]) -> list[str]:
    """The strings that name this customer, in the forms they take on the wire."""
    found: set[str] = set()
    for person in [contact, *merged]:
        if len(person.name.strip()) >= 3:
            found.add(person.name.strip())
    for identity in identities:
        for text in (identity.address, identity.raw_address):
            if len(text.strip()) >= 3:
                found.add(text.strip())
        if identity.kind == PHONE:
            digits = re.sub(r"\D", "", identity.address)
            if len(digits) >= 7:
                found.add(digits)
    return sorted(found, key=len, reverse=True)


def _scrub(text: str, secrets_: Iterable[str]) -> str:
    for secret in secrets_:
        text = re.sub(re.escape(secret), "[erased]", text, flags=re.IGNORECASE)
    return text


def _thread_erase(
    thread: Conversation, secrets_: list[str], files: list[str], provider: list[dict[str, str]]
) -> dict[str, int]:
    entries = Entry.objects.filter(Q(conversation=thread) | Q(origin_conversation=thread))
    entry_ids = list(entries.values_list("pk", flat=True))
    counts = {"entries": len(entry_ids)}
    # The search index is an expression over subject and body: emptied with them.
    for entry in Entry.objects.filter(pk__in=entry_ids).select_related("inbox"):
        provider.extend(_provider_copies(entry))
        kept = {key: value for key, value in (entry.data or {}).items() if key in ENTRY_DATA_KEPT}
        Entry.objects.filter(pk=entry.pk).update(
            body="",
            subject="",
            data=kept,
            from_address="" if _names_customer(entry.from_address, secrets_) else entry.from_address,
            to_address="" if _names_customer(entry.to_address, secrets_) else entry.to_address,
            status_reason="",
        )
    attachments = list(Attachment.objects.filter(entry_id__in=entry_ids))
    files.extend(str(a.file.name) for a in attachments if a.file)
    counts["files"] = len([a for a in attachments if a.file])
    EmailMessage.objects.filter(entry_id__in=entry_ids).update(
        raw_attachment=None,
        message_id="",
        in_reply_to="",
        references=[],
        from_header="",
        to=[],
        cc=[],
        html="",
    )
    Attachment.objects.filter(pk__in=[a.pk for a in attachments]).delete()
    inbound = InboundEvent.objects.filter(entry_id__in=entry_ids)
    counts["inbound_events"] = _inbound_empty(inbound, files)
    # An agent's own frames (a mention's notification quotes the note) name the thread only in their payload.
    counts["realtime_events"] = RealtimeEvent.objects.filter(
        Q(conversation=thread)
        | Q(entry_id__in=entry_ids)
        | Q(agent__isnull=False, payload__conversation=thread.pk)
    ).delete()[0]
    Notification.objects.filter(conversation=thread).delete()
    ScheduledFollowUp.objects.filter(conversation=thread).update(body="", reason="")
    SatisfactionSurvey.objects.filter(conversation=thread).update(reason="")
    # An erased customer is sent nothing more: they leave every sequence; the counts stay for the reports.
    enrollments = Enrollment.objects.filter(contact_id=thread.contact_id)
    enrollments.filter(state=Enrollment.ACTIVE).update(
        state=Enrollment.EXITED, exit_reason="erased", next_run_at=None, finished_at=timezone.now()
    )
    enrollments.update(exit_detail="")
    StepRun.objects.filter(enrollment__contact_id=thread.contact_id).update(detail="")
    return counts


def _provider_copies(entry: Entry) -> list[dict[str, str]]:
    """The copies Twilio keeps of an entry: the message or call, and a call's recording."""
    from channels_adapters.accounts import twilio_account_for_inbox

    if entry.provider != "twilio":
        return []
    account = twilio_account_for_inbox(entry.inbox)
    if account.sandbox:
        return []
    found = []
    if entry.provider_id:
        kind = "call" if entry.provider_id.startswith("CA") else "message"
        found.append({"kind": kind, "sid": entry.provider_id, "account": account.account_id})
    recording = (entry.data or {}).get("recording_sid")
    if recording:
        found.append({"kind": "recording", "sid": str(recording), "account": account.account_id})
    return found


def _names_customer(address: str, secrets_: list[str]) -> bool:
    """The business side of an entry (our number, our address) is not the customer's: it stays."""
    lowered = address.lower()
    return bool(lowered) and any(secret.lower() in lowered for secret in secrets_)


def _inbound_empty(events: Any, files: list[str]) -> int:
    """Empty raw events but keep their rows: the idempotency key is the tombstone a late retry finds.
    Events not yet processed are closed, so no worker turns them into entries afterwards."""
    rows = list(events.only("pk", "raw_file", "state"))
    files.extend(str(row.raw_file.name) for row in rows if row.raw_file)
    InboundEvent.objects.filter(pk__in=[row.pk for row in rows]).update(
        payload={}, raw_file="", last_error=""
    )
    InboundEvent.objects.filter(pk__in=[row.pk for row in rows]).exclude(state=InboundEvent.DONE).update(
        state=InboundEvent.DONE, processed_at=timezone.now()
    )
    return len(rows)


def _inbound_unlinked_erase(secrets_: list[str], files: list[str]) -> int:
    """Raw events that name the customer but made no entry (status callbacks, pending, failed)."""
    if not secrets_:
        return 0
    condition = Q()
    for secret in secrets_:
        condition |= Q(raw_text__icontains=secret)
    # Events that made another customer's entry stay theirs, even if they name this one (a Cc).
    events = (
        InboundEvent.objects.filter(entry__isnull=True)
        .annotate(raw_text=Cast("payload", TextField()))
        .filter(condition)
    )
    return _inbound_empty(events.exclude(payload={}), files)


def _outbox_erase(contact_ids: list[int], thread_ids: list[int]) -> int:
    """The customer's earlier events keep their ids and order, not their payloads; webhook logs go."""
    condition = Q(contact_id__in=contact_ids) | Q(conversation_id__in=thread_ids)
    events = DomainEvent.objects.filter(condition)
    WebhookAttempt.objects.filter(delivery__event__in=events).delete()
    return events.update(payload={})


def _exports_erase(contact_ids: list[int], thread_ids: list[int], files: list[str]) -> int:
    """Exports of this customer (their own, and printable exports of their thread) are copies too."""
    mine = list(ContactExport.objects.filter(contact_id__in=contact_ids))
    files.extend(str(job.file.name) for job in mine if job.file)
    count = ContactExport.objects.filter(pk__in=[job.pk for job in mine]).delete()[0]
    jobs = list(ExportJob.objects.filter(conversation_id__in=thread_ids))
    files.extend(str(job.file.name) for job in jobs if job.file)
    count += ExportJob.objects.filter(pk__in=[job.pk for job in jobs]).delete()[0]
    return count


def _after_erase(
    files: list[str], secrets_: list[str], visitors: list[str], thread: Conversation | None
) -> None:
    for name in files:
        try:
            default_storage.delete(name)
        except OSError:
            logger.exception("Could not delete the erased file %s", name)
    for visitor in visitors:
        _delete_tree(f"webchat/{visitor}")
    _sandbox_erase(secrets_)
    _redis_erase(visitors, thread)


def _delete_tree(path: str) -> None:
    try:
        folders, names = default_storage.listdir(path)
    except (FileNotFoundError, NotImplementedError, OSError):
        return
    for name in names:
        default_storage.delete(f"{path}/{name}")
    for folder in folders:
        _delete_tree(f"{path}/{folder}")


def _sandbox_erase(secrets_: list[str]) -> int:
    """The outbound sandbox's lines that name the customer are rewritten away."""
    import fcntl
    from pathlib import Path

    path = Path(settings.SANDBOX_DIR) / "outbound.jsonl"
    if not secrets_ or not path.exists():
        return 0
    lowered = [secret.lower() for secret in secrets_]
    with path.open("r+", encoding="utf-8") as handle:
        fcntl.flock(handle, fcntl.LOCK_EX)
        lines = handle.readlines()
        kept = [line for line in lines if not any(secret in line.lower() for secret in lowered)]
        handle.seek(0)
        handle.writelines(kept)
        handle.truncate()
    return len(lines) - len(kept)


def _redis_erase(visitors: list[str], thread: Conversation | None) -> None:
    from django.core.cache import cache

    keys = [
        f"webchat:{kind}:{visitor}"
        for visitor in visitors
        for kind in ("present", "pages", "page-every", "last-page")
    ]
    if keys:
        cache.delete_many(keys)
    url = getattr(settings, "REDIS_URL", "")
    if thread is not None and url:
        try:
            import redis

            redis.Redis.from_url(url, socket_timeout=5).delete(f"hub:presence:conversation:{thread.pk}")
        except Exception:
            logger.exception("Could not clear the presence of erased thread %s", thread.pk)


# --- redact one entry -----------------------------------------------------------------------------------
@dataclass(frozen=True)
class RedactionResult:
    entry: Entry
    already: bool


def entry_redact(*, entry: Entry, by: User) -> RedactionResult:
    """An agent removes what one message, note or call said (a card number): its text becomes "redacted by
    <agent>", and its copies follow: the search index (an expression over the text), the raw inbound payload and
    stored MIME, its attachments, the email's HTML, the domain events that carried its text and the receivers'
    answers to them, the sandbox's record. Who may see the thread may redact (the caller checks that); a second
    redaction changes nothing and says so. Files are deleted after the commit."""
    from conversations.services import entry_touch

    files: list[str] = []
    with transaction.atomic():
        thread = Conversation.objects.select_for_update().get(pk=entry.conversation_id)
        locked = Entry.objects.select_for_update().get(pk=entry.pk)
        if locked.kind == Entry.EVENT:
            raise ValidationError(
                "Only a message, a note or a call can be redacted; this is the hub's own record."
            )
        if (locked.data or {}).get("redacted"):
            return RedactionResult(locked, True)
        now = timezone.now()
        old_preview = " ".join(locked.body.split())[:60]
        text = f"redacted by {_name(by)}"
        locked.body, locked.subject = text, ""
        kept = {key: value for key, value in (locked.data or {}).items() if key in ENTRY_DATA_KEPT}
        locked.data = {**kept, "redacted": {"by": by.pk, "at": now.isoformat()}}
        attachments = list(Attachment.objects.filter(entry=locked))
        files.extend(str(a.file.name) for a in attachments if a.file)
        EmailMessage.objects.filter(entry=locked).update(html="", raw_attachment=None)
        Attachment.objects.filter(pk__in=[a.pk for a in attachments]).delete()
        raw = _inbound_empty(InboundEvent.objects.filter(entry=locked), files)
        # Earlier frames of this entry (the page redraws it from the row), an agent's notification of it (a
        # mention quotes the note), and the outbox's copies of its text.
        RealtimeEvent.objects.filter(entry=locked).update(payload={})
        for frame in RealtimeEvent.objects.filter(payload__entry=locked.pk, payload__has_key="text"):
            RealtimeEvent.objects.filter(pk=frame.pk).update(payload={**frame.payload, "text": text})
        events = DomainEvent.objects.filter(conversation_id=thread.pk, payload__entry=locked.pk)
        WebhookAttempt.objects.filter(delivery__event__in=events).delete()
        for event in events.filter(payload__has_key="body"):
            DomainEvent.objects.filter(pk=event.pk).update(payload={**event.payload, "body": text})
        if old_preview and old_preview in thread.last_preview:
            prefix = "Note: " if locked.kind == Entry.NOTE else ""
            Conversation.objects.filter(pk=thread.pk).update(last_preview=prefix + text)
        entry_touch(entry=locked, fields=["body", "subject", "data"])
        counts = {"files": len([a for a in attachments if a.file]), "raw_payloads": raw}
        audit_record(
            actor=by,
            action=AuditLog.REDACT,
            description=f"{_name(by)} redacted entry {locked.pk} of conversation {thread.pk}",
            conversation=thread,
            data={"entry": locked.pk, "counts": counts},
        )
        event_publish(
            type="entry.redacted",
            conversation_id=thread.pk,
            contact_id=thread.contact_id,
            payload={"entry": locked.pk, "kind": locked.kind, "by": by.pk},
            thread_locked=True,
        )
        reference = str(locked.pk) if locked.direction == Entry.OUTBOUND else ""
        transaction.on_commit(partial(_after_redact, files, reference))
    logger.info("Entry %s redacted by %s", locked.pk, by.pk)
    return RedactionResult(locked, False)


def _after_redact(files: list[str], reference: str) -> None:
    _after_erase(files, [], [], None)
    if reference:
        _sandbox_drop(reference)


def _sandbox_drop(reference: str) -> int:
    """The outbound sandbox's record of one entry (`reference` is the entry's id) is rewritten away."""
    import fcntl
    from pathlib import Path

    path = Path(settings.SANDBOX_DIR) / "outbound.jsonl"
    if not path.exists():
        return 0
    with path.open("r+", encoding="utf-8") as handle:
        fcntl.flock(handle, fcntl.LOCK_EX)
        lines = handle.readlines()
        kept = []
        for line in lines:
            try:
                mine = json.loads(line).get("reference") == reference
            except ValueError:
                mine = False
            if not mine:
                kept.append(line)
        handle.seek(0)
        handle.writelines(kept)
        handle.truncate()
    return len(lines) - len(kept)


# --- the provider's copies ------------------------------------------------------------------------
# Twilio refuses to delete a message still on its way (queued, sending): asked again later.
RETRY_LATER_CODES = {20009}


def erasure_provider_delete(*, erasure_id: int) -> bool:
    """Ask Twilio to delete its copies of an erased customer's messages, calls and recordings.

    True when nothing is left to ask (each copy deleted, already gone, or refused and reported); False when
    some must be asked again later (a message still queued, Twilio unreachable). A message whose deletion
    is refused has its body redacted instead. Once done, the entries lose their provider ids."""
    from twilio.base.exceptions import TwilioRestException

    from channels_adapters.accounts import twilio_account_by_sid
    from channels_adapters.sms.twilio_client import twilio_client

    erasure = ContactErasure.objects.filter(pk=erasure_id).first()
    if erasure is None or not erasure.provider_pending:
        return True
    pending: list[dict[str, str]] = []
    failed: list[dict[str, str]] = list(erasure.provider_failed)
    for item in erasure.provider_pending:
        account = twilio_account_by_sid(item.get("account", ""))
        if account is None:
            failed.append({**item, "error": "The Twilio account is no longer configured"})
            continue
        client = twilio_client(account)
        resource: Any = {"message": client.messages, "call": client.calls, "recording": client.recordings}[
            item["kind"]
        ](item["sid"])
        try:
            resource.delete()
        except TwilioRestException as error:
            if error.status == 404:
                continue  # gone already
            if error.code in RETRY_LATER_CODES or error.status >= 500 or error.status == 429:
                pending.append(item)
                continue
            failed.append({**item, "error": f"{error.status} {error.code}: {str(error.msg)[:200]}"})
            if item["kind"] == "message":
                try:
                    resource.update(body="")
                    failed[-1]["redacted"] = "yes"
                except TwilioRestException:
                    pass
        except Exception as error:
            logger.warning("Twilio unreachable deleting %s: %s", item["sid"], error.__class__.__name__)
            pending.append(item)
    with transaction.atomic():
        erasure = ContactErasure.objects.select_for_update().get(pk=erasure_id)
        erasure.provider_pending, erasure.provider_failed = pending, failed
        if not pending:
            erasure.provider_done_at = timezone.now()
            thread = Conversation.objects.filter(contact_id=erasure.contact_id).first()
            if thread is not None:
                entries = Entry.objects.filter(Q(conversation=thread) | Q(origin_conversation=thread))
                entries.exclude(provider_id="").update(provider_id="")
                for entry in entries.filter(data__has_key="recording_sid"):
                    entry.data = {k: v for k, v in entry.data.items() if not k.endswith("_sid")}
                    entry.save(update_fields=["data"])
        erasure.save(update_fields=["provider_pending", "provider_failed", "provider_done_at"])
    if failed:
        logger.warning("Twilio kept %s copies of erased contact %s", len(failed), erasure.contact_id)
    return not pending


# --- retention ------------------------------------------------------------------------------------
RETENTION_BATCH = 500


def retention_policy_set(*, kind: str, days: int, enabled: bool = True, by: User) -> RetentionPolicy:
    """Set how long one kind of data is kept (admins); audited with the old and new values."""
    from conversations.selectors import agent_is_admin

    if not agent_is_admin(by):
        raise PermissionDenied("Only admins set the retention policies.")
    if kind not in dict(RetentionPolicy.KIND_CHOICES):
        raise ValidationError(f"No such kind of data: {kind!r}.")
    if not isinstance(days, int) or days < 1:
        raise ValidationError("Keep data at least 1 day: a policy of 0 days would delete it as it arrives.")
    with transaction.atomic():
        policy = RetentionPolicy.objects.select_for_update().filter(kind=kind).first()
        before = {"days": policy.days, "enabled": policy.enabled} if policy is not None else None
        policy, _ = RetentionPolicy.objects.update_or_create(
            kind=kind, defaults={"days": days, "enabled": enabled, "updated_by": by}
        )
        audit_record(
            actor=by,
            action=AuditLog.RETENTION,
            description=f"{_name(by)} set the retention of {kind} to {days} days"
            + ("" if enabled else " (disabled)"),
            data={"kind": kind, "before": before, "after": {"days": days, "enabled": enabled}},
        )
    return policy


def retention_run(*, dry_run: bool, now: datetime | None = None) -> dict[str, int]:
    """Apply every enabled policy: what each removes (or would, with `dry_run`). A real run is audited."""
    from datetime import timedelta

    now = now or timezone.now()
    counts: dict[str, int] = {}
    for policy in RetentionPolicy.objects.filter(enabled=True, days__gte=1):
        cutoff = now - timedelta(days=policy.days)
        if policy.kind == RetentionPolicy.RAW_PAYLOADS:
            events = InboundEvent.objects.filter(received_at__lt=cutoff, state=InboundEvent.DONE).exclude(
                payload={}, raw_file=""
            )
            counts[policy.kind] = events.count()
            if not dry_run:
                files: list[str] = []
                _inbound_empty(events[: RETENTION_BATCH * 20], files)
                transaction.on_commit(partial(_after_erase, files, [], [], None))
        elif policy.kind == RetentionPolicy.ATTACHMENTS:
            attachments = Attachment.objects.filter(created_at__lt=cutoff).exclude(file="")
            counts[policy.kind] = attachments.count()
            if not dry_run:
                names = [str(name) for name in attachments.values_list("file", flat=True)]
                attachments.update(file="", state=Attachment.FAILED, error="Removed by the retention policy")
                transaction.on_commit(partial(_after_erase, names, [], [], None))
        elif policy.kind == RetentionPolicy.INACTIVE_THREADS:
            stale = Contact.objects.filter(
                conversation__last_activity_at__lt=cutoff, erasure__isnull=True, merged_into__isnull=True
            )
            counts[policy.kind] = stale.count()
            if not dry_run:
                for contact in stale[:RETENTION_BATCH]:
                    _contact_erase(
                        contact=contact, by=None, reason=f"Retention: inactive for {policy.days} days"
                    )
    if not dry_run and any(counts.values()):
        audit_record(
            actor=None,
            action=AuditLog.RETENTION,
            description="Retention removed "
            + ", ".join(f"{count} {kind.replace('_', ' ')}" for kind, count in counts.items() if count),
            data={"counts": counts},
        )
    return counts


# --- export -----------------------------------------------------------------------------------------
def contact_export_create(*, contact: Contact, by: User) -> ContactExport:
    """A background export of everything held about `contact`, run after commit."""
    from privacy import tasks

    if not agent_sees_everything(by):
        raise PermissionDenied("Only managers and admins export a customer's data.")
    if ContactErasure.objects.filter(contact=contact).exists():
        raise ValidationError("This customer was erased: there is nothing of theirs left to export.")
    with transaction.atomic():
        job = ContactExport.objects.create(created_by=by, contact=contact)
        enqueue_on_commit(tasks.run_contact_export, job.pk)
    return job


def contact_export_run(*, job_id: int) -> ContactExport | None:
    """Build the zip in storage, counting progress; the job is claimed first (SKIP LOCKED)."""
    from django.core.files.base import ContentFile

    from privacy.selectors import contact_export_zip

    with transaction.atomic():
        job = (
            ContactExport.objects.select_for_update(skip_locked=True, of=("self",))
            .select_related("created_by", "contact")
            .filter(pk=job_id, state=ContactExport.QUEUED)
            .first()
        )
        if job is None:
            return None
        job.state = ContactExport.RUNNING
        job.save(update_fields=["state"])
    try:
        if job.contact is None:
            raise ValueError("the customer is gone")

        def progress(done: int, total: int) -> None:
            ContactExport.objects.filter(pk=job_id).update(done=done, total=total)

        data = contact_export_zip(contact=job.contact, progress=progress)
        with transaction.atomic():
            # An erasure that ran while the zip was built wins: it deleted this job, and no file is written.
            # One that comes after waits for this lock, then deletes the job with its file.
            Contact.objects.select_for_update().filter(pk=job.contact.pk).first()
            if (
                not ContactExport.objects.filter(pk=job_id).exists()
                or ContactErasure.objects.filter(contact_id=job.contact.pk).exists()
            ):
                logger.info("Customer export %s dropped: the customer was erased meanwhile", job_id)
                return None
            job.file.save(f"customer-{job.contact.pk}-export-{job.pk}.zip", ContentFile(data), save=False)
            job.state, job.finished_at = ContactExport.DONE, timezone.now()
            ContactExport.objects.filter(pk=job_id).update(
                state=job.state, finished_at=job.finished_at, file=job.file.name
            )
        audit_record(
            actor=job.created_by,
            action=AuditLog.EXPORT,
            description=f"{_name(job.created_by)} exported the data of customer {job.contact.pk}",
            conversation=Conversation.objects.filter(contact=job.contact).first(),
            data={"contact": job.contact.pk, "contact_export": job.pk},
        )
    except Exception as error:
        logger.exception("Customer export %s failed", job_id)
        ContactExport.objects.filter(pk=job_id).update(
            state=ContactExport.FAILED,
            error=f"The export failed: {error.__class__.__name__}",
            finished_at=timezone.now(),
        )
    job.refresh_from_db()
    return job


def _name(user: User | None) -> str:
    if user is None:
        return "The hub"
    return str(user.get_full_name() or user.get_username())


def json_bytes(value: Any) -> bytes:
    return json.dumps(value, ensure_ascii=False, indent=2, default=str).encode()


ProgressFn = Callable[[int, int], None]

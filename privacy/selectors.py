"""What the hub holds about one customer, as the zip a data access request is answered with.

The zip's layout and every file's fields are described in docs/privacy.md and in README.txt inside it.
"""

from __future__ import annotations

import io
import json
import zipfile
from collections.abc import Callable
from typing import Any

from django.db.models import Q

from channels_adapters.models import EmailMessage
from contacts.models import Contact, Identity
from conversations.models import Attachment, Conversation, Entry, Episode
from lifecycle.models import ContactStage, StageChange, Touchpoint
from lifecycle.scores import lead_score_explain
from reports.models import SatisfactionResponse

FORMAT_VERSION = 1
README = """Everything this hub holds about one customer.

contact.json       the customer: id, name, attributes, labels, created_at
identities.json    their addresses: kind (phone, email, visitor, external), address as normalized and as
                   received, verified, opted_out_at, created_at, last_seen_at
entries.json       every item of their thread, oldest first: id, kind (message, note, call, event), channel,
                   direction (inbound, outbound, internal), created_at, subject, body, author, event_type,
                   delivery_status, from_address, to_address, data (channel details), email (headers and
                   sanitized HTML of an email), attachments (file names inside files/)
episodes.json      each stretch of work: opened_at, first_inbound_at, first_response_at, resolved_at
stages.json        current lifecycle stage and every move between stages (from, to, at, left_at, reason)
touchpoints.json   events posted about them by other systems: type, occurred_at, payload
lead_score.json    the lead score now and its reasons: score, reasons (points, why); null with no signal
ratings.json       their satisfaction answers: episode, rating (1 to 5), channel, answered_at
files/             the attachments, recordings, transcripts and chat uploads, named <entry>-<position>-<name>
"""


def contact_export_zip(*, contact: Contact, progress: Callable[[int, int], None] | None = None) -> bytes:
    thread = Conversation.objects.filter(contact=contact).first()
    entries = (
        list(
            Entry.objects.filter(Q(conversation=thread) | Q(origin_conversation=thread))
            .select_related("author")
            .order_by("created_at", "id")
        )
        if thread is not None
        else []
    )
    attachments: dict[int, list[Attachment]] = {}
    for attachment in Attachment.objects.filter(entry__in=entries).order_by("entry_id", "position"):
        attachments.setdefault(attachment.entry_id, []).append(attachment)
    emails = {email.entry_id: email for email in EmailMessage.objects.filter(entry__in=entries)}
    total = len(entries) + sum(len(items) for items in attachments.values())
    done = 0
    buffer = io.BytesIO()
    with zipfile.ZipFile(buffer, "w", zipfile.ZIP_DEFLATED) as archive:
        archive.writestr("README.txt", README)
        archive.writestr("contact.json", _json(_contact(contact)))
        archive.writestr(
            "identities.json",
            _json(
                [_identity(identity) for identity in Identity.objects.filter(contact=contact).order_by("id")]
            ),
        )
        rows = []
        for entry in entries:
            row = _entry(entry, emails.get(entry.pk))
            files = []
            for attachment in attachments.get(entry.pk, []):
                if attachment.file:
                    name = f"files/{entry.pk}-{attachment.position}-{_safe(attachment.filename or 'file')}"
                    with attachment.file.open("rb") as handle:
                        archive.writestr(name, handle.read())
                    files.append(
                        {"file": name, "content_type": attachment.content_type, "size": attachment.size}
                    )
                done += 1
            row["attachments"] = files
            rows.append(row)
            done += 1
            if progress is not None and (done % 50 == 0 or done == total):
                progress(done, total)
        archive.writestr("entries.json", _json(rows))
        episodes = Episode.objects.filter(conversation=thread).order_by("opened_at") if thread else []
        archive.writestr(
            "episodes.json",
            _json(
                [
                    {
                        "id": e.pk,
                        "opened_at": e.opened_at,
                        "first_inbound_at": e.first_inbound_at,
                        "first_response_at": e.first_response_at,
                        "resolved_at": e.resolved_at,
                    }
                    for e in episodes
                ]
            ),
        )
        archive.writestr("stages.json", _json(_stages(contact)))
        archive.writestr(
            "touchpoints.json",
            _json(
                [
                    {"type": t.type, "occurred_at": t.occurred_at, "payload": t.payload}
                    for t in Touchpoint.objects.filter(contact=contact).order_by("occurred_at")
                ]
            ),
        )
        explained = lead_score_explain(contact_id=contact.pk)
        archive.writestr(
            "lead_score.json",
            _json(
                None
                if explained is None
                else {
                    "score": explained.score,
                    "reasons": [{"points": r.points, "why": r.text} for r in explained.reasons],
                }
            ),
        )
        archive.writestr(
            "ratings.json",
            _json(
                [
                    {
                        "episode": r.episode_id,
                        "rating": r.rating,
                        "channel": r.channel,
                        "answered_at": r.answered_at,
                    }
                    for r in SatisfactionResponse.objects.filter(episode__conversation=thread).order_by(
                        "answered_at"
                    )
                ]
                if thread
                else []
            ),
        )
    if progress is not None:
        progress(total, total)
    return buffer.getvalue()


def _json(value: Any) -> str:
    return json.dumps(
        {"format": FORMAT_VERSION, "items": value} if isinstance(value, list) else value,
        ensure_ascii=False,
        indent=2,
        default=str,
    )


def _safe(name: str) -> str:
    return "".join(c if c.isalnum() or c in "._-" else "_" for c in name)[:100]


def _contact(contact: Contact) -> dict[str, Any]:
    return {
        "format": FORMAT_VERSION,
        "id": contact.pk,
        "name": contact.name,
        "attributes": contact.attributes,
        "labels": sorted(label.name for label in contact.labels.all()),
        "created_at": contact.created_at,
    }


def _identity(identity: Identity) -> dict[str, Any]:
    return {
        "kind": identity.kind,
        "address": identity.address,
        "raw_address": identity.raw_address,
        "verified": identity.verified,
        "opted_out_at": identity.opted_out_at,
        "created_at": identity.created_at,
        "last_seen_at": identity.last_seen_at,
    }


def _entry(entry: Entry, email: EmailMessage | None) -> dict[str, Any]:
    return {
        "id": entry.pk,
        "kind": entry.kind,
        "channel": entry.channel,
        "direction": entry.direction,
        "created_at": entry.created_at,
        "subject": entry.subject,
        "body": entry.body,
        "author": entry.author_name,
        "event_type": entry.event_type,
        "delivery_status": entry.delivery_status,
        "from_address": entry.from_address,
        "to_address": entry.to_address,
        "data": entry.data,
        "email": {
            "message_id": email.message_id,
            "from": email.from_header,
            "to": email.to,
            "cc": email.cc,
            "html": email.html,
        }
        if email is not None
        else None,
    }


def _stages(contact: Contact) -> dict[str, Any]:
    current = ContactStage.objects.filter(contact=contact).select_related("stage").first()
    return {
        "format": FORMAT_VERSION,
        "current": current.stage.name if current is not None and current.stage is not None else None,
        "first_contact_at": current.first_contact_at if current is not None else None,
        "first_channel": current.first_channel if current is not None else None,
        "changes": [
            {
                "from": change.from_stage.name if change.from_stage else None,
                "to": change.to_stage.name if change.to_stage else None,
                "at": change.at,
                "left_at": change.left_at,
                "reason": change.reason,
            }
            for change in StageChange.objects.filter(contact=contact)
            .select_related("from_stage", "to_stage")
            .order_by("at", "id")
        ],
    }

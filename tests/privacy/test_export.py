"""Exporting a customer: one zip of documented JSON plus their files, built in the background, audited."""

from __future__ import annotations

import io
import json
import zipfile
from typing import Any

import pytest
from django.core.files.base import ContentFile
from rest_framework.test import APIClient

from conversations.models import Attachment, Conversation
from conversations.services import note_add
from privacy.models import ContactExport
from privacy.selectors import README
from reports.models import AuditLog

PNG = b"\x89PNG\r\n\x1a\n" + b"\x00" * 32


def _client(user: Any) -> APIClient:
    client = APIClient()
    client.force_login(user)
    return client


@pytest.mark.django_db
def test_the_export_zip_holds_the_documented_json_and_the_files(
    sms_thread: Conversation, manager_maria: Any, agent_alice: Any, django_capture_on_commit_callbacks: Any
) -> None:
    entry = sms_thread.entries.get(kind="message")
    attachment = Attachment.objects.create(
        entry=entry, state="stored", content_type="image/png", filename="shoe photo.png", size=len(PNG)
    )
    attachment.file.save("shoe.png", ContentFile(PNG))
    note_add(conversation=sms_thread, author=agent_alice, body="Prefers texts after 5pm")
    client = _client(manager_maria)

    with django_capture_on_commit_callbacks(execute=True):
        started = client.post(f"/api/v1/contacts/{sms_thread.contact_id}/exports/")

    assert started.status_code == 202, started.content
    status = client.get(f"/api/v1/contact-exports/{started.json()['id']}/").json()
    assert (status["state"], status["percent"]) == ("done", 100)
    download = client.get(status["download"])
    assert download.status_code == 200
    assert download["Content-Type"] == "application/zip"
    archive = zipfile.ZipFile(io.BytesIO(b"".join(download.streaming_content)))  # type: ignore[attr-defined]
    names = set(archive.namelist())
    documented = {
        "README.txt",
        "contact.json",
        "identities.json",
        "entries.json",
        "episodes.json",
        "stages.json",
        "touchpoints.json",
        "ratings.json",
    }
    assert documented <= names
    for name in documented - {"README.txt"}:
        assert name in README
    identities = json.loads(archive.read("identities.json"))["items"]
    assert [i["address"] for i in identities] == ["+14155550142"]
    entries = json.loads(archive.read("entries.json"))["items"]
    bodies = [e["body"] for e in entries]
    assert "Hi, is the blue trail runner back in size 9?" in bodies
    assert "Prefers texts after 5pm" in bodies
    (photo,) = [a for e in entries for a in e["attachments"]]
    assert archive.read(photo["file"]) == PNG
    assert json.loads(archive.read("episodes.json"))["items"]
    audit = AuditLog.objects.get(action=AuditLog.EXPORT)
    assert audit.actor == manager_maria
    assert audit.data["contact"] == sms_thread.contact_id


@pytest.mark.django_db
def test_an_agent_may_not_export_a_customer(sms_thread: Conversation, agent_alice: Any) -> None:
    response = _client(agent_alice).post(f"/api/v1/contacts/{sms_thread.contact_id}/exports/")
    assert response.status_code == 403
    assert not ContactExport.objects.exists()


@pytest.mark.django_db
def test_erasing_deletes_the_exports_of_the_customer(
    sms_thread: Conversation, manager_maria: Any, django_capture_on_commit_callbacks: Any
) -> None:
    client = _client(manager_maria)
    with django_capture_on_commit_callbacks(execute=True):
        client.post(f"/api/v1/contacts/{sms_thread.contact_id}/exports/")
    job = ContactExport.objects.get()
    storage, name = job.file.storage, job.file.name
    assert storage.exists(name)

    with django_capture_on_commit_callbacks(execute=True):
        client.post(f"/api/v1/contacts/{sms_thread.contact_id}/erase/", {"reason": "asked"}, format="json")

    assert not ContactExport.objects.exists()
    assert not storage.exists(name)
    refused = client.post(f"/api/v1/contacts/{sms_thread.contact_id}/exports/")
    assert refused.status_code == 400

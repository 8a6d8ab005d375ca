"""History review: every lifetime thread for managers, the audit trail, printable and background exports."""

from __future__ import annotations

from typing import Any

import pytest
from django.test import Client

from conversations.models import Conversation, Entry
from conversations.services import conversation_assign, note_add
from reports.models import AuditLog, ExportJob
from tests import factories
from tests.conftest import sms_in


@pytest.fixture
def two_threads(inbox_support: Any, inbox_sales: Any, agent_alice: Any) -> tuple[Conversation, Conversation]:
    dana = sms_in(inbox_support, "Is the blue trail runner back?", phone="+14155550142").conversation
    erin = sms_in(inbox_sales, "Price for 40 pairs?", phone="+14155550143").conversation
    conversation_assign(conversation=dana, assignee=agent_alice, by=agent_alice)
    note_add(conversation=dana, author=agent_alice, body="Loyal customer")
    return dana, erin


@pytest.mark.django_db
def test_managers_browse_every_thread_and_filter_by_agent_and_channel(
    two_threads: Any, maria_client: Client, agent_alice: Any
) -> None:
    dana, erin = two_threads
    page = maria_client.get("/reports/history/").content.decode()
    assert f'data-conversation="{dana.pk}"' in page and f'data-conversation="{erin.pk}"' in page
    mine = maria_client.get(f"/reports/history/?agent={agent_alice.pk}").content.decode()
    assert f'data-conversation="{dana.pk}"' in mine and f'data-conversation="{erin.pk}"' not in mine
    email = maria_client.get("/reports/history/?channel=email").content.decode()
    assert "No conversations match." in email
    future = maria_client.get("/reports/history/?start=2030-01-01&end=2030-12-31").content.decode()
    assert "No conversations match." in future
    backwards = maria_client.get("/reports/history/?start=2026-03-31&end=2026-03-01")
    assert backwards.status_code == 400 and b"before it starts" in backwards.content


@pytest.mark.django_db
def test_managers_filter_the_history_by_lifecycle_stage(
    two_threads: Any, maria_client: Client, manager_maria: Any
) -> None:
    from lifecycle.models import Stage
    from lifecycle.services import stage_move

    dana, erin = two_threads  # both wrote a first message: both are leads
    stage_move(
        contact=dana.contact, stage=Stage.objects.get(key="customer"), by=manager_maria, reason="bought"
    )
    customers = maria_client.get("/reports/history/?stage=customer").content.decode()
    assert f'data-conversation="{dana.pk}"' in customers and f'data-conversation="{erin.pk}"' not in customers
    leads = maria_client.get("/reports/history/?stage=lead").content.decode()
    assert f'data-conversation="{erin.pk}"' in leads and f'data-conversation="{dana.pk}"' not in leads


@pytest.mark.django_db
def test_the_audit_trail_says_who_assigned_wrote_and_exported(
    two_threads: Any, maria_client: Client, manager_maria: Any
) -> None:
    dana, _ = two_threads
    printed = maria_client.get(f"/reports/history/{dana.pk}/print/")
    assert printed.status_code == 200
    document = printed.content.decode()
    assert "Is the blue trail runner back?" in document and "@media print" in document
    assert "Loyal customer" in document  # the whole context, notes included
    assert not AuditLog.objects.filter(action="export").exists()  # the thread's own event records it
    assert Entry.objects.filter(
        conversation=dana, event_type="conversation.exported", author=manager_maria
    ).exists()
    trail = maria_client.get(f"/reports/history/{dana.pk}/").content.decode()
    assert "conversation.assigned" in trail and "Alice took the conversation" in trail
    assert "Private note: Loyal customer" in trail
    assert trail.count("Maria exported the conversation") == 1
    everything = maria_client.get("/reports/audit/").content.decode()
    assert "Alice took the conversation" in everything
    assert 'data-action="conversation.exported"' in everything


@pytest.mark.django_db
def test_logins_are_in_the_audit_log(agent_alice: Any) -> None:
    client = Client()
    assert (
        client.post(
            "/accounts/login/", {"username": "agent_alice", "password": "correct horse battery staple"}
        ).status_code
        == 302
    )
    assert AuditLog.objects.filter(action="login", actor=agent_alice).exists()


@pytest.mark.django_db
def test_a_long_thread_exports_in_the_background_and_only_its_owner_downloads_it(
    two_threads: Any, maria_client: Client, settings: Any, django_capture_on_commit_callbacks: Any
) -> None:
    dana, _ = two_threads
    settings.EXPORT_INLINE_MAX_ENTRIES = 2
    offer = maria_client.get(f"/reports/history/{dana.pk}/print/")
    assert b"exported in the background" in offer.content
    with django_capture_on_commit_callbacks(execute=True):
        response = maria_client.post("/reports/exports/", {"conversation": dana.pk})
    job = ExportJob.objects.get()
    assert response.status_code == 302 and response["Location"] == f"/reports/exports/{job.pk}/"
    status = maria_client.get(f"/reports/exports/{job.pk}/status/").json()
    assert status["state"] == "done" and status["percent"] == 100
    assert status["done"] == status["total"] == Entry.objects.filter(conversation=dana).count() - 1
    download = maria_client.get(status["download"])
    assert download.status_code == 200
    assert b"Is the blue trail runner back?" in b"".join(download.streaming_content)
    other = Client()
    other.force_login(factories.agent("manager_mo", role="manager"))
    assert other.get(status["download"]).status_code == 404
    assert other.get(f"/reports/exports/{job.pk}/status/").status_code == 404


@pytest.mark.django_db
def test_many_threads_by_filter_export_as_one_job(
    two_threads: Any, maria_client: Client, django_capture_on_commit_callbacks: Any
) -> None:
    with django_capture_on_commit_callbacks(execute=True):
        maria_client.post("/reports/exports/", {"channel": "sms"})
    job = ExportJob.objects.get()
    assert job.state == "done"
    html = job.file.read().decode()
    assert "2 conversations" in html and "Price for 40 pairs?" in html
    dana, erin = two_threads
    log = AuditLog.objects.get(action="export")
    assert set(log.data["conversations"]) == {dana.pk, erin.pk} and log.conversation is None


@pytest.mark.django_db
def test_an_agent_asking_for_an_export_gets_403(two_threads: Any, alice_client: Client) -> None:
    dana, _ = two_threads
    assert alice_client.post("/reports/exports/", {"conversation": dana.pk}).status_code == 403
    assert alice_client.get(f"/reports/history/{dana.pk}/print/").status_code == 403
    assert not ExportJob.objects.exists() and not AuditLog.objects.filter(action="export").exists()


@pytest.mark.django_db
def test_the_reports_link_shows_for_managers_only(
    two_threads: Any, maria_client: Client, alice_client: Client
) -> None:
    assert b'href="/reports/"' in maria_client.get("/inbox/").content
    assert b'href="/reports/"' not in alice_client.get("/inbox/").content


@pytest.mark.django_db
def test_an_export_of_a_filter_that_finds_nothing_or_bad_dates_is_refused(
    two_threads: Any, maria_client: Client
) -> None:
    nothing = maria_client.post("/reports/exports/", {"channel": "email"})
    assert nothing.status_code == 400 and b"no conversations" in nothing.content
    backwards = maria_client.post("/reports/exports/", {"start": "2026-03-31", "end": "2026-03-01"})
    assert backwards.status_code == 400 and b"before it starts" in backwards.content
    assert not ExportJob.objects.exists()

"""Retention: policies per kind of data, a dry run that only counts, a run that removes and is audited."""

from __future__ import annotations

from datetime import timedelta
from io import StringIO
from typing import Any

import pytest
from django.core.files.base import ContentFile
from django.core.files.storage import default_storage
from django.core.management import call_command
from django.utils import timezone

from channels_adapters.models import InboundEvent
from config.errors import PermissionDenied, ValidationError
from contacts.models import Contact, Identity
from conversations.models import Attachment, Conversation
from privacy.models import ContactErasure
from privacy.services import retention_policy_set, retention_run
from reports.models import AuditLog

LATER = timezone.now() + timedelta(days=40)


@pytest.mark.django_db
def test_a_policy_of_0_days_is_refused_and_only_admins_set_one(admin_ada: Any, manager_maria: Any) -> None:
    with pytest.raises(ValidationError):
        retention_policy_set(kind="raw_payloads", days=0, by=admin_ada)
    with pytest.raises(PermissionDenied):
        retention_policy_set(kind="raw_payloads", days=30, by=manager_maria)
    retention_policy_set(kind="raw_payloads", days=30, by=admin_ada)
    retention_policy_set(kind="raw_payloads", days=60, by=admin_ada)
    changes = AuditLog.objects.filter(action=AuditLog.RETENTION).order_by("id")
    assert [row.data["after"]["days"] for row in changes] == [30, 60]
    assert changes.last().data["before"] == {"days": 30, "enabled": True}  # type: ignore[union-attr]
    assert changes.last().actor == admin_ada  # type: ignore[union-attr]


@pytest.mark.django_db
def test_a_dry_run_counts_and_a_run_removes_what_is_older(
    sms_thread: Conversation, admin_ada: Any, django_capture_on_commit_callbacks: Any
) -> None:
    entry = sms_thread.entries.get(kind="message")
    attachment = Attachment.objects.create(
        entry=entry, state="stored", content_type="image/png", filename="a.png"
    )
    attachment.file.save("a.png", ContentFile(b"\x89PNG"))
    name = attachment.file.name
    retention_policy_set(kind="raw_payloads", days=30, by=admin_ada)
    retention_policy_set(kind="attachments", days=30, by=admin_ada)

    assert retention_run(dry_run=True) == {"raw_payloads": 0, "attachments": 0}  # nothing is old yet
    assert retention_run(dry_run=True, now=LATER) == {"raw_payloads": 1, "attachments": 1}
    assert InboundEvent.objects.exclude(payload={}).count() == 1  # a dry run changes nothing

    with django_capture_on_commit_callbacks(execute=True):  # files go after the commit
        assert retention_run(dry_run=False, now=LATER) == {"raw_payloads": 1, "attachments": 1}

    raw = InboundEvent.objects.get()
    assert raw.payload == {} and raw.idempotency_key  # the key stays: a retry recreates nothing
    attachment.refresh_from_db()
    assert (attachment.file.name, attachment.state) == ("", "failed")
    assert not default_storage.exists(name)
    run = AuditLog.objects.filter(action=AuditLog.RETENTION, actor=None).get()
    assert run.data["counts"] == {"raw_payloads": 1, "attachments": 1}
    assert retention_run(dry_run=True, now=LATER) == {"raw_payloads": 0, "attachments": 0}


@pytest.mark.django_db
def test_inactive_customers_are_erased_and_the_command_dry_runs_first(
    sms_thread: Conversation, admin_ada: Any
) -> None:
    retention_policy_set(kind="inactive_threads", days=30, by=admin_ada)
    Conversation.objects.filter(pk=sms_thread.pk).update(last_activity_at=timezone.now() - timedelta(days=31))

    out = StringIO()
    call_command("retention", stdout=out)
    assert "Would remove 1 inactive_threads" in out.getvalue()
    assert Identity.objects.filter(contact=sms_thread.contact).exists()

    call_command("retention", "--apply", stdout=StringIO())
    assert not Identity.objects.filter(contact_id=sms_thread.contact_id).exists()
    erasure = ContactErasure.objects.get(contact_id=sms_thread.contact_id)
    assert erasure.erased_by is None and erasure.reason == "Retention: inactive for 30 days"
    assert Contact.objects.get(pk=sms_thread.contact_id).name == ""

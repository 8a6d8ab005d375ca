"""Erasing a customer who wrote by email: the raw MIME, its attachment, headers and HTML all go."""

from __future__ import annotations

from typing import Any

import pytest
from django.core.files.storage import default_storage

from channels_adapters.email.services import email_store
from channels_adapters.models import EmailMessage, InboundEvent
from conversations.models import Attachment, Inbox
from tests import factories
from tests.channels_adapters.email.conftest import SUPPORT_EMAIL, eml
from tests.privacy.test_erase import _erase, _found_in_database


@pytest.mark.django_db
def test_an_email_customer_leaves_no_mime_no_attachment_and_no_header(
    team_support: Any, manager_maria: Any, django_capture_on_commit_callbacks: Any
) -> None:
    factories.InboxFactory(name="Support email", kind=Inbox.EMAIL, address=SUPPORT_EMAIL, team=team_support)
    with django_capture_on_commit_callbacks(execute=True):
        event, _ = email_store(raw=eml("gmail"), source="test")
    event.refresh_from_db()
    entry = event.entry
    assert entry is not None and EmailMessage.objects.filter(entry=entry).exists()
    files = [a.file.name for a in Attachment.objects.filter(entry=entry) if a.file]
    files += [e.raw_file.name for e in InboundEvent.objects.exclude(raw_file="")]
    assert files and all(default_storage.exists(name) for name in files)
    secrets = ("sam.carter@gmail.example", "Sam Carter", "printed the label")
    assert {s for _, _, s in _found_in_database(secrets)} == set(secrets)

    with django_capture_on_commit_callbacks(execute=True):
        assert _erase(manager_maria, entry.conversation.contact_id).status_code == 200

    assert _found_in_database(secrets) == []
    assert not any(default_storage.exists(name) for name in files)
    assert InboundEvent.objects.get(pk=event.pk).idempotency_key == event.idempotency_key

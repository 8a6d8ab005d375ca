"""IMAP polling against a real Dovecot: every message once, nothing skipped, nothing deleted, UIDVALIDITY honoured."""

from __future__ import annotations

import time
from collections.abc import Iterator
from typing import Any

import pytest
from imap_tools import MailBoxUnencrypted

from channels_adapters.email.imap import mailboxes_poll
from channels_adapters.models import EmailMailbox, InboundEvent
from conversations.models import Entry
from tests.channels_adapters.email.conftest import eml
from tests.channels_adapters.email.dovecot import Dovecot, dovecot

FOLDER = "Support"


def message(n: int) -> bytes:
    return (
        f"From: Customer {n} <customer{n}@mail.example>\r\nTo: support@shoes.example\r\n"
        f"Subject: Question {n}\r\nMessage-ID: <imap-{n}@mail.example>\r\n\r\nQuestion number {n}\r\n"
    ).encode()


@pytest.fixture
def imap() -> Iterator[Dovecot]:
    with dovecot() as server:
        yield server


def append(server: Dovecot, *raws: bytes, folder: str = FOLDER) -> None:
    with MailBoxUnencrypted(server.host, server.port).login(server.username, server.password, None) as box:
        if not box.folder.exists(folder):
            box.folder.create(folder)
        for raw in raws:
            box.append(raw, folder, flag_set=())


def poll(capture: Any) -> int:
    with capture(execute=True):
        return mailboxes_poll()


@pytest.fixture
def mailbox(imap, inbox_email) -> EmailMailbox:
    return EmailMailbox.objects.create(
        inbox=inbox_email,
        host=imap.host,
        port=imap.port,
        security="none",
        username=imap.username,
        password=imap.password,
        folder=FOLDER,
    )


@pytest.mark.django_db
@pytest.mark.integration
def test_polling_takes_each_message_once_and_leaves_it_on_the_server(
    imap, mailbox, django_capture_on_commit_callbacks
) -> None:
    append(imap, message(1), message(2))
    assert poll(django_capture_on_commit_callbacks) == 2
    mailbox.refresh_from_db()
    assert (mailbox.last_uid, mailbox.last_error) == (2, "")
    assert poll(django_capture_on_commit_callbacks) == 0
    append(imap, message(3), eml("apple_mail"))
    assert poll(django_capture_on_commit_callbacks) == 2
    entries = Entry.objects.filter(channel="email").order_by("id")
    assert [e.subject for e in entries][:3] == ["Question 1", "Question 2", "Question 3"]
    assert all(e.inbox_id == mailbox.inbox_id for e in entries)
    assert InboundEvent.objects.filter(payload__source="imap").count() == 4
    mailbox.refresh_from_db()
    assert mailbox.last_uid == 4 and mailbox.uidvalidity and mailbox.last_error == ""
    with MailBoxUnencrypted(imap.host, imap.port).login(imap.username, imap.password, FOLDER) as box:
        kept = list(box.fetch(mark_seen=False))
        assert len(kept) == 4  # never deleted
        assert all("\\Seen" not in m.flags for m in kept)  # left unread for the people who share the mailbox


@pytest.mark.django_db
@pytest.mark.integration
def test_a_uidvalidity_change_reads_the_folder_again_without_duplicates(
    imap, mailbox, django_capture_on_commit_callbacks
) -> None:
    append(imap, message(1), message(2), message(3))
    assert poll(django_capture_on_commit_callbacks) == 3
    mailbox.refresh_from_db()
    before = mailbox.uidvalidity
    time.sleep(1.1)  # Dovecot makes UIDVALIDITY from the clock
    with MailBoxUnencrypted(imap.host, imap.port).login(imap.username, imap.password, None) as box:
        box.folder.delete(FOLDER)
    # The rebuilt folder holds two messages already taken and one new one, under fresh UIDs 1..3.
    append(imap, message(2), message(3), message(4))
    assert poll(django_capture_on_commit_callbacks) == 3
    mailbox.refresh_from_db()
    assert mailbox.uidvalidity != before and mailbox.last_uid == 3
    assert Entry.objects.filter(channel="email").count() == 4
    emails = Entry.objects.filter(channel="email")
    assert sorted(emails.values_list("subject", flat=True)) == [f"Question {n}" for n in (1, 2, 3, 4)]


@pytest.mark.django_db
@pytest.mark.integration
def test_deleting_is_only_done_when_configured_and_after_storing(
    imap, mailbox, django_capture_on_commit_callbacks
) -> None:
    mailbox.delete_after_import = True
    mailbox.save()
    append(imap, message(1))
    assert poll(django_capture_on_commit_callbacks) == 1
    assert Entry.objects.filter(channel="email").count() == 1
    with MailBoxUnencrypted(imap.host, imap.port).login(imap.username, imap.password, FOLDER) as box:
        assert list(box.fetch()) == []


@pytest.mark.django_db
@pytest.mark.integration
def test_a_wrong_password_is_recorded_on_the_mailbox(
    imap, mailbox, django_capture_on_commit_callbacks
) -> None:
    mailbox.password = "wrong"
    mailbox.save()
    assert poll(django_capture_on_commit_callbacks) == 0
    mailbox.refresh_from_db()
    assert mailbox.last_error and mailbox.last_uid == 0

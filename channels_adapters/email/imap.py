"""IMAP polling: every new message of a configured mailbox into the inbound pipeline, once.

UIDVALIDITY and the last UID taken are kept on the mailbox row; a UIDVALIDITY change (the server rebuilt the
folder) reads the folder again from the start, and the Message-ID keys stop anything from landing twice.
Messages are fetched with BODY.PEEK (left unread) and never deleted unless `delete_after_import` is set,
and then only after the rows that hold them are committed.
"""

from __future__ import annotations

import imaplib
import logging
import socket
import ssl
from typing import Any

from django.conf import settings
from django.db import transaction
from django.utils import timezone
from imap_tools import MailBox, MailBoxStartTls, MailBoxUnencrypted
from imap_tools.message import MailMessage

from channels_adapters.models import EmailMailbox
from config import safe_http

logger = logging.getLogger("hub.email.imap")

BATCH = 200


class _RawMailMessage(MailMessage):
    """imap-tools parses the message; the hub keeps the exact bytes the server sent."""

    def __init__(self, fetch_data: list[Any]) -> None:
        super().__init__(fetch_data)
        self.raw: bytes = self._get_message_data_parts(fetch_data)[0] or b""


def _tls_context() -> ssl.SSLContext:
    """The server's certificate is checked against the host name the admin typed. imaplib's own default
    checks nothing, which hands the mailbox password to anyone on the path. EMAIL_IMAP_CA_FILE names the
    authority of an on-premises server whose certificate no public authority signed."""
    return ssl.create_default_context(cafile=settings.EMAIL_IMAP_CA_FILE or None)


class _PinnedIMAP4(imaplib.IMAP4):
    """Connects to the address config/safe_http vetted, not to what a second lookup of the name answers."""

    def __init__(self, host: str, port: int, timeout: float | None, *, address: str) -> None:
        self._address = address
        super().__init__(host, port, timeout)

    def _create_socket(self, timeout: float | None) -> socket.socket:
        return socket.create_connection((self._address, self.port), timeout)


class _PinnedIMAP4_SSL(imaplib.IMAP4_SSL):
    """The same over TLS: SNI and the certificate check stay on the host name the admin typed."""

    def __init__(
        self, host: str, port: int, timeout: float | None, *, address: str, context: ssl.SSLContext | None
    ) -> None:
        self._address = address
        super().__init__(host, port, ssl_context=context, timeout=timeout)

    def _create_socket(self, timeout: float | None) -> socket.socket:
        sock = socket.create_connection((self._address, self.port), timeout)
        context: ssl.SSLContext = self.ssl_context
        return context.wrap_socket(sock, server_hostname=self.host)


class _MailBox(MailBox):
    def __init__(self, host: str, port: int, *, timeout: float, address: str) -> None:
        self._address = address
        super().__init__(host, port, timeout=timeout, ssl_context=_tls_context())

    def _get_mailbox_client(self) -> imaplib.IMAP4:
        return _PinnedIMAP4_SSL(
            self._host, self._port, self._timeout, address=self._address, context=self._ssl_context
        )


class _MailBoxStartTls(MailBoxStartTls):
    def __init__(self, host: str, port: int, *, timeout: float, address: str) -> None:
        self._address = address
        super().__init__(host, port, timeout=timeout, ssl_context=_tls_context())

    def _get_mailbox_client(self) -> imaplib.IMAP4:
        client = _PinnedIMAP4(self._host, self._port, self._timeout, address=self._address)
        result = client.starttls(self._ssl_context)
        if result[0] != "OK":
            raise imaplib.IMAP4.error(f"STARTTLS refused: {result}")
        return client


class _MailBoxUnencrypted(MailBoxUnencrypted):
    def __init__(self, host: str, port: int, *, timeout: float, address: str) -> None:
        self._address = address
        super().__init__(host, port, timeout=timeout)

    def _get_mailbox_client(self) -> imaplib.IMAP4:
        return _PinnedIMAP4(self._host, self._port, self._timeout, address=self._address)


def _connect(box: EmailMailbox) -> Any:
    # An admin typed this host: a private or on-premises server is normal, so only link-local and cloud
    # metadata addresses are refused. Resolved once, and the connection goes to the address checked.
    address = safe_http.resolve_vetted(box.host, box.port, policy=safe_http.ADMIN)
    timeout = settings.EMAIL_IMAP_TIMEOUT_S
    kinds = {"ssl": _MailBox, "starttls": _MailBoxStartTls}
    client: Any = kinds.get(box.security, _MailBoxUnencrypted)(
        box.host, box.port, timeout=timeout, address=address
    )
    client.email_message_class = _RawMailMessage
    return client.login(box.username, box.password, initial_folder=None)


def mailbox_poll(*, mailbox_id: int) -> int:
    """Take in what arrived since the last poll. Returns how many messages were stored."""
    from channels_adapters.email.services import EmailRefused, email_store

    box = EmailMailbox.objects.filter(pk=mailbox_id, enabled=True).first()
    if box is None:
        return 0
    stored_uids: list[str] = []
    try:
        with _connect(box) as client:
            with transaction.atomic():
                # One poller per mailbox at a time; another one skips it.
                locked = EmailMailbox.objects.select_for_update(skip_locked=True).filter(pk=box.pk).first()
                if locked is None:
                    return 0
                box = locked
                status = client.folder.status(box.folder, ("UIDVALIDITY", "UIDNEXT"))
                uidvalidity = int(status["UIDVALIDITY"])
                if box.uidvalidity is not None and box.uidvalidity != uidvalidity:
                    logger.warning(
                        "UIDVALIDITY of %s changed (%s -> %s): reading the folder again",
                        box,
                        box.uidvalidity,
                        uidvalidity,
                    )
                    box.last_uid = 0
                box.uidvalidity = uidvalidity
                client.folder.set(box.folder)
                uids = sorted(int(u) for u in client.uids(f"UID {box.last_uid + 1}:*"))
                uids = [u for u in uids if u > box.last_uid][:BATCH]
                # An empty uid_list would make imap-tools fetch the whole folder.
                fetched = (
                    client.fetch(uid_list=[str(u) for u in uids], mark_seen=False, bulk=20) if uids else []
                )
                for message in fetched:
                    try:
                        with transaction.atomic():
                            email_store(raw=message.raw, source="imap", route_inbox=box.inbox_id)
                    except EmailRefused as error:
                        logger.warning("Skipped UID %s of %s: %s", message.uid, box, error.message)
                    box.last_uid = max(box.last_uid, int(message.uid or 0))
                    stored_uids.append(str(message.uid))
                box.last_polled_at = timezone.now()
                box.last_error = ""
                box.save(update_fields=["uidvalidity", "last_uid", "last_polled_at", "last_error"])
            if box.delete_after_import and stored_uids:
                client.delete(stored_uids)
    except Exception as error:
        logger.warning("Could not poll %s: %s", box, error)
        EmailMailbox.objects.filter(pk=box.pk).update(
            last_error=f"{error.__class__.__name__}: {error}"[:2000]
        )
        return 0
    return len(stored_uids)


def mailboxes_poll() -> int:
    return sum(
        mailbox_poll(mailbox_id=pk)
        for pk in EmailMailbox.objects.filter(enabled=True).values_list("pk", flat=True)
    )

"""The IMAP host an admin types in: a private or on-premises server is fine, link-local and cloud metadata
addresses are not, and the poller connects to the address it checked, never to a second lookup."""

from __future__ import annotations

import socket
import socketserver
import ssl
import threading
from collections.abc import Iterator
from typing import Any

import pytest

from channels_adapters.email.imap import mailboxes_poll
from channels_adapters.models import EmailMailbox
from conversations.models import Inbox
from tests import factories
from tests.security.tls import Authority


class FakeImap:
    """Just enough IMAP for one poll of an empty folder; records who connected and what was said."""

    def __init__(self, host: str = "127.0.0.1", port: int = 0, tls: ssl.SSLContext | None = None) -> None:
        self.commands: list[str] = []
        self.sni: list[str | None] = []
        fake = self

        class Handler(socketserver.StreamRequestHandler):
            def handle(self) -> None:
                self.wfile.write(b"* OK [CAPABILITY IMAP4rev1 AUTH=PLAIN] fake ready\r\n")
                for raw in self.rfile:
                    tag, _, rest = raw.decode().strip().partition(" ")
                    command = rest.split(" ", 2)
                    verb = command[0].upper()
                    fake.commands.append(verb)
                    if verb == "LOGOUT":
                        self.wfile.write(f"* BYE\r\n{tag} OK bye\r\n".encode())
                        return
                    if verb == "STATUS":
                        self.wfile.write(f"* STATUS {command[1]} (UIDVALIDITY 7 UIDNEXT 1)\r\n".encode())
                    elif verb in ("SELECT", "EXAMINE"):
                        self.wfile.write(b"* 0 EXISTS\r\n* OK [UIDVALIDITY 7] ok\r\n")
                    elif verb == "UID":
                        self.wfile.write(b"* SEARCH\r\n")
                    self.wfile.write(f"{tag} OK done\r\n".encode())

        self.server = socketserver.ThreadingTCPServer((host, port), Handler)
        self.server.daemon_threads = True
        if tls is not None:
            tls.sni_callback = lambda _sock, name, _ctx: self.sni.append(name)
            self.server.socket = tls.wrap_socket(self.server.socket, server_side=True)
        self.port = self.server.server_address[1]
        threading.Thread(target=self.server.serve_forever, daemon=True).start()

    def stop(self) -> None:
        self.server.shutdown()
        self.server.server_close()


@pytest.fixture
def connects(monkeypatch: pytest.MonkeyPatch) -> list[tuple[str, int]]:
    attempts: list[tuple[str, int]] = []
    real = socket.create_connection

    def recording(address: tuple[str, int], *args: Any, **kwargs: Any) -> Any:
        attempts.append((address[0], address[1]))
        return real(address, *args, **kwargs)

    monkeypatch.setattr(socket, "create_connection", recording)
    return attempts


@pytest.fixture
def resolver(monkeypatch: pytest.MonkeyPatch) -> dict[str, list[str]]:
    """name -> answers, one per lookup (the last one stays)."""
    table: dict[str, list[str]] = {}
    real = socket.getaddrinfo

    def getaddrinfo(host: Any, port: Any, *args: Any, **kwargs: Any) -> Any:
        if host not in table:
            return real(host, port, *args, **kwargs)
        answer = table[host][0] if len(table[host]) == 1 else table[host].pop(0)
        return [(socket.AF_INET, socket.SOCK_STREAM, 6, "", (answer, int(port)))]

    monkeypatch.setattr(socket, "getaddrinfo", getaddrinfo)
    return table


@pytest.fixture
def inbox_email(team_support: Any) -> Inbox:
    return factories.InboxFactory(
        name="Support email", kind=Inbox.EMAIL, address="support@shoes.example", team=team_support
    )


@pytest.fixture
def fake_imap() -> Iterator[FakeImap]:
    server = FakeImap()
    yield server
    server.stop()


def mailbox(inbox: Any, host: str, port: int, security: str = "none") -> EmailMailbox:
    return EmailMailbox.objects.create(
        inbox=inbox,
        host=host,
        port=port,
        security=security,
        username="support",
        password="pw",
        folder="INBOX",
    )


@pytest.mark.django_db
def test_a_mailbox_on_a_metadata_or_link_local_address_is_never_connected_to(
    inbox_email, fake_imap, connects, resolver
) -> None:
    resolver["mail.metadata.example.test"] = ["169.254.169.254"]
    resolver["mail.linklocal.example.test"] = ["169.254.1.1"]
    hosts = [
        "169.254.169.254",
        "mail.metadata.example.test",
        "mail.linklocal.example.test",
        "fe80::1",
        "::ffff:169.254.169.254",
    ]
    boxes = [mailbox(inbox_email, host, 143) for host in hosts]
    assert mailboxes_poll() == 0
    for box in boxes:
        box.refresh_from_db()
        assert "DestinationRefused" in box.last_error and box.last_polled_at is None, (
            box.host,
            box.last_error,
        )
    assert connects == []
    assert fake_imap.commands == []


@pytest.mark.django_db
def test_a_mailbox_on_a_private_server_is_polled_at_the_address_checked(
    inbox_email, connects, resolver
) -> None:
    """On-premises mail servers are normal: a name answering a loopback address is polled. The name then
    answers another address (rebinding): the connection still goes to the first."""
    vetted = FakeImap("127.0.0.1")
    try:
        rebound = FakeImap("127.0.0.2", vetted.port)
    except OSError:
        vetted.stop()
        pytest.skip("127.0.0.2 cannot be bound here")
    try:
        resolver["mail.onprem.example.test"] = ["127.0.0.1", "127.0.0.2"]
        box = mailbox(inbox_email, "mail.onprem.example.test", vetted.port)
        assert mailboxes_poll() == 0
        box.refresh_from_db()
        assert box.last_error == "" and box.last_polled_at is not None and box.uidvalidity == 7
        assert "LOGIN" in vetted.commands and "LOGOUT" in vetted.commands
        assert rebound.commands == []
        assert connects == [("127.0.0.1", vetted.port)]
    finally:
        vetted.stop()
        rebound.stop()


@pytest.mark.django_db
def test_imap_over_tls_checks_the_certificate_against_the_host_name(
    inbox_email, resolver, settings, tmp_path
) -> None:
    """imaplib's default TLS context checks no certificate: anyone on the path could take the password."""
    authority = Authority(tmp_path)
    name = "mail.onprem.example.test"
    genuine = FakeImap(tls=authority.server_context(name))
    impostor = FakeImap(tls=authority.server_context("attacker.example.test"))
    resolver[name] = ["127.0.0.1"]
    try:
        box = mailbox(inbox_email, name, genuine.port, security="ssl")
        stranger = mailbox(inbox_email, name, impostor.port, security="ssl")
        # The system's authorities do not know ours: refused, before LOGIN sends the password.
        mailboxes_poll()
        box.refresh_from_db()
        assert "CERTIFICATE_VERIFY_FAILED" in box.last_error, box.last_error
        assert genuine.commands == []
        # With our authority named, the genuine server is polled under its name, the impostor is refused.
        settings.EMAIL_IMAP_CA_FILE = str(authority.bundle)
        mailboxes_poll()
        box.refresh_from_db()
        stranger.refresh_from_db()
        assert box.last_error == "" and "LOGIN" in genuine.commands
        assert genuine.sni[-1] == name
        assert "CERTIFICATE_VERIFY_FAILED" in stranger.last_error and impostor.commands == []
    finally:
        genuine.stop()
        impostor.stop()

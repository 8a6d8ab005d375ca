"""config/safe_http: a URL someone handed the hub reaches the public internet only, at the address that was checked.

A local listener stands in for every internal service: it must receive nothing. Every connection the HTTP
client opens is recorded too, so an address nothing listens on (169.254.169.254, 10.0.0.1) is proven untouched.
Names are answered by a fake resolver (socket.getaddrinfo), the one place the hub asks DNS.
"""

from __future__ import annotations

import socket
import ssl
import threading
from collections.abc import Callable, Iterator
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import Any

import pytest
import requests

from config import safe_http
from tests.security.tls import Authority

BODY = b"\x89PNG\r\n\x1a\n" + b"\x00" * 64


class Server:
    """An HTTP(S) server on a loopback address: records what reaches it, answers from `routes`."""

    def __init__(self, host: str = "127.0.0.1", port: int = 0, tls: ssl.SSLContext | None = None) -> None:
        self.requests: list[dict[str, Any]] = []
        self.routes: dict[str, tuple[int, dict[str, str], bytes]] = {}
        self.sni: list[str | None] = []
        server = self

        class Handler(BaseHTTPRequestHandler):
            def log_message(self, format: str, *args: Any) -> None:
                return

            def do_GET(self) -> None:
                server.requests.append({"path": self.path, "host": self.headers.get("Host")})
                status, headers, body = server.routes.get(
                    self.path, (200, {"Content-Type": "image/png"}, BODY)
                )
                self.send_response(status)
                for name, value in headers.items():
                    if value:  # an empty value leaves the header out: the body then ends at the close
                        self.send_header(name, value)
                if "Content-Length" not in headers:
                    self.send_header("Content-Length", str(len(body)))
                self.end_headers()
                self.wfile.write(body)

        family = socket.AF_INET6 if ":" in host else socket.AF_INET
        self.httpd = type("S", (ThreadingHTTPServer,), {"address_family": family})((host, port), Handler)
        self.httpd.daemon_threads = True
        if tls is not None:
            tls.sni_callback = lambda _sock, name, _ctx: self.sni.append(name)
            self.httpd.socket = tls.wrap_socket(self.httpd.socket, server_side=True)
        self.host = host
        self.port = self.httpd.server_address[1]
        threading.Thread(target=self.httpd.serve_forever, daemon=True).start()

    def url(self, path: str = "/media", *, host: str | None = None, scheme: str = "http") -> str:
        return f"{scheme}://{host or self.host}:{self.port}{path}"

    def stop(self) -> None:
        self.httpd.shutdown()
        self.httpd.server_close()


@pytest.fixture
def listener() -> Iterator[Server]:
    server = Server()
    yield server
    server.stop()


Answers = dict[str, list[list[str]]]


@pytest.fixture
def dns(monkeypatch: pytest.MonkeyPatch) -> Callable[[Answers], list[str]]:
    """Answer names from a table; a name with several answer lists gives the next one at each lookup
    (the last one stays). Returns the log of names looked up. Anything not in the table resolves for real."""
    real = socket.getaddrinfo

    def install(table: Answers) -> list[str]:
        asked: list[str] = []

        def getaddrinfo(host: Any, port: Any, *args: Any, **kwargs: Any) -> Any:
            name = host.decode() if isinstance(host, bytes) else str(host)
            if name not in table:
                return real(host, port, *args, **kwargs)
            asked.append(name)
            answers = table[name][0] if len(table[name]) == 1 else table[name].pop(0)
            return [
                (
                    socket.AF_INET6 if ":" in a else socket.AF_INET,
                    socket.SOCK_STREAM,
                    6,
                    "",
                    (a, int(port), 0, 0) if ":" in a else (a, int(port)),
                )
                for a in answers
            ]

        monkeypatch.setattr(socket, "getaddrinfo", getaddrinfo)
        return asked

    return install


def fetch(url: str, **kwargs: Any) -> safe_http.Fetched:
    return safe_http.safe_get(url, max_bytes=kwargs.pop("max_bytes", 10_000), timeout=(2.0, 5.0), **kwargs)


def _hostile_urls(port: int) -> list[str]:
    return [
        f"http://127.0.0.1:{port}/media",
        f"http://localhost:{port}/media",
        f"http://127.0.0.2:{port}/media",
        f"http://2130706433:{port}/media",  # 127.0.0.1 as one decimal number
        f"http://0177.0.0.1:{port}/media",  # octal
        f"http://0x7f.0.0.1:{port}/media",  # hex
        f"http://127.1:{port}/media",
        f"http://0.0.0.0:{port}/media",  # reaches this machine's services on Linux
        f"http://[::1]:{port}/media",
        f"http://[::ffff:127.0.0.1]:{port}/media",  # IPv4-mapped IPv6
        f"http://[::ffff:7f00:1]:{port}/media",
        f"http://[64:ff9b::7f00:1]:{port}/media",  # NAT64
        f"http://[2002:7f00:1::]:{port}/media",  # 6to4
        "http://169.254.169.254/latest/meta-data/iam/security-credentials/",
        "http://[::ffff:169.254.169.254]/latest/meta-data/",
        "http://[fd00:ec2::254]/latest/meta-data/",
        "http://[fe80::1]/",
        "http://10.0.0.1/",
        "http://172.16.0.1/",
        "http://192.168.1.1/",
        "http://100.64.0.1/",  # carrier-grade NAT, shared with neighbours
        "http://[fc00::1]/",
    ]


def test_every_spelling_of_an_internal_address_is_refused_before_connecting(listener, connections) -> None:
    urls = _hostile_urls(listener.port)
    for url in urls:
        with pytest.raises(safe_http.DestinationRefused):
            fetch(url)
    assert listener.requests == []
    assert connections == []


def test_a_name_that_resolves_to_loopback_is_refused(listener, connections, dns) -> None:
    asked = dns(
        {
            "intranet.example.test": [["127.0.0.1"]],
            "metadata.example.test": [["169.254.169.254"]],
            # One public answer does not launder a private one, whichever comes first.
            "mixed.example.test": [["93.184.215.14", "127.0.0.1"]],
            "mapped.example.test": [["::ffff:127.0.0.1"]],
        }
    )
    for name in (
        "intranet.example.test",
        "metadata.example.test",
        "mixed.example.test",
        "mapped.example.test",
    ):
        with pytest.raises(safe_http.DestinationRefused, match="resolves to"):
            fetch(listener.url(host=name))
    assert len(asked) == 4
    assert listener.requests == []
    assert connections == []


def test_redirects_are_checked_at_every_hop(listener, connections, settings, dns) -> None:
    """A server the hub may reach (a fake public host) redirects to internal addresses: none is followed."""
    redirector = Server()
    dns({"public.example.test": [["127.0.0.1"]], "rebound.example.test": [["127.0.0.1"]]})
    settings.SAFE_HTTP_ALLOW_LOOPBACK = [f"public.example.test:{redirector.port}"]
    try:
        targets = [
            *_hostile_urls(listener.port)[:10],
            "http://169.254.169.254/latest/meta-data/",
            listener.url(host="rebound.example.test"),
            f"http://127.0.0.1:{redirector.port}/media",  # the same server under an address not allowed
            "file:///etc/passwd",
            f"//127.0.0.1:{listener.port}/media",
        ]
        for n, target in enumerate(targets):
            redirector.routes[f"/r{n}"] = (302, {"Location": target}, b"")
            with pytest.raises(safe_http.DestinationRefused):
                fetch(redirector.url(f"/r{n}", host="public.example.test"))
        assert len(redirector.requests) == len(targets)
        assert listener.requests == []
        assert set(connections) == {("127.0.0.1", redirector.port)}
        # An allowed redirect is still followed: the refusals are not a client that never redirects.
        redirector.routes["/ok"] = (302, {"Location": "/media"}, b"")
        fetched = fetch(redirector.url("/ok", host="public.example.test"))
        assert (fetched.status, fetched.content) == (200, BODY)
    finally:
        redirector.stop()


def test_redirects_stop_after_the_hop_limit_and_bodies_at_the_size_cap(settings, dns) -> None:
    server = Server()
    dns({"public.example.test": [["127.0.0.1"]]})
    settings.SAFE_HTTP_ALLOW_LOOPBACK = [f"public.example.test:{server.port}"]
    try:
        server.routes["/loop"] = (302, {"Location": "/loop"}, b"")
        with pytest.raises(safe_http.TooManyRedirects):
            fetch(server.url("/loop", host="public.example.test"), max_hops=3)
        assert len(server.requests) == 4  # the first request and three redirects
        server.routes["/big"] = (200, {}, b"x" * 5000)
        with pytest.raises(safe_http.ResponseTooLarge):
            fetch(server.url("/big", host="public.example.test"), max_bytes=1000)
        # A server that does not say how large it is gets cut off while the body is read.
        server.routes["/unsaid"] = (200, {"Content-Length": ""}, b"x" * 5000)
        with pytest.raises(safe_http.ResponseTooLarge):
            fetch(server.url("/unsaid", host="public.example.test"), max_bytes=1000)
    finally:
        server.stop()


def test_the_connection_goes_to_the_address_that_was_checked_even_if_the_name_rebinds(
    settings, dns, connections
) -> None:
    """DNS rebinding: the first lookup answers an acceptable address, every later one an internal address.

    Check-then-connect (vet the first answer, let the HTTP client look the name up again) would send the
    request to the second server. Both servers listen on the same port, on two loopback addresses.
    """
    vetted = Server("127.0.0.1")
    try:
        internal = Server("127.0.0.2", port=vetted.port)
    except OSError:
        vetted.stop()
        pytest.skip("127.0.0.2 cannot be bound here")
    name = "shop.rebind.example.test"
    asked = dns({name: [["127.0.0.1"], ["127.0.0.2"]]})
    settings.SAFE_HTTP_ALLOW_LOOPBACK = [f"{name}:{vetted.port}"]
    try:
        fetched = fetch(vetted.url(host=name))
        assert fetched.content == BODY
        assert internal.requests == []
        assert vetted.requests == [{"path": "/media", "host": f"{name}:{vetted.port}"}]
        assert connections == [("127.0.0.1", vetted.port)]
        assert asked == [name]  # resolved once
    finally:
        vetted.stop()
        internal.stop()


# --- TLS to a pinned address: the certificate is still checked against the host name ---------------------
@pytest.fixture
def authority(tmp_path: Path) -> Authority:
    return Authority(tmp_path)


def _session(authority: Authority) -> requests.Session:
    session = safe_http.safe_session()
    session.verify = str(authority.bundle)
    return session


def test_https_to_the_pinned_address_sends_the_name_and_checks_the_certificate_against_it(
    authority, settings, dns, connections
) -> None:
    name = "media.hub-test.example"
    server = Server(tls=authority.server_context(name))
    dns({name: [["127.0.0.1"]]})
    settings.SAFE_HTTP_ALLOW_LOOPBACK = [f"{name}:{server.port}"]
    try:
        fetched = fetch(server.url(host=name, scheme="https"), session=_session(authority))
        assert (fetched.status, fetched.content) == (200, BODY)
        assert server.sni == [name]  # SNI names the host, not the address connected to
        assert server.requests == [{"path": "/media", "host": f"{name}:{server.port}"}]
        assert connections == [("127.0.0.1", server.port)]
    finally:
        server.stop()


def test_https_to_the_pinned_address_refuses_a_certificate_for_another_name(authority, settings, dns) -> None:
    """The address is pinned, the trust is not loosened: a server holding a valid certificate for another
    name (what an attacker rebinding a name to their own server would hold) is refused, as is one reached
    by its bare address, and one signed by an authority the hub does not trust."""
    name = "media.hub-test.example"
    impostor = Server(tls=authority.server_context("attacker.example"))
    dns({name: [["127.0.0.1"]]})
    settings.SAFE_HTTP_ALLOW_LOOPBACK = [f"{name}:{impostor.port}", f"127.0.0.1:{impostor.port}"]
    genuine = Server(tls=authority.server_context(name))
    settings.SAFE_HTTP_ALLOW_LOOPBACK.append(f"{name}:{genuine.port}")
    try:
        with pytest.raises(requests.exceptions.SSLError):
            fetch(impostor.url(host=name, scheme="https"), session=_session(authority))
        with pytest.raises(requests.exceptions.SSLError):
            fetch(impostor.url(host="127.0.0.1", scheme="https"), session=_session(authority))
        with pytest.raises(requests.exceptions.SSLError):
            fetch(genuine.url(host=name, scheme="https"))  # the system's authorities, not ours
        assert impostor.requests == [] and genuine.requests == []
    finally:
        impostor.stop()
        genuine.stop()


# --- the policies -----------------------------------------------------------------------------------------
@pytest.mark.parametrize(
    ("address", "public", "admin"),
    [
        ("93.184.215.14", True, True),
        ("2606:2800:21f:cb07:6820:80da:af6b:8b2c", True, True),
        ("127.0.0.1", False, True),  # an IMAP server on the same machine is an admin's choice
        ("10.1.2.3", False, True),
        ("192.168.0.10", False, True),
        ("fd12:3456::1", False, True),
        ("::ffff:10.1.2.3", False, True),
        ("169.254.169.254", False, False),
        ("169.254.10.10", False, False),
        ("::ffff:169.254.169.254", False, False),
        ("fd00:ec2::254", False, False),
        ("fe80::1", False, False),
        ("168.63.129.16", False, False),  # Azure's wire server: public, and still the host's own
        ("0.0.0.0", False, False),
        ("224.0.0.1", False, False),
    ],
)
def test_what_each_policy_lets_through(address: str, public: bool, admin: bool) -> None:
    import ipaddress

    ip = ipaddress.ip_address(address)
    assert (safe_http.address_refusal(ip, policy=safe_http.PUBLIC) is None) is public
    assert (safe_http.address_refusal(ip, policy=safe_http.ADMIN) is None) is admin


def test_the_loopback_allowance_is_off_by_default_and_never_covers_metadata(settings, dns) -> None:
    from config import settings as project_settings

    assert project_settings.SAFE_HTTP_ALLOW_LOOPBACK == []
    dns({"fake.example.test": [["169.254.169.254"]]})
    settings.SAFE_HTTP_ALLOW_LOOPBACK = ["fake.example.test:80"]
    with pytest.raises(safe_http.DestinationRefused, match="metadata"):
        safe_http.resolve_vetted("fake.example.test", 80)

"""Outgoing HTTP to URLs the hub was handed by someone else (MMS media, call recordings, outgoing webhooks).

A URL is judged by the address the hub will really connect to, not by its spelling: the host is resolved once,
every address it resolves to must be on the public internet, and the connection goes to the address that was
checked. A second lookup at connect time is what DNS rebinding exploits (a name answers a public address to
the check and 127.0.0.1 to the connect), so there is none. TLS still sends the host name (SNI) and checks the
certificate against it, and the Host header names it. Redirects are followed by hand, each hop checked again,
with a hop limit, a size cap and a time limit.

Hosts an admin types in (an IMAP server) may well be private: an on-premises mail server is normal. For them
`ADMIN` refuses only link-local and cloud metadata addresses, whose answers hold the machine's credentials.
"""

from __future__ import annotations

import contextvars
import ipaddress
import socket
import time
from collections.abc import Callable, Iterator, Mapping
from contextlib import contextmanager
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any, Literal, cast
from urllib.parse import urljoin, urlsplit

import requests
import urllib3
from django.conf import settings
from requests.adapters import HTTPAdapter

if TYPE_CHECKING:
    from requests.adapters import _HostParams, _PoolKwargs

IPAddress = ipaddress.IPv4Address | ipaddress.IPv6Address
Policy = Literal["public", "admin"]
PUBLIC: Policy = "public"  # URLs from received data: only addresses on the public internet
ADMIN: Policy = "admin"  # hosts an admin configured: anything but link-local and metadata addresses

# Cloud metadata services (AWS, GCP and Azure at 169.254.169.254; AWS over IPv6; Alibaba; Oracle; Azure's
# wire server, which is a public address) hand out the machine's credentials to whoever asks from it.
METADATA_ADDRESSES = frozenset(
    ipaddress.ip_address(a)
    for a in ("169.254.169.254", "fd00:ec2::254", "100.100.100.200", "192.0.0.192", "168.63.129.16")
)
_NAT64 = ipaddress.ip_network("64:ff9b::/96")


class DestinationRefused(requests.exceptions.RequestException):
    """The hub will not send a request there. Permanent: asking again gives the same answer.

    A RequestException, so code that only knows requests' errors still handles it; code that cares about
    permanence catches it first.
    """

    def __init__(self, message: str, *, host: str = "") -> None:
        super().__init__(message)
        self.message = message
        self.host = host


class HostNotAllowed(DestinationRefused):
    """The caller's own allow-list (e.g. Twilio's hosts) refused the URL before any lookup."""


class TooManyRedirects(DestinationRefused):
    pass


class ResponseTooLarge(DestinationRefused):
    pass


# --- addresses --------------------------------------------------------------------------------------------
def _embedded_ipv4(address: ipaddress.IPv6Address) -> ipaddress.IPv4Address | None:
    """The IPv4 address an IPv6 one carries (::ffff:127.0.0.1, 6to4, Teredo, NAT64, ::127.0.0.1)."""
    if address.ipv4_mapped is not None:
        return address.ipv4_mapped
    if address.sixtofour is not None:
        return address.sixtofour
    if address.teredo is not None:
        return address.teredo[1]
    if address in _NAT64:
        return ipaddress.IPv4Address(int(address) & 0xFFFFFFFF)
    if int(address) >> 32 == 0 and int(address) > 1:
        return ipaddress.IPv4Address(int(address))  # the deprecated IPv4-compatible form
    return None


def address_refusal(address: IPAddress, *, policy: Policy = PUBLIC) -> str | None:
    """Why the hub will not connect to this address under the policy, or None when it may."""
    candidates: list[IPAddress] = [address]
    if isinstance(address, ipaddress.IPv6Address):
        embedded = _embedded_ipv4(address)
        if embedded is not None:
            candidates.append(embedded)
    for candidate in candidates:
        if candidate in METADATA_ADDRESSES:
            return "a cloud metadata address"
        if candidate.is_link_local:
            return "a link-local address"
        if candidate.is_unspecified or candidate.is_multicast:
            return "not a host address"
        if policy == PUBLIC and (not candidate.is_global or candidate.is_reserved):
            return "not on the public internet"
    return None


def _loopback_allowed(host: str, port: int) -> bool:
    """Tests only: a local fake (Twilio) named in SAFE_HTTP_ALLOW_LOOPBACK as host:port. Empty by default."""
    allowed = {str(item).lower() for item in getattr(settings, "SAFE_HTTP_ALLOW_LOOPBACK", ())}
    return f"{host.lower()}:{port}" in allowed


def resolve_vetted(host: str, port: int, *, policy: Policy = PUBLIC) -> str:
    """Resolve `host` once and return the one address to connect to.

    Every address the name resolves to must be acceptable (a name that also answers 127.0.0.1 is refused
    as a whole, whichever answer comes first). Raises DestinationRefused, or ConnectionError when the name
    does not resolve (which may pass).
    """
    try:
        infos = socket.getaddrinfo(host, port, type=socket.SOCK_STREAM)
    except (OSError, UnicodeError) as error:
        raise requests.exceptions.ConnectionError(f"{host} could not be resolved: {error}") from error
    addresses: list[IPAddress] = []
    for info in infos:
        try:
            # Strip an IPv6 zone ("fe80::1%eth0"): the address itself is what is judged.
            addresses.append(ipaddress.ip_address(str(info[4][0]).split("%", 1)[0]))
        except ValueError:
            continue
    if not addresses:
        raise requests.exceptions.ConnectionError(f"{host} has no address.")
    loopback_ok = _loopback_allowed(host, port)
    for address in addresses:
        if loopback_ok and address.is_loopback:
            continue
        reason = address_refusal(address, policy=policy)
        if reason is not None:
            raise DestinationRefused(f"{host} resolves to {address}, {reason}.", host=host)
    return str(addresses[0])


# --- URLs -------------------------------------------------------------------------------------------------
def url_checked(url: str, *, schemes: tuple[str, ...] = ("http", "https")) -> str | None:
    """The URL in the form the HTTP client will send it, or None when it could be read two ways.

    Judged on what `requests` itself prepares, and refused outright when another parser would read another
    host (`https://evil.test\\@api.twilio.com/`: urlsplit sees Twilio, urllib3 connects to evil.test), when
    it carries credentials, whitespace or control characters, or a scheme other than `schemes`.
    """
    if "\\" in url or any(ord(char) <= 0x20 or ord(char) == 0x7F for char in url):
        return None
    try:
        prepared = requests.Request("GET", url).prepare().url
        target = urllib3.util.parse_url(prepared or "")
        split = urlsplit(prepared or "")
        port = split.port
    except (requests.exceptions.RequestException, urllib3.exceptions.LocationParseError, ValueError):
        return None
    if prepared is None or target.auth or split.username is not None or split.scheme not in schemes:
        return None
    if not split.hostname or split.hostname.lower() != (target.host or "").lower().strip("[]"):
        return None
    if port != target.port:
        return None
    return prepared


# --- the pinned connection --------------------------------------------------------------------------------
@dataclass(frozen=True)
class _Pin:
    host: str
    address: str


_DEFAULT_PORTS = {"http": 80, "https": 443}
_PIN: contextvars.ContextVar[_Pin | None] = contextvars.ContextVar("safe_http_pin", default=None)


class PinnedAdapter(HTTPAdapter):
    """A requests adapter that connects only to the address it vetted, under the host's name for TLS.

    Each request is resolved once in `send`; the connection pool is keyed by that address and carries the
    host name as `server_hostname` (SNI) and `assert_hostname` (the certificate check), so the pool never
    looks the name up again. Proxies are ignored: a proxy would resolve the name itself.
    """

    def __init__(self, *, policy: Policy = PUBLIC) -> None:
        self.policy = policy
        super().__init__(max_retries=0)

    def send(
        self,
        request: requests.PreparedRequest,
        stream: bool = False,
        timeout: float | tuple[float, float] | tuple[float, None] | None = None,
        verify: bool | str = True,
        cert: bytes | str | tuple[bytes | str, bytes | str] | None = None,
        proxies: Mapping[str, str] | None = None,
    ) -> requests.Response:
        split = urlsplit(request.url or "")
        host = (split.hostname or "").lower()
        default_port = _DEFAULT_PORTS.get(split.scheme)
        try:
            port = split.port or default_port
        except ValueError as error:
            raise DestinationRefused("The URL's port is not a number.", host=host) from error
        if default_port is None or port is None or not host:
            raise DestinationRefused(f"Not an http(s) URL with a host: {split.scheme}", host=host)
        address = resolve_vetted(host, port, policy=self.policy)
        named = f"[{host}]" if ":" in host else host
        request.headers["Host"] = named if port == default_port else f"{named}:{port}"
        token = _PIN.set(_Pin(host=host, address=address))
        try:
            return super().send(request, stream=stream, timeout=timeout, verify=verify, cert=cert, proxies={})
        finally:
            _PIN.reset(token)

    def build_connection_pool_key_attributes(
        self, request: requests.PreparedRequest, verify: bool | str, cert: str | tuple[str, str] | None = None
    ) -> tuple[_HostParams, _PoolKwargs]:
        host_params, pool_kwargs = super().build_connection_pool_key_attributes(request, verify, cert)
        pin = _PIN.get()
        if pin is None or str(host_params["host"]).lower() != pin.host:
            # Only `send` above may open a connection, and only to what it vetted.
            raise DestinationRefused("No vetted address for this connection.", host=pin.host if pin else "")
        host_params["host"] = pin.address
        if host_params["scheme"] == "https":
            # Connect to the address, but send the name (SNI) and check the certificate against the name.
            tls: dict[str, Any] = cast("dict[str, Any]", pool_kwargs)
            tls["server_hostname"] = pin.host
            tls["assert_hostname"] = pin.host
        return host_params, pool_kwargs


def safe_session(*, policy: Policy = PUBLIC) -> requests.Session:
    """A requests Session whose every connection goes through PinnedAdapter, and never through a proxy."""
    session = requests.Session()
    session.trust_env = False  # no proxy, no .netrc credentials from the environment
    session.max_redirects = 5
    adapter = PinnedAdapter(policy=policy)
    session.adapters.clear()
    session.mount("https://", adapter)
    session.mount("http://", adapter)
    return session


@contextmanager
def _closing(response: requests.Response) -> Iterator[requests.Response]:
    try:
        yield response
    finally:
        response.close()


@dataclass(frozen=True)
class Fetched:
    url: str  # the last hop's URL
    status: int
    content_type: str  # what the server said; sniff the bytes before trusting it
    content: bytes  # empty for an error status (its body is not read)


def safe_get(
    url: str,
    *,
    max_bytes: int,
    allow: Callable[[str], str | None] = url_checked,
    auth_for: Callable[[str], Any] = lambda _url: None,
    max_hops: int = 5,
    timeout: tuple[float, float] = (5.0, 15.0),
    total_s: float = 60.0,
    session: requests.Session | None = None,
) -> Fetched:
    """GET a URL someone else gave us, following redirects by hand.

    `allow` judges every hop's URL before anything is sent (returning the URL to use, or None to refuse:
    HostNotAllowed); `auth_for` gives the credentials for a hop's URL, so they can be kept to one origin.
    Raises DestinationRefused (and its subclasses) for what will never work, requests' own errors for what
    may work later. An error status is returned with its body unread.
    """
    session = session or safe_session()
    deadline = time.monotonic() + total_s
    current = url
    for _hop in range(max_hops + 1):
        checked = allow(current)
        if checked is None:
            raise HostNotAllowed(f"Refused to fetch from {_host(current)}.", host=_host(current))
        current = checked
        response = session.get(
            current, auth=auth_for(current), stream=True, timeout=timeout, allow_redirects=False
        )
        with _closing(response):
            if response.is_redirect:
                current = urljoin(current, response.headers.get("Location", ""))
                continue
            content_type = response.headers.get("Content-Type", "")
            if response.status_code >= 400:
                return Fetched(
                    url=current, status=response.status_code, content_type=content_type, content=b""
                )
            declared = response.headers.get("Content-Length") or "0"
            if declared.isdigit() and int(declared) > max_bytes:
                raise ResponseTooLarge(f"Larger than the limit of {max_bytes} bytes.", host=_host(current))
            chunks: list[bytes] = []
            total = 0
            for chunk in response.iter_content(64 * 1024):
                total += len(chunk)
                if total > max_bytes:
                    raise ResponseTooLarge(
                        f"Larger than the limit of {max_bytes} bytes.", host=_host(current)
                    )
                if time.monotonic() > deadline:
                    raise requests.exceptions.ReadTimeout(f"Still downloading after {total_s:.0f} s.")
                chunks.append(chunk)
            return Fetched(
                url=current, status=response.status_code, content_type=content_type, content=b"".join(chunks)
            )
    raise TooManyRedirects(f"More than {max_hops} redirects.", host=_host(url))


def _host(url: str) -> str:
    try:
        return urlsplit(url).hostname or "(none)"
    except ValueError:
        return "(none)"

"""SSRF through MMS media: a MediaUrl is only ever fetched from Twilio's hosts or the configured API host.

A local listener stands in for every internal service an attacker would aim at: it must receive nothing.
Every outgoing connection is recorded as well, so an address nothing listens on (169.254.169.254) is
proven untouched too. The message itself is always stored, its attachment in a clear refused state.
"""

from __future__ import annotations

import socket
import threading
from collections.abc import Iterator
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any

import pytest

from channels_adapters.base import AdapterError, ProviderAccount
from channels_adapters.sms.adapter import TwilioMessagingAdapter, media_host_allowed, media_url_checked
from conversations.models import Attachment, Entry
from tests.conftest import twilio_fixture

PNG = b"\x89PNG\r\n\x1a\n" + b"\x00" * 64


class Listener:
    """An internal service on this machine: records whatever reaches it."""

    def __init__(self, host: str = "127.0.0.1", family: int = socket.AF_INET) -> None:
        self.requests: list[dict[str, Any]] = []
        listener = self

        class Handler(BaseHTTPRequestHandler):
            def log_message(self, format: str, *args: Any) -> None:
                return

            def do_GET(self) -> None:
                listener.requests.append({"path": self.path, "auth": self.headers.get("Authorization")})
                self.send_response(200)
                self.send_header("Content-Type", "image/png")
                self.send_header("Content-Length", str(len(PNG)))
                self.end_headers()
                self.wfile.write(PNG)

        server_class = type("Server", (ThreadingHTTPServer,), {"address_family": family})
        self.httpd = server_class((host, 0), Handler)
        self.httpd.daemon_threads = True
        self.port = self.httpd.server_address[1]
        threading.Thread(target=self.httpd.serve_forever, daemon=True).start()

    def stop(self) -> None:
        self.httpd.shutdown()
        self.httpd.server_close()


@pytest.fixture
def listener() -> Iterator[Listener]:
    server = Listener()
    yield server
    server.stop()


@pytest.fixture
def listener6() -> Iterator[Listener | None]:
    try:
        server = Listener("::1", socket.AF_INET6)
    except OSError:
        yield None  # no IPv6 loopback here; the URL is still refused (asserted below)
        return
    yield server
    server.stop()


def _hostile_urls(listen: int, listen6: int, fake: int) -> list[str]:
    return [
        f"http://127.0.0.1:{listen}/media",
        f"https://127.0.0.1:{listen}/media",
        f"http://localhost:{listen}/media",
        "http://169.254.169.254/latest/meta-data/iam/security-credentials/",
        "https://169.254.169.254/latest/meta-data/",
        f"http://[::1]:{listen6}/media",
        f"http://2130706433:{listen}/media",  # 127.0.0.1 as one decimal number
        f"http://0177.0.0.1:{listen}/media",  # octal
        f"http://0x7f.0.0.1:{listen}/media",  # hex
        f"http://127.1:{listen}/media",
        f"https://api.twilio.com@127.0.0.1:{listen}/media",
        f"http://127.0.0.1:{fake}@127.0.0.1:{listen}/media",
        # Read as the fake API host by urlsplit, connected to the listener by urllib3.
        f"http://127.0.0.1:{listen}\\@127.0.0.1:{fake}/media",
        f"https://evil.test\\@api.twilio.com/{listen}",
        f"//127.0.0.1:{listen}/media",
        f"ftp://127.0.0.1:{listen}/media",
        f"gopher://127.0.0.1:{listen}/_GET%20/",
        "file:///etc/passwd",
        f"http://api.twilio.com:{listen}/media",  # Twilio's name, not over https
        "https://api.twilio.com.evil.test/media",
    ]


def _deliver_mms(deliver_inbound: Any, url: str, sid: str) -> Entry:
    params = twilio_fixture("inbound_mms", NumMedia="1", MediaUrl0=url, MessageSid=sid, SmsSid=sid)
    del params["MediaUrl1"], params["MediaContentType1"]
    deliver_inbound(params)
    return Entry.objects.get(provider_id=sid)


@pytest.mark.django_db
def test_media_urls_aimed_at_internal_services_are_never_fetched(
    deliver_inbound, inbox_support, fake_twilio, listener, listener6, connections
) -> None:
    fake_port = int(fake_twilio.url.rsplit(":", 1)[1])
    listen6 = listener6.port if listener6 else listener.port
    urls = _hostile_urls(listener.port, listen6, fake_port)
    for n, url in enumerate(urls):
        entry = _deliver_mms(deliver_inbound, url, f"MM{n:032d}")
        attachment = entry.attachments.get()
        assert entry.body == "Here is the damaged box", url  # the message itself is stored
        assert attachment.state == Attachment.REFUSED, (url, attachment.state, attachment.error)
        assert "not Twilio's" in attachment.error, url
    assert listener.requests == []
    assert listener6 is None or listener6.requests == []
    assert connections == []
    assert Entry.objects.filter(kind="message").count() == len(urls)


@pytest.mark.django_db
def test_a_redirect_from_twilio_to_an_internal_address_is_not_followed(
    deliver_inbound, inbox_support, fake_twilio, listener, connections
) -> None:
    fake_port = int(fake_twilio.url.rsplit(":", 1)[1])
    targets = [
        f"http://127.0.0.1:{listener.port}/media",
        f"http://localhost:{listener.port}/media",
        "http://169.254.169.254/latest/meta-data/",
        f"http://127.0.0.1:{listener.port}\\@127.0.0.1:{fake_port}/media",
        f"//127.0.0.1:{listener.port}/media",
        "file:///etc/passwd",
    ]
    for n, target in enumerate(targets):
        fake_twilio.state.redirects[f"/media/ME{n}"] = target
        entry = _deliver_mms(deliver_inbound, f"{fake_twilio.url}/media/ME{n}", f"MM{n:032d}")
        attachment = entry.attachments.get()
        assert attachment.state == Attachment.REFUSED, (target, attachment.error)
    assert len(fake_twilio.state.media_requests) == len(targets)  # Twilio was asked, nothing further
    assert listener.requests == []
    assert {address for address in connections} == {("127.0.0.1", fake_port)}


@pytest.mark.django_db
def test_media_on_twilios_host_is_still_fetched(deliver_inbound, inbox_support, fake_twilio) -> None:
    """The refusals above are not a media fetcher that refuses everything."""
    fake_twilio.state.media["/media/ME0"] = (PNG, "image/png")
    fake_twilio.state.redirects["/media/ME1"] = f"{fake_twilio.url}/media/ME0"
    entry = _deliver_mms(deliver_inbound, f"{fake_twilio.url}/media/ME1", "MM" + "1" * 32)
    assert entry.attachments.get().state == Attachment.STORED


class _Response:
    def __init__(self, status: int, location: str = "") -> None:
        self.status_code = status
        self.headers = {"Location": location, "Content-Type": "image/png", "Content-Length": str(len(PNG))}
        self.is_redirect = bool(location)

    def iter_content(self, size: int) -> Iterator[bytes]:
        yield PNG

    def close(self) -> None:
        return


def test_credentials_go_to_the_api_host_only_never_to_the_cdn_a_redirect_names(monkeypatch, settings) -> None:
    settings.TWILIO_API_BASE_URL = "https://api.twilio.com"
    sent: list[tuple[str, Any]] = []
    hops = {
        "https://api.twilio.com/2010-04-01/Accounts/AC1/Messages/MM1/Media/ME1": _Response(
            307, "https://s3-external-1.media.twiliocdn.com/ME1?sig=1"
        ),
        "https://s3-external-1.media.twiliocdn.com/ME1?sig=1": _Response(200),
    }

    def get(self: Any, url: str, *, auth: Any = None, **kwargs: Any) -> _Response:
        sent.append((url, auth))
        return hops[url]

    monkeypatch.setattr("requests.Session.get", get)
    account = ProviderAccount(account_id="AC1", secret="token")
    content, _ = TwilioMessagingAdapter().fetch_media(
        "https://api.twilio.com/2010-04-01/Accounts/AC1/Messages/MM1/Media/ME1",
        account=account,
        max_bytes=10_000,
    )
    assert content == PNG
    assert sent == [
        ("https://api.twilio.com/2010-04-01/Accounts/AC1/Messages/MM1/Media/ME1", ("AC1", "token")),
        ("https://s3-external-1.media.twiliocdn.com/ME1?sig=1", None),
    ]


def test_the_api_hosts_name_on_another_port_or_scheme_gets_no_credentials(monkeypatch, settings) -> None:
    """Credentials follow the whole origin of TWILIO_API_BASE_URL, not just its host name."""
    from channels_adapters.sms import adapter

    settings.TWILIO_API_BASE_URL = "http://127.0.0.1:8999"
    assert adapter._is_api_host("http://127.0.0.1:8999/media")
    assert not adapter._is_api_host("http://127.0.0.1:6379/")
    assert not adapter._is_api_host("https://127.0.0.1:8999/media")


def test_twilio_media_hosts_are_allowed_only_over_https() -> None:
    assert media_host_allowed("https://api.twilio.com/2010-04-01/Accounts/AC1/Messages/MM1/Media/ME1")
    assert media_host_allowed("https://s3-external-1.media.twiliocdn.com/x")
    assert not media_host_allowed("http://api.twilio.com/x")
    assert not media_host_allowed("https://api.twilio.com.evil.test/x")
    assert not media_host_allowed("https://evil.test/api.twilio.com")
    assert not media_host_allowed("https://api.twilio.com:8443/x")


@pytest.mark.parametrize(
    "url",
    [
        "https://evil.test\\@api.twilio.com/x",
        "https://api.twilio.com@evil.test/",
        "https://user:pass@api.twilio.com/x",
        "https://api.twilio.com\t.evil.test/",
        "https://api.twilio.com:99999/x",
        "https://api.twilio.com /x",
    ],
)
def test_urls_two_parsers_could_read_differently_are_refused(url: str) -> None:
    assert media_url_checked(url) is None


def test_a_refusal_is_permanent_so_it_is_not_retried(settings) -> None:
    account = ProviderAccount(account_id="AC1", secret="token")
    with pytest.raises(AdapterError) as refused:
        TwilioMessagingAdapter().fetch_media("http://127.0.0.1:1/", account=account, max_bytes=10)
    assert refused.value.permanent


# --- voicemail recordings: the RecordingUrl of a (signed) recording or transcription callback -----------
@pytest.mark.django_db
@pytest.mark.parametrize("callback", ["recording", "transcription"])
def test_recording_urls_aimed_at_internal_services_are_never_fetched(
    callback,
    twilio_post,
    django_capture_on_commit_callbacks,
    inbox_support,
    fake_twilio,
    listener,
    listener6,
    connections,
) -> None:
    fake_port = int(fake_twilio.url.rsplit(":", 1)[1])
    listen6 = listener6.port if listener6 else listener.port
    urls = _hostile_urls(listener.port, listen6, fake_port)
    fixture = "voice_recording_completed" if callback == "recording" else "voice_transcription_completed"
    for n, url in enumerate(urls):
        call_sid = f"CA{n:032d}"
        params = twilio_fixture(fixture, CallSid=call_sid, RecordingSid=f"RE{n:032d}", RecordingUrl=url)
        if callback == "transcription":
            params["TranscriptionSid"] = f"TR{n:032d}"
        query = f"call={call_sid}&caller=%2B14155550142&called=%2B14155550100"
        with django_capture_on_commit_callbacks(execute=True):
            response = twilio_post(f"/webhooks/twilio/voice/{callback}/", params, query=query)
        assert response.status_code == 204, url
        entry = Entry.objects.get(provider_id=call_sid)
        assert entry.data["call_outcome"] == "voicemail", url  # the voicemail itself is recorded
        attachment = entry.attachments.get()
        assert attachment.state == Attachment.REFUSED, (url, attachment.state, attachment.error)
    assert listener.requests == []
    assert listener6 is None or listener6.requests == []
    assert connections == []


@pytest.mark.django_db
def test_a_recording_on_the_configured_api_host_is_fetched(
    twilio_post, django_capture_on_commit_callbacks, inbox_support, fake_twilio
) -> None:
    """The refusals above are not a fetcher that refuses every recording."""
    fake_twilio.state.media["/2010-04-01/Accounts/AC1/Recordings/RE1.mp3"] = (
        b"ID3" + b"\0" * 64,
        "audio/mpeg",
    )
    params = twilio_fixture(
        "voice_recording_completed", RecordingUrl=f"{fake_twilio.url}/2010-04-01/Accounts/AC1/Recordings/RE1"
    )
    query = f"call={params['CallSid']}&caller=%2B14155550142&called=%2B14155550100"
    with django_capture_on_commit_callbacks(execute=True):
        twilio_post("/webhooks/twilio/voice/recording/", params, query=query)
    attachment = Attachment.objects.get()
    assert (attachment.state, attachment.content_type) == (Attachment.STORED, "audio/mpeg")


# --- the second layer: Twilio's own names, resolved to internal addresses --------------------------------
@pytest.mark.django_db
def test_twilios_names_are_refused_when_they_resolve_to_internal_addresses(
    deliver_inbound, inbox_support, fake_twilio, listener, connections, monkeypatch
) -> None:
    """A poisoned resolver or a hostile network answers Twilio's names with internal addresses: the host
    allow-list passes them, config/safe_http refuses them, and nothing internal is connected to."""
    real = socket.getaddrinfo
    internal = {
        "api.twilio.com": "127.0.0.1",
        "media.twiliocdn.com": "169.254.169.254",
        "x.twilio.com": "10.0.0.1",
    }

    def getaddrinfo(host: Any, port: Any, *args: Any, **kwargs: Any) -> Any:
        if host in internal:
            return [(socket.AF_INET, socket.SOCK_STREAM, 6, "", (internal[host], int(port)))]
        return real(host, port, *args, **kwargs)

    monkeypatch.setattr(socket, "getaddrinfo", getaddrinfo)
    fake_port = int(fake_twilio.url.rsplit(":", 1)[1])
    fake_twilio.state.redirects["/media/ME0"] = "https://media.twiliocdn.com/ME0"
    urls = [
        "https://api.twilio.com/2010-04-01/Accounts/AC1/Messages/MM1/Media/ME1",
        "https://x.twilio.com/media",
        f"{fake_twilio.url}/media/ME0",
    ]
    for n, url in enumerate(urls):
        attachment = _deliver_mms(deliver_inbound, url, f"MM{n:032d}").attachments.get()
        assert attachment.state == Attachment.REFUSED, (url, attachment.error)
        assert "resolves to" in attachment.error and "not Twilio's" not in attachment.error, attachment.error
        assert attachment.attempts == 1  # permanent: not retried
    assert listener.requests == []
    assert connections == [("127.0.0.1", fake_port)]  # only the fake, for the redirect

"""A local fake of the slice of Twilio's REST API the hub uses, served over real HTTP.

The Twilio SDK's own request-building code runs against it (TWILIO_API_BASE_URL points here). It checks
basic auth, records every message created, fetches every MediaUrl it is given (as Twilio does before it sends
an MMS or WhatsApp file; a URL that does not answer 200 fails the message with error 11200), lists messages
for reconciliation, serves media, and can be told to
fail a number with a Twilio error code, to answer too late, or to accept a message and hold its answer until
released (a worker killed while Twilio has already accepted).
"""

from __future__ import annotations

import base64
import contextlib
import json
import secrets
import threading
import time
import urllib.error
import urllib.request
from collections.abc import Callable
from dataclasses import dataclass, field
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any
from urllib.parse import parse_qs, urlsplit


@dataclass
class FakeTwilioState:
    account_sid: str
    auth_token: str
    messages: list[dict[str, Any]] = field(default_factory=list)
    calls: list[dict[str, Any]] = field(default_factory=list)
    # To number -> (HTTP status, Twilio error code, message)
    failures: dict[str, tuple[int, int, str]] = field(default_factory=dict)
    # Seconds to wait after recording a message before answering (a read timeout on the client side).
    answer_delay_s: float = 0.0
    # While set, a message is recorded (accepted) and its answer held until `released` is set.
    holding: bool = False
    released: threading.Event = field(default_factory=threading.Event)
    media: dict[str, tuple[bytes, str]] = field(default_factory=dict)
    redirects: dict[str, str] = field(default_factory=dict)
    media_requests: list[dict[str, Any]] = field(default_factory=list)
    # The Content API's templates (GET /v1/ContentAndApprovals), as Twilio lists them.
    templates: list[dict[str, Any]] = field(default_factory=list)
    # Served for any recording not in `media` (simulate_call makes up its RecordingSids).
    any_recording: tuple[bytes, str] | None = None
    # Deleting a message, call or recording: the sids deleted, the ones that answer an error, and the
    # messages whose body was redacted (POST Body="" to the message).
    deleted: list[str] = field(default_factory=list)
    delete_failures: dict[str, tuple[int, int, str]] = field(default_factory=dict)
    redacted: list[str] = field(default_factory=list)
    # Every MediaUrl fetched: {"url", "status", "content_type", "content"}. `media_fetcher` replaces the HTTP
    # GET (tests with no server running fetch through Django's test client).
    fetched_media: list[dict[str, Any]] = field(default_factory=list)
    media_fetcher: Callable[[str], tuple[int, str, bytes]] | None = None
    lock: threading.Lock = field(default_factory=threading.Lock)


def http_fetch(url: str) -> tuple[int, str, bytes]:
    """GET a URL as Twilio's media fetcher does: status, Content-Type and body."""
    try:
        with urllib.request.urlopen(url, timeout=10) as response:
            return response.status, response.headers.get("Content-Type", ""), response.read()
    except urllib.error.HTTPError as error:
        return error.code, error.headers.get("Content-Type", ""), b""
    except OSError:
        return 0, "", b""


class FakeTwilioServer:
    def __init__(self, account_sid: str, auth_token: str) -> None:
        self.state = FakeTwilioState(account_sid=account_sid, auth_token=auth_token)
        handler = type("Handler", (_Handler,), {"state": self.state})
        self.httpd = ThreadingHTTPServer(("127.0.0.1", 0), handler)
        self.httpd.daemon_threads = True
        self.thread = threading.Thread(target=self.httpd.serve_forever, daemon=True)

    @property
    def url(self) -> str:
        host, port = self.httpd.server_address[:2]
        return f"http://{host}:{port}"

    def start(self) -> FakeTwilioServer:
        self.thread.start()
        return self

    def stop(self) -> None:
        self.release()
        self.httpd.shutdown()
        self.httpd.server_close()

    def hold(self) -> None:
        """Accept messages but answer none of them until `release()`."""
        self.state.released.clear()
        self.state.holding = True

    def release(self) -> None:
        self.state.holding = False
        self.state.released.set()

    @property
    def calls(self) -> list[dict[str, Any]]:
        with self.state.lock:
            return list(self.state.calls)

    @property
    def messages(self) -> list[dict[str, Any]]:
        with self.state.lock:
            return list(self.state.messages)

    @property
    def fetched_media(self) -> list[dict[str, Any]]:
        with self.state.lock:
            return list(self.state.fetched_media)

    def wait_for_messages(self, count: int, timeout: float = 10.0) -> list[dict[str, Any]]:
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            if len(self.messages) >= count:
                return self.messages
            time.sleep(0.05)
        raise AssertionError(f"expected {count} messages at the fake Twilio API, got {len(self.messages)}")


class _Handler(BaseHTTPRequestHandler):
    state: FakeTwilioState

    def log_message(self, format: str, *args: Any) -> None:
        return

    def _authorized(self) -> bool:
        expected = base64.b64encode(f"{self.state.account_sid}:{self.state.auth_token}".encode()).decode()
        return self.headers.get("Authorization", "") == f"Basic {expected}"

    def _json(self, status: int, payload: Any) -> None:
        body = json.dumps(payload).encode()
        self.send_response(status)
        self.send_header("Content-Type", "application/json")
        self.send_header("Content-Length", str(len(body)))
        self.end_headers()
        self.wfile.write(body)

    def do_POST(self) -> None:
        path = urlsplit(self.path).path
        length = int(self.headers.get("Content-Length", "0"))
        form = {k: v if len(v) > 1 else v[0] for k, v in parse_qs(self.rfile.read(length).decode()).items()}
        if path.endswith("/Calls.json"):
            self._call_create(form)
            return
        if "/Messages/" in path and path.endswith(".json"):
            self._message_redact(path, form)
            return
        if not path.endswith("/Messages.json"):
            self._json(404, {"code": 20404, "message": "Not found", "status": 404})
            return
        if not self._authorized():
            self._json(401, {"code": 20003, "message": "Authenticate", "status": 401})
            return
        to = str(form.get("To", ""))
        failure = self.state.failures.get(to)
        if failure is not None:
            status, code, message = failure
            self._json(
                status,
                {
                    "code": code,
                    "message": message,
                    "status": status,
                    "more_info": f"https://www.twilio.com/docs/errors/{code}",
                },
            )
            return
        sid = "SM" + secrets.token_hex(16)
        media_urls = form.get("MediaUrl") or []
        media_urls = [media_urls] if isinstance(media_urls, str) else list(media_urls)
        retrieval_failed = False
        for url in media_urls:
            status, content_type, content = (self.state.media_fetcher or http_fetch)(url)
            retrieval_failed = retrieval_failed or status != 200
            with self.state.lock:
                self.state.fetched_media.append(
                    {"url": url, "status": status, "content_type": content_type, "content": content}
                )
        record = {
            "sid": sid,
            "account_sid": self.state.account_sid,
            "to": to,
            "from": form.get("From", ""),
            "messaging_service_sid": form.get("MessagingServiceSid"),
            "body": form.get("Body", ""),
            "status": "failed" if retrieval_failed else "queued",
            "status_callback": form.get("StatusCallback"),
            "media_url": form.get("MediaUrl"),
            "num_media": str(len(media_urls)),
            "content_sid": form.get("ContentSid"),
            "content_variables": json.loads(str(form["ContentVariables"]))
            if form.get("ContentVariables")
            else None,
            "date_created": time.strftime("%a, %d %b %Y %H:%M:%S +0000", time.gmtime()),
            "date_sent": time.strftime("%a, %d %b %Y %H:%M:%S +0000", time.gmtime()),
            "direction": "outbound-api",
            "num_segments": "1",
            "error_code": 11200 if retrieval_failed else None,
            "error_message": "HTTP retrieval failure" if retrieval_failed else None,
            "uri": f"/2010-04-01/Accounts/{self.state.account_sid}/Messages/{sid}.json",
        }
        with self.state.lock:
            self.state.messages.append(record)
        if self.state.answer_delay_s:
            time.sleep(self.state.answer_delay_s)
        if self.state.holding:
            self.state.released.wait(timeout=600)
        # A client killed while it waited is gone: Twilio has the message all the same.
        with contextlib.suppress(OSError):
            self._json(201, record)

    def _message_redact(self, path: str, form: dict[str, Any]) -> None:
        """Updating a message: only redaction (an empty Body) is supported, as on Twilio."""
        if not self._authorized():
            self._json(401, {"code": 20003, "message": "Authenticate", "status": 401})
            return
        sid = path.rsplit("/", 1)[1].removesuffix(".json")
        with self.state.lock:
            self.state.redacted.append(sid)
            for message in self.state.messages:
                if message["sid"] == sid and form.get("Body") == "":
                    message["body"] = ""
        self._json(200, {"sid": sid, "account_sid": self.state.account_sid, "body": ""})

    def do_DELETE(self) -> None:
        """Deleting a message, call or recording: 204, or the error set for its sid."""
        path = urlsplit(self.path).path
        if not any(f"/{kind}/" in path for kind in ("Messages", "Calls", "Recordings")):
            self._json(404, {"code": 20404, "message": "Not found", "status": 404})
            return
        if not self._authorized():
            self._json(401, {"code": 20003, "message": "Authenticate", "status": 401})
            return
        sid = path.rsplit("/", 1)[1].removesuffix(".json")
        failure = self.state.delete_failures.get(sid)
        if failure is not None:
            status, code, message = failure
            self._json(status, {"code": code, "message": message, "status": status})
            return
        with self.state.lock:
            self.state.deleted.append(sid)
            self.state.messages = [m for m in self.state.messages if m["sid"] != sid]
        self.send_response(204)
        self.send_header("Content-Length", "0")
        self.end_headers()

    def _content_and_approvals(self, query: str) -> None:
        """The templates in pages of PageSize, with Twilio's `meta` (the SDK follows next_page_url)."""
        if not self._authorized():
            self._json(401, {"code": 20003, "message": "Authenticate", "status": 401})
            return
        params = parse_qs(query)
        size = int(params.get("PageSize", ["50"])[0])
        page = int(params.get("Page", ["0"])[0])
        with self.state.lock:
            items = self.state.templates[page * size : (page + 1) * size]
            more = len(self.state.templates) > (page + 1) * size
        base = f"http://{self.headers.get('Host')}/v1/ContentAndApprovals"
        self._json(
            200,
            {
                "contents": [{"account_sid": self.state.account_sid, **item} for item in items],
                "meta": {
                    "page": page,
                    "page_size": size,
                    "first_page_url": f"{base}?PageSize={size}&Page=0",
                    "previous_page_url": None,
                    "url": f"{base}?PageSize={size}&Page={page}",
                    "next_page_url": f"{base}?PageSize={size}&Page={page + 1}" if more else None,
                    "key": "contents",
                },
            },
        )

    def _call_create(self, form: dict[str, Any]) -> None:
        """Calls.create: recorded as asked (who to ring, from which number, which TwiML URL and callbacks)."""
        if not self._authorized():
            self._json(401, {"code": 20003, "message": "Authenticate", "status": 401})
            return
        to = str(form.get("To", ""))
        failure = self.state.failures.get(to)
        if failure is not None:
            status, code, message = failure
            self._json(status, {"code": code, "message": message, "status": status})
            return
        sid = "CA" + secrets.token_hex(16)
        events = form.get("StatusCallbackEvent")
        record = {
            "sid": sid,
            "account_sid": self.state.account_sid,
            "to": to,
            "from": form.get("From", ""),
            "url": form.get("Url"),
            "method": form.get("Method"),
            "status_callback": form.get("StatusCallback"),
            "status_callback_event": events if isinstance(events, list) else [events] if events else [],
            "status": "queued",
            "direction": "outbound-api",
            "date_created": time.strftime("%a, %d %b %Y %H:%M:%S +0000", time.gmtime()),
            "uri": f"/2010-04-01/Accounts/{self.state.account_sid}/Calls/{sid}.json",
        }
        with self.state.lock:
            self.state.calls.append(record)
        self._json(201, record)

    def do_GET(self) -> None:
        parts = urlsplit(self.path)
        if parts.path == "/v1/ContentAndApprovals":
            self._content_and_approvals(parts.query)
            return
        if parts.path in self.state.redirects:
            self.state.media_requests.append({"path": parts.path, "auth": self.headers.get("Authorization")})
            self.send_response(307)
            self.send_header("Location", self.state.redirects[parts.path])
            self.end_headers()
            return
        recording = self.state.any_recording if "/Recordings/" in parts.path else None
        if parts.path in self.state.media or recording is not None:
            self.state.media_requests.append({"path": parts.path, "auth": self.headers.get("Authorization")})
            if not self._authorized():
                self._json(401, {"code": 20003, "message": "Authenticate", "status": 401})
                return
            content, content_type = self.state.media.get(parts.path) or recording or (b"", "")
            self.send_response(200)
            self.send_header("Content-Type", content_type)
            self.send_header("Content-Length", str(len(content)))
            self.end_headers()
            self.wfile.write(content)
            return
        if parts.path.endswith("/Messages.json"):
            if not self._authorized():
                self._json(401, {"code": 20003, "message": "Authenticate", "status": 401})
                return
            query = parse_qs(parts.query)
            to = query.get("To", [""])[0]
            with self.state.lock:
                found = [m for m in self.state.messages if not to or m["to"] == to]
            self._json(
                200,
                {
                    "messages": list(reversed(found)),
                    "end": 0,
                    "start": 0,
                    "page": 0,
                    "page_size": 50,
                    "first_page_uri": parts.path,
                    "next_page_uri": None,
                    "previous_page_uri": None,
                    "uri": self.path,
                },
            )
            return
        self._json(404, {"code": 20404, "message": "Not found", "status": 404})

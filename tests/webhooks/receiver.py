"""A webhook receiver on 127.0.0.1, as a customer would write one: it checks every request with the Standard
Webhooks library from PyPI (not the hub's own code), answers 400 to one it cannot verify, and can be told to
fail, hang or redirect for its first requests."""

from __future__ import annotations

import json
import threading
import time
from dataclasses import dataclass, field
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any

from standardwebhooks import Webhook


@dataclass
class Received:
    headers: dict[str, str]
    body: bytes
    verified_with: list[str]  # the secrets whose signature verified
    answered: int

    @property
    def id(self) -> str:
        return self.headers["webhook-id"]

    @property
    def json(self) -> Any:
        return json.loads(self.body)


@dataclass
class Receiver:
    secrets: list[str] = field(default_factory=list)
    fail_first: int = 0  # answer 500 to this many requests first
    hang_s: float = 0.0  # wait this long before answering
    redirect_to: str = ""  # answer 302 to here
    received: list[Received] = field(default_factory=list)
    connections: set[tuple[str, int]] = field(default_factory=set)  # client (address, port): keep-alive reuse
    server: ThreadingHTTPServer | None = None
    lock: threading.Lock = field(default_factory=threading.Lock)

    @property
    def url(self) -> str:
        assert self.server is not None
        return f"http://127.0.0.1:{self.server.server_address[1]}/hooks/hub"

    def start(self) -> Receiver:
        receiver = self

        class Handler(BaseHTTPRequestHandler):
            protocol_version = "HTTP/1.1"  # keep-alive, as a production server

            def do_POST(self) -> None:
                body = self.rfile.read(int(self.headers.get("Content-Length") or 0))
                headers = {key.lower(): value for key, value in self.headers.items()}
                verified = []
                for secret in receiver.secrets:
                    try:
                        Webhook(secret).verify(body, headers)
                        verified.append(secret)
                    except Exception:  # not verified with this one
                        pass
                with receiver.lock:
                    receiver.connections.add(self.client_address)
                    n = len(receiver.received)
                    status = 204
                    if not verified:
                        status = 400
                    elif n < receiver.fail_first:
                        status = 500
                    elif receiver.redirect_to:
                        status = 302
                    receiver.received.append(Received(headers, body, verified, status))
                if receiver.hang_s:
                    time.sleep(receiver.hang_s)
                answer = {204: b"", 400: b"bad signature", 500: b"<html>busy, try later</html>" * 40}.get(
                    status, b""
                )
                self.send_response(status)
                if status == 302:
                    self.send_header("Location", receiver.redirect_to)
                self.send_header("Content-Length", str(len(answer)))
                self.end_headers()
                self.wfile.write(answer)

            def log_message(self, format: str, *args: Any) -> None:
                pass

        self.server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self.server.daemon_threads = True
        threading.Thread(target=self.server.serve_forever, args=(0.05,), daemon=True).start()
        return self

    def stop(self) -> None:
        if self.server is not None:
            self.server.shutdown()
            self.server.server_close()

    def ids(self, *, answered: int | None = None) -> list[str]:
        return [r.id for r in self.received if answered is None or r.answered == answered]

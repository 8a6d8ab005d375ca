"""The websocket handshake's Origin check (cross-site websocket hijacking).

Channels' AllowedHostsOriginValidator compares only the Origin's host with ALLOWED_HOSTS, so a page on
another port of the same host (`http://127.0.0.1:9999`), or served over the other scheme, passes, and
such a page is same-site: the browser sends it the agent's session cookie. Here the whole origin
(scheme, host and port) must be the hub's own: PUBLIC_BASE_URL's, one of CSRF_TRUSTED_ORIGINS, or the
origin of the Host the handshake was sent to (when that host is an allowed one), as Django's CSRF
check decides for forms. A missing Origin or `null` is refused.
"""

from __future__ import annotations

import logging
from typing import Any
from urllib.parse import urlsplit

from channels.routing import URLRouter
from channels.security.websocket import WebsocketDenier
from django.conf import settings
from django.http.request import split_domain_port, validate_host

Scope = dict[str, Any]

logger = logging.getLogger("hub.websocket")

_DEFAULT_PORTS = {"http": 80, "https": 443}


def origin_normalized(value: str) -> str | None:
    """`scheme://host:port` with the default port made explicit, or None for anything that is not an origin."""
    parts = urlsplit(value.strip())
    if parts.scheme not in _DEFAULT_PORTS or not parts.hostname:
        return None
    if parts.username is not None or parts.path not in ("", "/") or parts.query or parts.fragment:
        return None
    try:
        port = parts.port or _DEFAULT_PORTS[parts.scheme]
    except ValueError:
        return None
    return f"{parts.scheme}://{parts.hostname.lower()}:{port}"


def _header(scope: Scope, name: bytes) -> str | None:
    values = [value for key, value in scope.get("headers", []) if key.lower() == name]
    if len(values) != 1:
        return None  # absent, or sent twice: nothing to trust
    try:
        return str(values[0].decode("latin1"))
    except UnicodeDecodeError:
        return None


def allowed_origins(scope: Scope) -> set[str]:
    candidates = [settings.PUBLIC_BASE_URL, *settings.CSRF_TRUSTED_ORIGINS]
    host = _header(scope, b"host")
    if host:
        domain, _port = split_domain_port(host)
        if domain and validate_host(domain, settings.ALLOWED_HOSTS):
            scheme = "https" if scope.get("scheme") in ("wss", "https") else "http"
            candidates.append(f"{scheme}://{host}")
    return {origin for origin in map(origin_normalized, candidates) if origin}


def websocket_origin_allowed(scope: Scope) -> bool:
    origin = _header(scope, b"origin")
    if origin is None:
        return False
    normalized = origin_normalized(origin)
    return normalized is not None and normalized in allowed_origins(scope)


class SameOriginValidator:
    """ASGI middleware: a handshake whose Origin is not the hub's own is denied (HTTP 403)."""

    def __init__(self, application: Any) -> None:
        self.application = application

    async def __call__(self, scope: Scope, receive: Any, send: Any) -> Any:
        if scope["type"] == "websocket" and not websocket_origin_allowed(scope):
            return await WebsocketDenier()(scope, receive, send)
        return await self.application(scope, receive, send)


class WebsocketRouter(URLRouter):  # type: ignore[misc]
    """Channels' URLRouter, except that a handshake for a path it has no route for is refused (HTTP 403) with
    one warning line, as Django logs a 404. URLRouter raises ValueError there: a 500 and a traceback in the
    log for every stale page or probe."""

    async def __call__(self, scope: Scope, receive: Any, send: Any) -> Any:
        if scope["type"] == "websocket" and not self._has_route(scope):
            logger.warning("Websocket handshake refused: no route for %r", str(scope.get("path", ""))[:200])
            return await WebsocketDenier()(scope, receive, send)
        return await super().__call__(scope, receive, send)

    def _has_route(self, scope: Scope) -> bool:
        path, root = str(scope.get("path", "")), str(scope.get("root_path", ""))
        if not path.startswith(root):
            return False
        return any(route.pattern.match(path[len(root) :].lstrip("/")) for route in self.routes)


class WidgetOrAgent:
    """ASGI: `/ws/webchat/...` goes to the widget's router (its own origin check), anything else to the agents'."""

    PREFIX = "/ws/webchat/"

    def __init__(self, *, widget: Any, agent: Any) -> None:
        self.widget, self.agent = widget, agent

    async def __call__(self, scope: Scope, receive: Any, send: Any) -> Any:
        if str(scope.get("path", "")).startswith(self.PREFIX):
            return await self.widget(scope, receive, send)
        return await self.agent(scope, receive, send)

"""Rate limits for the doors a password guesser knocks on: the login form and the API token endpoint.

Counters live in Django's cache (Redis when REDIS_URL is set, so every process shares them; memory
otherwise), in fixed windows: one key per identity and window, incremented atomically. Rates are
`count/period` as in THROTTLE_RATES: `10/15m`, `30/h`, `5/min`.
"""

from __future__ import annotations

import hashlib
import re
import time
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

from django.conf import settings
from django.core.cache import cache
from django.http import HttpRequest
from rest_framework.exceptions import ParseError, UnsupportedMediaType
from rest_framework.request import Request
from rest_framework.throttling import BaseThrottle

# What the throttles read the time from; tests move it instead of sleeping through windows.
clock: Callable[[], float] = time.time
# Cache keys start with this; each test gets its own, so counters never leak from one test to the next.
KEY_NAMESPACE = "throttle"

_RATE = re.compile(r"^\s*(\d+)\s*/\s*(\d*)\s*([smhd])[a-z]*\s*$", re.IGNORECASE)
_UNITS = {"s": 1, "m": 60, "h": 3600, "d": 86400}


@dataclass(frozen=True)
class Rate:
    count: int
    window_s: int


def rate_parse(value: str) -> Rate:
    """`10/15m` -> 10 per 900 s; `5/min` -> 5 per 60 s; `100/d` -> 100 per day."""
    match = _RATE.match(value)
    if match is None:
        raise ValueError(f"Not a rate: {value!r}; write it as count/period, e.g. 10/15m or 30/h")
    count, multiple, unit = match.groups()
    return Rate(count=int(count), window_s=int(multiple or 1) * _UNITS[unit.lower()])


def rate_for(scope: str) -> Rate:
    return rate_parse(settings.THROTTLE_RATES[scope])


def client_ip(request: HttpRequest) -> str:
    """The client's address: REMOTE_ADDR, or with NUM_PROXIES in front, the address the outermost of them saw.

    X-Forwarded-For is only read as far as our own proxies wrote it: a client can put anything at its start.
    """
    return address_behind_proxies(
        remote=str(request.META.get("REMOTE_ADDR", "")),
        forwarded=str(request.META.get("HTTP_X_FORWARDED_FOR", "")),
    )


def scope_client_ip(scope: dict[str, Any]) -> str:
    """The same for a websocket's ASGI scope."""
    client = scope.get("client") or ("", 0)
    forwarded = [v for k, v in scope.get("headers", []) if k.lower() == b"x-forwarded-for"]
    return address_behind_proxies(
        remote=str(client[0] or ""), forwarded=b",".join(forwarded).decode("latin1")
    )


def address_behind_proxies(*, remote: str, forwarded: str) -> str:
    proxies = settings.NUM_PROXIES
    if proxies <= 0 or not forwarded:
        return remote
    addresses = [address.strip() for address in forwarded.split(",") if address.strip()]
    return addresses[-min(proxies, len(addresses))] if addresses else remote


def _key(scope: str, ident: str, window: int) -> str:
    digest = hashlib.sha256(ident.encode("utf-8", "surrogatepass")).hexdigest()[:32]
    return f"{KEY_NAMESPACE}:{scope}:{digest}:{window}"


def throttle_wait(*, scope: str, ident: str) -> float | None:
    """Seconds until `ident` may try again when it has used up its rate in this window, else None."""
    rate = rate_for(scope)
    now = clock()
    window = int(now // rate.window_s)
    used = cache.get(_key(scope, ident, window), 0)
    if used < rate.count:
        return None
    return max(1.0, (window + 1) * rate.window_s - now)


def throttle_hit(*, scope: str, ident: str) -> int:
    """Count one attempt by `ident` in the current window; returns the count so far."""
    rate = rate_for(scope)
    window = int(clock() // rate.window_s)
    key = _key(scope, ident, window)
    # The key outlives its window a little in real time; the clock, not the expiry, decides the window.
    cache.add(key, 0, timeout=rate.window_s + 60)
    try:
        return int(cache.incr(key))
    except ValueError:  # expired between add and incr
        cache.set(key, 1, timeout=rate.window_s + 60)
        return 1


def username_ident(username: str) -> str:
    return username.strip().casefold()


# --- the login form ---------------------------------------------------------------------------------
LOGIN_IP, LOGIN_USERNAME = "login_ip", "login_username"


def login_wait(request: HttpRequest, username: str) -> float | None:
    """How long this client (or anyone trying this username) must wait after too many failed logins."""
    waits = [
        throttle_wait(scope=LOGIN_IP, ident=client_ip(request)),
        throttle_wait(scope=LOGIN_USERNAME, ident=username_ident(username)) if username.strip() else None,
    ]
    found = [wait for wait in waits if wait is not None]
    return max(found) if found else None


def login_failure_record(request: HttpRequest, username: str) -> None:
    throttle_hit(scope=LOGIN_IP, ident=client_ip(request))
    if username.strip():
        throttle_hit(scope=LOGIN_USERNAME, ident=username_ident(username))


# --- the API token endpoint (DRF throttles) -----------------------------------------------------------
class _ScopedThrottle(BaseThrottle):
    scope = ""

    def __init__(self) -> None:
        self._wait: float | None = None

    def ident(self, request: Request) -> str:
        raise NotImplementedError

    def allow_request(self, request: Request, view: Any) -> bool:
        ident = self.ident(request)
        if not ident:
            return True
        self._wait = throttle_wait(scope=self.scope, ident=ident)
        if self._wait is not None:
            return False
        throttle_hit(scope=self.scope, ident=ident)
        return True

    def wait(self) -> float | None:
        return self._wait


class TokenIPThrottle(_ScopedThrottle):
    """Token requests per client address."""

    scope = "token_ip"

    def ident(self, request: Request) -> str:
        return client_ip(request._request)


class TokenUsernameThrottle(_ScopedThrottle):
    """Token requests per username, from whatever addresses they come."""

    scope = "token_username"

    def ident(self, request: Request) -> str:
        try:
            username = request.data.get("username", "") if hasattr(request.data, "get") else ""
        except (ParseError, UnsupportedMediaType):  # the view answers 400/415 for it
            return ""
        return username_ident(str(username)) if username else ""

"""Who is making the current change: the logged-in user of the request being served, for the settings audit
trail, which hears of changes through model signals (product pages, the API and /admin/ alike) and so
never sees the request itself. Outside a request (a command, a task) there is no actor."""

from __future__ import annotations

from collections.abc import Awaitable, Callable
from contextvars import ContextVar
from typing import Any

from asgiref.sync import iscoroutinefunction, markcoroutinefunction
from django.http import HttpRequest
from django.http.response import HttpResponseBase

_request: ContextVar[HttpRequest | None] = ContextVar("hub_actor_request", default=None)


def current_actor() -> Any:
    """The authenticated user making the change, or None."""
    request = _request.get()
    user = getattr(request, "user", None) if request is not None else None
    return user if user is not None and user.is_authenticated else None


class ActorMiddleware:
    """Remembers the request for the duration of the view (after AuthenticationMiddleware)."""

    sync_capable = True
    async_capable = True

    def __init__(self, get_response: Callable[[HttpRequest], Any]) -> None:
        self.get_response = get_response
        self.is_async = iscoroutinefunction(get_response)
        if self.is_async:
            markcoroutinefunction(self)

    def __call__(self, request: HttpRequest) -> HttpResponseBase | Awaitable[HttpResponseBase]:
        if self.is_async:
            return self._acall(request)
        token = _request.set(request)
        try:
            response: HttpResponseBase = self.get_response(request)
            return response
        finally:
            _request.reset(token)

    async def _acall(self, request: HttpRequest) -> HttpResponseBase:
        token = _request.set(request)
        try:
            response: HttpResponseBase = await self.get_response(request)
            return response
        finally:
            _request.reset(token)

"""What every screen of the hub shares: who may open it (agents; managers and admins), the JSON error, and an
entry drawn as the thread draws it. The workspace (inbox/), the reports and the lifecycle screens use these.
"""

from __future__ import annotations

from collections.abc import Callable
from functools import wraps
from typing import Any

from django.contrib.auth.decorators import login_required
from django.contrib.auth.models import User
from django.core.exceptions import PermissionDenied as DjangoPermissionDenied
from django.http import Http404, HttpRequest, JsonResponse
from django.http.response import HttpResponseBase
from django.template.loader import render_to_string

from config.errors import HubError, NotFound
from conversations.models import Entry
from conversations.selectors import agent_profile, agent_sees_everything

View = Callable[..., HttpResponseBase]


def agent_required(view: View) -> View:
    @login_required
    @wraps(view)
    def wrapper(request: HttpRequest, *args: Any, **kwargs: Any) -> HttpResponseBase:
        if not (agent_sees_everything(request.user) or agent_profile(request.user) is not None):
            raise DjangoPermissionDenied("This account is not an agent of the hub.")
        try:
            return view(request, *args, **kwargs)
        except NotFound as error:
            raise Http404(error.message) from error

    return wrapper


def manager_required(view: View) -> View:
    """Managers and admins only (the reports): an agent gets 403, an anonymous visitor the login page."""

    @agent_required
    @wraps(view)
    def wrapper(request: HttpRequest, *args: Any, **kwargs: Any) -> HttpResponseBase:
        if not agent_sees_everything(request.user):
            raise DjangoPermissionDenied("The reports are for managers and admins.")
        return view(request, *args, **kwargs)

    return wrapper


def request_agent(request: HttpRequest) -> User:
    """The logged-in agent (agent_required has already turned everyone else away)."""
    user = request.user
    assert isinstance(user, User)
    return user


def json_error(error: HubError) -> JsonResponse:
    return JsonResponse({"error": error.message, "code": error.code}, status=error.status_code)


def entry_json(entry_id: int) -> dict[str, Any]:
    entry = Entry.objects.select_related("author", "inbox").prefetch_related("attachments").get(pk=entry_id)
    return {
        "id": entry.pk,
        "version": entry.version,
        "html": render_to_string("conversations/_entry.html", {"entry": entry}),
    }

from __future__ import annotations

from typing import Any

from django.http import HttpRequest, HttpResponse, JsonResponse
from django.views import defaults
from rest_framework.response import Response
from rest_framework.views import exception_handler as drf_exception_handler

from config.errors import HubError


def exception_handler(exc: Exception, context: dict[str, Any]) -> Response | None:
    """Application errors become JSON with a message a person can act on; the rest as DRF renders them."""
    if isinstance(exc, HubError):
        return Response({"detail": exc.message, "code": exc.code}, status=exc.status_code)
    return drf_exception_handler(exc, context)


def page_not_found(request: HttpRequest, exception: Exception) -> HttpResponse:
    """Django's 404 for pages; under /api/ (a URL no route matches, e.g. a non-numeric id) JSON as DRF's."""
    if request.path.startswith("/api/"):
        return JsonResponse({"detail": "Not found.", "code": "not_found"}, status=404)
    return defaults.page_not_found(request, exception)

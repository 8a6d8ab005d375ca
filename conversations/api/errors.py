from __future__ import annotations

from typing import Any

from rest_framework.response import Response
from rest_framework.views import exception_handler as drf_exception_handler

from config.errors import HubError


def exception_handler(exc: Exception, context: dict[str, Any]) -> Response | None:
    """Application errors become JSON with a message a person can act on; the rest as DRF renders them."""
    if isinstance(exc, HubError):
        return Response({"detail": exc.message, "code": exc.code}, status=exc.status_code)
    return drf_exception_handler(exc, context)

"""`GET /widget.js`: the widget, one plain script with no build step, served by the hub for any site to embed;
and the visitor's file uploads."""

from __future__ import annotations

from functools import cache
from pathlib import Path

from django.http import HttpRequest, HttpResponse, JsonResponse
from django.views.decorators.csrf import csrf_exempt
from django.views.decorators.http import require_GET, require_POST

from channels_adapters.webchat.services import WebchatRefused, webchat_upload_store, widget_inbox
from config.throttling import client_ip

WIDGET = Path(__file__).with_name("widget.js")


@cache
def _widget_source() -> bytes:
    return WIDGET.read_bytes()


@require_GET
def widget_js(request: HttpRequest) -> HttpResponse:
    response = HttpResponse(_widget_source(), content_type="application/javascript; charset=utf-8")
    # Short: a new version reaches every site within minutes. Any site may load it (a classic script).
    response["Cache-Control"] = "public, max-age=300"
    response["Cross-Origin-Resource-Policy"] = "cross-origin"
    response["Access-Control-Allow-Origin"] = "*"
    return response


@csrf_exempt  # another site's page posts here: the visitor token and the inbox's allowed origins decide
@require_POST
def widget_upload(request: HttpRequest) -> JsonResponse:
    """`POST /webchat/uploads/` (`widget_key`, `visitor`, `file`): a file the visitor attaches, answered with a
    reference the visitor's next message sends."""
    origin = request.headers.get("Origin")
    inbox = widget_inbox(widget_key=str(request.POST.get("widget_key", "")), origin=origin)
    if inbox is None:
        return JsonResponse({"error": "This site may not use this chat."}, status=403)
    try:
        stored = webchat_upload_store(
            inbox=inbox,
            token=request.POST.get("visitor"),
            upload=request.FILES.get("file"),
            ip=client_ip(request),
        )
        response = JsonResponse(stored, status=201)
    except WebchatRefused as error:
        response = JsonResponse({"error": error.message, "code": error.code}, status=400)
    response["Access-Control-Allow-Origin"] = str(origin)
    response["Vary"] = "Origin"
    return response


NOT_AVAILABLE = "Chat is not available on this page."


@require_GET
def widget_available(request: HttpRequest) -> JsonResponse:
    """`GET /webchat/available/?key=<widget_key>`: asked by the widget when its socket was refused, so the
    visitor reads why instead of an empty panel. Says only whether this page's origin may use the chat."""
    inbox = widget_inbox(widget_key=str(request.GET.get("key", "")), origin=request.headers.get("Origin"))
    body = {"available": True} if inbox is not None else {"available": False, "message": NOT_AVAILABLE}
    response = JsonResponse(body)
    response["Access-Control-Allow-Origin"] = "*"
    response["Cache-Control"] = "no-store"
    return response

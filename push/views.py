"""The installable app (manifest, service worker, offline page) and the agent's devices for Web Push."""

from __future__ import annotations

import hashlib
import json
from functools import cache

from django.conf import settings
from django.contrib.staticfiles import finders
from django.http import HttpRequest, HttpResponse, JsonResponse
from django.shortcuts import redirect, render
from django.template.loader import render_to_string
from django.views.decorators.http import require_GET, require_http_methods, require_POST

from config.errors import HubError, ValidationError
from conversations.web import agent_required, json_error, request_agent
from push.services import (
    push_device_remove,
    push_previews_set,
    push_subscribe,
    push_unsubscribe,
    vapid_key_get,
)

# What the service worker keeps for offline use: the same for every agent, never a page with their threads.
SHELL_STATIC = (
    "css/hub.css",
    "js/push.js",
    "icons/icon-192.png",
    "icons/icon-512.png",
)
SHELL_PAGES = ("/offline/",)
ICONS = (
    {"src": "icons/icon-192.png", "sizes": "192x192", "type": "image/png", "purpose": "any"},
    {"src": "icons/icon-512.png", "sizes": "512x512", "type": "image/png", "purpose": "any"},
    {"src": "icons/icon-maskable-192.png", "sizes": "192x192", "type": "image/png", "purpose": "maskable"},
    {"src": "icons/icon-maskable-512.png", "sizes": "512x512", "type": "image/png", "purpose": "maskable"},
)


def _static_url(path: str) -> str:
    return f"{settings.STATIC_URL}{path}"


@cache
def _shell_version() -> str:
    """Changes whenever a shell file does, so a new deploy replaces the cached shell."""
    digest = hashlib.sha256()
    for path in SHELL_STATIC:
        found = finders.find(path)
        if isinstance(found, str):
            with open(found, "rb") as handle:
                digest.update(handle.read())
    digest.update(render_to_string("push/offline.html").encode())
    return digest.hexdigest()[:12]


@require_GET
def manifest(request: HttpRequest) -> HttpResponse:
    body = {
        "name": "Conversation hub",
        "short_name": "Hub",
        "description": "Your customers' conversations: SMS, WhatsApp, email, calls and web chat.",
        "id": "/inbox/",
        "start_url": "/inbox/",
        "scope": "/",
        "display": "standalone",
        "background_color": "#f6f7f9",
        "theme_color": "#2457d6",
        "icons": [{**icon, "src": _static_url(icon["src"])} for icon in ICONS],
    }
    return HttpResponse(json.dumps(body), content_type="application/manifest+json")


@require_GET
def service_worker(request: HttpRequest) -> HttpResponse:
    shell = [*SHELL_PAGES, *(_static_url(path) for path in SHELL_STATIC)]
    script = render_to_string("push/sw.js", {"version": _shell_version(), "shell": json.dumps(shell)})
    response = HttpResponse(script, content_type="application/javascript; charset=utf-8")
    response["Service-Worker-Allowed"] = "/"
    response["Cache-Control"] = "no-cache"  # browsers check for a new worker on every visit
    return response


@require_GET
def offline(request: HttpRequest) -> HttpResponse:
    """What the installed app shows without a network: nothing of anyone's threads, so it may be cached."""
    return render(request, "push/offline.html")


@require_GET
@agent_required
def public_key(request: HttpRequest) -> JsonResponse:
    """The VAPID public key a browser subscribes with (applicationServerKey)."""
    return JsonResponse({"public_key": vapid_key_get().public_key})


@require_http_methods(["POST", "DELETE"])
@agent_required
def subscriptions(request: HttpRequest) -> JsonResponse:
    """POST: this device's PushSubscription.toJSON(); DELETE: {"endpoint": ...} stops it."""
    user = request_agent(request)
    try:
        data = json.loads(request.body or b"{}")
        if not isinstance(data, dict):
            raise ValueError
    except ValueError:
        return json_error(ValidationError("Send the subscription as JSON (PushSubscription.toJSON())."))
    try:
        if request.method == "DELETE":
            removed = push_unsubscribe(user=user, endpoint=str(data.get("endpoint", "")))
            return JsonResponse({"removed": removed})
        device = push_subscribe(
            user=user,
            subscription=data,
            device=str(data.get("device", "") or request.headers.get("User-Agent", "")),
        )
    except HubError as error:
        return json_error(error)
    return JsonResponse({"id": device.pk, "device": device.device}, status=201)


@require_POST
@agent_required
def device_remove(request: HttpRequest, device_id: int) -> HttpResponse:
    """Remove one of the agent's devices from the profile page (another agent's id: 404, as a missing one)."""
    push_device_remove(user=request_agent(request), device_id=device_id)
    return redirect("/inbox/profile/#devices")


@require_POST
@agent_required
def previews(request: HttpRequest) -> HttpResponse:
    push_previews_set(user=request_agent(request), previews=request.POST.get("previews") == "1")
    return redirect("/inbox/profile/#devices")

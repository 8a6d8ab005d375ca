"""The webhooks settings page (/inbox/settings/webhooks/): the same as the API, for admins and managers.

One URL; every action posts the id it acts on in the form, as the canned responses page does.
"""

from __future__ import annotations

from django.contrib.auth.decorators import login_required
from django.core.exceptions import PermissionDenied
from django.db.models import Prefetch
from django.http import Http404, HttpRequest, HttpResponse
from django.shortcuts import redirect, render
from django.views.decorators.http import require_http_methods

from config.errors import HubError
from conversations.selectors import agent_sees_everything
from events.catalog import EVENT_TYPES
from events.models import WebhookAttempt, WebhookDelivery, WebhookEndpoint
from webhooks import services

PAGE = "/inbox/settings/webhooks/"


def _endpoint(value: str) -> WebhookEndpoint:
    endpoint = WebhookEndpoint.objects.filter(pk=int(value)).first() if value.isdigit() else None
    if endpoint is None:
        raise Http404("No such webhook endpoint.")
    return endpoint


@login_required
@require_http_methods(["GET", "POST"])
def webhooks_page(request: HttpRequest) -> HttpResponse:
    if not agent_sees_everything(request.user):
        raise PermissionDenied("Only admins and managers manage webhooks.")
    error = ""
    secret: tuple[int, str] | None = None  # shown once, on the answer to the post that made it
    if request.method == "POST":
        action = request.POST.get("action", "")
        try:
            if action == "create":
                endpoint, made = services.webhook_endpoint_create(
                    url=request.POST.get("url", ""),
                    event_types=request.POST.getlist("event_types"),
                    description=request.POST.get("description", ""),
                    by=request.user,
                )
                secret = (endpoint.pk, made)
            elif action == "redeliver":
                wanted = request.POST.get("delivery", "")
                delivery = (
                    WebhookDelivery.objects.select_related("endpoint").filter(pk=int(wanted)).first()
                    if wanted.isdigit()
                    else None
                )
                if delivery is None:
                    raise Http404("No such webhook delivery.")
                services.webhook_delivery_redeliver(delivery=delivery)
                return redirect(f"{PAGE}?endpoint={delivery.endpoint_id}")
            else:
                endpoint = _endpoint(request.POST.get("endpoint", ""))
                if action == "rotate":
                    secret = (endpoint.pk, services.webhook_secret_rotate(endpoint=endpoint))
                elif action in ("on", "off"):
                    services.webhook_endpoint_update(
                        endpoint=endpoint, active=action == "on", by=request.user
                    )
                elif action == "delete":
                    endpoint.delete()
                    return redirect(PAGE)
                else:
                    error = "Unknown action."
        except HubError as failure:
            error = failure.message
        if not error and secret is None:
            return redirect(PAGE)

    shown = request.GET.get("endpoint", "")
    selected = WebhookEndpoint.objects.filter(pk=int(shown)).first() if shown.isdigit() else None
    deliveries = (
        WebhookDelivery.objects.filter(endpoint=selected)
        .select_related("event")
        .prefetch_related(Prefetch("attempt_log", queryset=WebhookAttempt.objects.order_by("-started_at")))
        .order_by("-id")[:50]
        if selected is not None
        else []
    )
    return render(
        request,
        "webhooks/webhooks.html",
        {
            "endpoints": WebhookEndpoint.objects.order_by("id"),
            "event_types": sorted(EVENT_TYPES.values(), key=lambda t: t.name),
            "selected": selected,
            "deliveries": deliveries,
            "secret": secret,
            "error": error,
            "form": request.POST if error else {},
        },
        status=400 if error else 200,
    )

from __future__ import annotations

from typing import Any

from django import forms
from django.contrib import admin, messages
from django.db.models import QuerySet
from django.http import HttpRequest

from config.errors import HubError
from events.models import WebhookAttempt, WebhookDelivery, WebhookEndpoint
from webhooks import services


class WebhookEndpointForm(forms.ModelForm[WebhookEndpoint]):
    """The same checks as the API: the URL's scheme, credentials and address; the event types."""

    class Meta:
        model = WebhookEndpoint
        fields = ["url", "description", "event_types", "active"]

    def clean_url(self) -> str:
        try:
            return services.webhook_url_check(str(self.cleaned_data.get("url") or ""))
        except HubError as error:
            raise forms.ValidationError(error.message) from None

    def clean_event_types(self) -> list[str]:
        try:
            return services.event_types_check(self.cleaned_data.get("event_types"))
        except HubError as error:
            raise forms.ValidationError(error.message) from None


@admin.register(WebhookEndpoint)
class WebhookEndpointAdmin(admin.ModelAdmin[WebhookEndpoint]):
    form = WebhookEndpointForm
    list_display = ["url", "description", "active", "failing_since", "last_success_at", "disabled_at"]
    list_filter = ["active"]
    readonly_fields = [
        "disabled_at",
        "disabled_reason",
        "failing_since",
        "last_success_at",
        "previous_secret_until",
        "created_by",
        "created_at",
    ]
    actions = ["rotate_secret"]

    def save_model(self, request: HttpRequest, obj: WebhookEndpoint, form: Any, change: bool) -> None:
        if change:
            active = form.cleaned_data.get("active")
            fresh = WebhookEndpoint.objects.get(pk=obj.pk)
            services.webhook_endpoint_update(
                endpoint=fresh,
                url=obj.url,
                event_types=obj.event_types,
                description=obj.description,
                active=active,
                by=request.user,
            )
            return
        endpoint, secret = services.webhook_endpoint_create(
            url=obj.url, event_types=obj.event_types, description=obj.description, by=request.user
        )
        obj.pk = endpoint.pk
        self.message_user(request, f"The signing secret, shown this once: {secret}", messages.WARNING)

    @admin.action(description="Rotate the signing secret (the old one signs alongside for 24 hours)")
    def rotate_secret(self, request: HttpRequest, queryset: QuerySet[WebhookEndpoint]) -> None:
        for endpoint in queryset:
            secret = services.webhook_secret_rotate(endpoint=endpoint)
            self.message_user(
                request, f"{endpoint.url}: the new secret, shown this once: {secret}", messages.WARNING
            )


class WebhookAttemptInline(admin.TabularInline[WebhookAttempt, WebhookDelivery]):
    model = WebhookAttempt
    extra = 0
    can_delete = False
    readonly_fields = ["started_at", "duration_ms", "status_code", "succeeded", "response_excerpt", "error"]
    fields = (
        "started_at",
        "duration_ms",
        "status_code",
        "succeeded",
        "response_excerpt",
        "error",
    )

    def has_add_permission(self, request: HttpRequest, obj: Any = None) -> bool:
        return False


@admin.register(WebhookDelivery)
class WebhookDeliveryAdmin(admin.ModelAdmin[WebhookDelivery]):
    list_display = ["id", "endpoint", "event", "state", "attempts", "last_status", "next_attempt_at"]
    list_filter = ["state", "endpoint"]
    list_select_related = ["endpoint", "event"]
    raw_id_fields = ["endpoint", "event"]
    readonly_fields = [
        "endpoint",
        "event",
        "state",
        "attempts",
        "next_attempt_at",
        "created_at",
        "last_attempt_at",
        "last_status",
        "last_error",
        "succeeded_at",
    ]
    inlines = [WebhookAttemptInline]
    actions = ["redeliver"]

    def has_add_permission(self, request: HttpRequest) -> bool:
        return False

    @admin.action(description="Redeliver now (same webhook-id, a fresh retry schedule)")
    def redeliver(self, request: HttpRequest, queryset: QuerySet[WebhookDelivery]) -> None:
        done = 0
        for delivery in queryset.select_related("endpoint"):
            try:
                services.webhook_delivery_redeliver(delivery=delivery)
                done += 1
            except HubError as error:
                self.message_user(request, f"Delivery {delivery.pk}: {error.message}", messages.ERROR)
        if done:
            self.message_user(request, f"{done} deliver{'y' if done == 1 else 'ies'} queued again.")

"""The REST API of the outgoing webhooks: subscriptions, their secrets, their deliveries. Admins and managers only.

Thin: each view parses its input, calls one service of webhooks/services.py and shapes the answer.
"""

from __future__ import annotations

from typing import Any

from django.db.models import Prefetch, QuerySet
from django.utils import timezone
from drf_spectacular.types import OpenApiTypes
from drf_spectacular.utils import OpenApiParameter, extend_schema, extend_schema_field
from rest_framework import generics, serializers, status
from rest_framework.permissions import BasePermission
from rest_framework.request import Request
from rest_framework.response import Response

from config.errors import NotFound
from conversations.api.permissions import IsAgent
from conversations.selectors import agent_sees_everything
from events.models import WebhookAttempt, WebhookDelivery, WebhookEndpoint
from webhooks import services


class ManagesWebhooks(BasePermission):
    message = "Only admins and managers manage webhooks: a subscription receives every team's conversations."

    def has_permission(self, request: Request, view: Any) -> bool:
        return agent_sees_everything(request.user)


PERMISSIONS = [IsAgent, ManagesWebhooks]


# --- serializers ------------------------------------------------------------------------------------------
class WebhookEndpointSerializer(serializers.ModelSerializer[WebhookEndpoint]):
    event_types = serializers.ListField(child=serializers.CharField())
    previous_secret_until = serializers.SerializerMethodField(
        help_text="While set, the secret before the last rotation still signs alongside the current one."
    )

    class Meta:
        model = WebhookEndpoint
        fields = [
            "id",
            "url",
            "description",
            "event_types",
            "active",
            "disabled_at",
            "disabled_reason",
            "failing_since",
            "last_success_at",
            "previous_secret_until",
            "created_by",
            "created_at",
        ]
        read_only_fields = fields

    def get_previous_secret_until(self, endpoint: WebhookEndpoint) -> str | None:
        until = endpoint.previous_secret_until
        return until.isoformat() if until and until > timezone.now() else None


class WebhookEndpointCreatedSerializer(WebhookEndpointSerializer):
    secret = serializers.CharField(help_text="The signing secret (`whsec_...`): shown this once.")

    class Meta(WebhookEndpointSerializer.Meta):
        fields = [*WebhookEndpointSerializer.Meta.fields, "secret"]
        read_only_fields = fields


class WebhookEndpointInputSerializer(serializers.Serializer[Any]):
    url = serializers.CharField(max_length=services.URL_MAX, help_text="http(s); no user:password@")
    description = serializers.CharField(max_length=200, required=False, allow_blank=True)
    event_types = serializers.ListField(
        child=serializers.CharField(max_length=64),
        max_length=100,
        help_text='Event types (see docs/events.md), or ["*"] for all.',
    )


class WebhookEndpointUpdateSerializer(WebhookEndpointInputSerializer):
    active = serializers.BooleanField(required=False, help_text="true switches a disabled endpoint back on")

    def __init__(self, *args: Any, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        for field in self.fields.values():
            field.required = False


class RotateSerializer(serializers.Serializer[Any]):
    overlap_hours = serializers.IntegerField(
        required=False,
        min_value=0,
        max_value=services.MAX_OVERLAP_H,
        help_text="How long the old secret keeps signing alongside the new one; default 24",
    )


class RotatedSerializer(serializers.Serializer[Any]):
    secret = serializers.CharField(help_text="The new signing secret: shown this once.")
    previous_secret_until = serializers.DateTimeField(allow_null=True)


class WebhookAttemptSerializer(serializers.ModelSerializer[WebhookAttempt]):
    class Meta:
        model = WebhookAttempt
        fields = ["started_at", "duration_ms", "status_code", "succeeded", "response_excerpt", "error"]
        read_only_fields = fields


class WebhookDeliverySerializer(serializers.ModelSerializer[WebhookDelivery]):
    event = serializers.CharField(source="event.uid", read_only=True, help_text="The webhook-id")
    type = serializers.CharField(source="event.type", read_only=True)
    conversation = serializers.IntegerField(source="event.conversation_id", read_only=True, allow_null=True)
    sequence = serializers.IntegerField(source="event.thread_seq", read_only=True, allow_null=True)
    recent_attempts = serializers.SerializerMethodField()

    class Meta:
        model = WebhookDelivery
        fields = [
            "id",
            "endpoint",
            "event",
            "type",
            "conversation",
            "sequence",
            "state",
            "attempts",
            "next_attempt_at",
            "last_attempt_at",
            "last_status",
            "last_error",
            "succeeded_at",
            "created_at",
            "recent_attempts",
        ]
        read_only_fields = fields

    @extend_schema_field(WebhookAttemptSerializer(many=True))
    def get_recent_attempts(self, delivery: WebhookDelivery) -> list[dict[str, Any]]:
        attempts = list(delivery.attempt_log.all())[:5]
        return [dict(WebhookAttemptSerializer(a).data) for a in attempts]


# --- views ------------------------------------------------------------------------------------------------
def _endpoint(pk: int) -> WebhookEndpoint:
    endpoint = WebhookEndpoint.objects.filter(pk=int(pk)).first()
    if endpoint is None:
        raise NotFound("No such webhook endpoint.")
    return endpoint


class WebhookList(generics.ListCreateAPIView[WebhookEndpoint]):
    """The subscriptions: each URL and the event types it receives."""

    serializer_class = WebhookEndpointSerializer
    permission_classes = PERMISSIONS
    queryset = WebhookEndpoint.objects.order_by("id")

    @extend_schema(
        request=WebhookEndpointInputSerializer,
        responses={201: WebhookEndpointCreatedSerializer},
        description='Subscribe a URL to event types (`["*"]` for all). The answer holds the signing secret, '
        "this once. A URL with a user name or password, another scheme than http(s), or an address on a "
        "private network (unless in WEBHOOK_ALLOWED_HOSTS) answers 400 with the reason; so does an event "
        "type that does not exist, with the list of those that do.",
    )
    def post(self, request: Request, *args: Any, **kwargs: Any) -> Response:
        incoming = WebhookEndpointInputSerializer(data=request.data)
        incoming.is_valid(raise_exception=True)
        data = incoming.validated_data
        endpoint, secret = services.webhook_endpoint_create(
            url=data["url"],
            event_types=data["event_types"],
            description=data.get("description", ""),
            by=request.user,
        )
        body = {**WebhookEndpointSerializer(endpoint).data, "secret": secret}
        return Response(body, status=status.HTTP_201_CREATED)


class WebhookDetail(generics.RetrieveDestroyAPIView[WebhookEndpoint]):
    serializer_class = WebhookEndpointSerializer
    permission_classes = PERMISSIONS
    http_method_names = ["get", "patch", "delete", "head", "options"]

    def get_object(self) -> WebhookEndpoint:
        return _endpoint(self.kwargs["pk"])

    @extend_schema(
        request=WebhookEndpointUpdateSerializer,
        responses={200: WebhookEndpointSerializer},
        description="Change the URL, description or event types; `active: true` switches an endpoint the hub "
        "switched off back on (its failures forgotten, what waited sent), `false` pauses it.",
    )
    def patch(self, request: Request, pk: int) -> Response:
        endpoint = _endpoint(pk)
        incoming = WebhookEndpointUpdateSerializer(data=request.data)
        incoming.is_valid(raise_exception=True)
        data = incoming.validated_data
        endpoint = services.webhook_endpoint_update(
            endpoint=endpoint,
            url=data.get("url"),
            event_types=data.get("event_types"),
            description=data.get("description"),
            active=data.get("active"),
            by=request.user,
        )
        return Response(WebhookEndpointSerializer(endpoint).data)


class WebhookRotateSecret(generics.GenericAPIView[WebhookEndpoint]):
    serializer_class = RotateSerializer
    permission_classes = PERMISSIONS

    @extend_schema(
        request=RotateSerializer,
        responses={200: RotatedSerializer},
        description="A new signing secret, returned this once. The old one keeps signing alongside it for "
        "`overlap_hours` (default 24): every request carries both signatures until then.",
    )
    def post(self, request: Request, pk: int) -> Response:
        endpoint = _endpoint(pk)
        incoming = RotateSerializer(data=request.data)
        incoming.is_valid(raise_exception=True)
        secret = services.webhook_secret_rotate(
            endpoint=endpoint, overlap_hours=incoming.validated_data.get("overlap_hours")
        )
        return Response({"secret": secret, "previous_secret_until": endpoint.previous_secret_until})


class WebhookDeliveries(generics.ListAPIView[WebhookDelivery]):
    """An endpoint's deliveries, newest first, each with its last five attempts."""

    serializer_class = WebhookDeliverySerializer
    permission_classes = PERMISSIONS

    @extend_schema(
        parameters=[
            OpenApiParameter(
                "state", OpenApiTypes.STR, enum=["pending", "succeeded", "failed"], description="Only these"
            )
        ]
    )
    def get(self, request: Request, *args: Any, **kwargs: Any) -> Response:
        return super().get(request, *args, **kwargs)

    def get_queryset(self) -> QuerySet[WebhookDelivery]:
        endpoint = _endpoint(self.kwargs["pk"])
        deliveries = WebhookDelivery.objects.filter(endpoint=endpoint)
        state = self.request.query_params.get("state")
        if state is not None:
            if state not in dict(WebhookDelivery.STATE_CHOICES):
                raise serializers.ValidationError({"state": ["One of pending, succeeded, failed."]})
            deliveries = deliveries.filter(state=state)
        return (
            deliveries.select_related("event")
            .prefetch_related(
                Prefetch("attempt_log", queryset=WebhookAttempt.objects.order_by("-started_at"))
            )
            .order_by("-id")
        )


class WebhookRedeliver(generics.GenericAPIView[WebhookDelivery]):
    serializer_class = WebhookDeliverySerializer
    permission_classes = PERMISSIONS

    @extend_schema(
        request=None,
        responses={202: WebhookDeliverySerializer},
        description="Send the event again now, with the same webhook-id and a fresh retry schedule. An "
        "endpoint that is switched off answers 409: switch it on first.",
    )
    def post(self, request: Request, pk: int) -> Response:
        delivery = WebhookDelivery.objects.select_related("endpoint", "event").filter(pk=int(pk)).first()
        if delivery is None:
            raise NotFound("No such webhook delivery.")
        delivery = services.webhook_delivery_redeliver(delivery=delivery)
        return Response(WebhookDeliverySerializer(delivery).data, status=status.HTTP_202_ACCEPTED)

"""The REST API of the lifecycle: stage moves, external touchpoints, the stages and the funnel figures."""

from __future__ import annotations

from typing import Any

from django.db.models import QuerySet
from drf_spectacular.types import OpenApiTypes
from drf_spectacular.utils import OpenApiParameter, extend_schema
from rest_framework import generics, serializers, status
from rest_framework.request import Request
from rest_framework.response import Response

from config.errors import NotFound, PermissionDenied, ValidationError
from contacts import addresses
from contacts.models import Contact, Identity
from contacts.services import contact_resolve, contact_surviving
from conversations.selectors import agent_is_admin, agent_sees_everything, contact_get_visible
from lifecycle.models import Stage, Touchpoint
from lifecycle.scores import SIGNALS_HELP, lead_score_explain, lead_score_weights, lead_score_weights_set
from lifecycle.selectors import contact_stage_of, funnel_report, period_parse
from lifecycle.services import stage_move, touchpoint_record


class StageSerializer(serializers.ModelSerializer[Stage]):
    class Meta:
        model = Stage
        fields = ["key", "name", "position", "on_main_line"]


def contact_stage_data(contact: Contact) -> dict[str, Any] | None:
    """The `stage` of a contact as the API shows it (also in GET /contacts/<id>/)."""
    row = getattr(contact, "lifecycle", None) if _cached(contact) else contact_stage_of(contact.pk)
    if row is None or row.stage is None:
        return None
    return {"key": row.stage.key, "name": row.stage.name, "entered_at": row.entered_at}


def _cached(contact: Contact) -> bool:
    return "lifecycle" in contact._state.fields_cache


class StageMoveSerializer(serializers.Serializer[Any]):
    stage = serializers.SlugField(help_text="The stage's key, e.g. qualified")
    reason = serializers.CharField(max_length=300, required=False, allow_blank=True, default="")


class TouchpointSerializer(serializers.ModelSerializer[Touchpoint]):
    at = serializers.DateTimeField(source="occurred_at")
    entry = serializers.IntegerField(source="entry_id", allow_null=True)

    class Meta:
        model = Touchpoint
        fields = ["id", "contact", "type", "at", "payload", "client_key", "entry", "created_at"]


class TouchpointCreateSerializer(serializers.Serializer[Any]):
    type = serializers.RegexField(
        r"^[a-z0-9][a-z0-9_.-]{0,63}$",
        help_text="What happened, e.g. purchase, store_visit, demo_booked (lower case, digits, _ . -)",
        error_messages={"invalid": "The type is a short lower-case word such as purchase or store_visit."},
    )
    client_key = serializers.CharField(
        max_length=200, help_text="Your id for this event: posting the same key again records nothing new"
    )
    at = serializers.DateTimeField(required=False, help_text="When it happened (default: now)")
    payload = serializers.DictField(required=False, help_text="A few fields (at most 4 KB of JSON)")


class IdentityTouchpointSerializer(TouchpointCreateSerializer):
    identity = serializers.CharField(max_length=320, help_text="A phone number or an email address")
    create_contact = serializers.BooleanField(
        default=False, help_text="Create the contact when nobody has this address (otherwise 404)"
    )


# 201 a new event; 200 the first one, its key seen before; 409 the key was used for another contact.
TOUCHPOINT_RESPONSES = {
    201: TouchpointSerializer,
    200: TouchpointSerializer,
    400: OpenApiTypes.OBJECT,
    404: OpenApiTypes.OBJECT,
    409: OpenApiTypes.OBJECT,
}


class ContactStageMove(generics.GenericAPIView[Contact]):
    serializer_class = StageMoveSerializer

    @extend_schema(
        request=StageMoveSerializer,
        responses={200: OpenApiTypes.OBJECT, 400: OpenApiTypes.OBJECT, 404: OpenApiTypes.OBJECT},
        description="Move the contact to a lifecycle stage by hand (any direction); the thread records who and why.",
    )
    def post(self, request: Request, pk: int) -> Response:
        contact = contact_get_visible(request.user, int(pk))
        incoming = StageMoveSerializer(data=request.data)
        incoming.is_valid(raise_exception=True)
        stage = Stage.objects.filter(key=incoming.validated_data["stage"]).first()
        if stage is None:
            keys = ", ".join(Stage.objects.values_list("key", flat=True))
            raise NotFound(f"No stage {incoming.validated_data['stage']!r}; the stages are {keys}.")
        stage_move(contact=contact, stage=stage, by=request.user, reason=incoming.validated_data["reason"])  # type: ignore[arg-type]
        return Response({"id": contact.pk, "stage": contact_stage_data(contact)})


def _record(request: Request, contact: Contact, data: dict[str, Any]) -> Response:
    result = touchpoint_record(
        contact=contact,
        type=data["type"],
        client_key=data["client_key"],
        occurred_at=data.get("at"),
        payload=data.get("payload") or {},
        by=request.user,  # type: ignore[arg-type]
    )
    return Response(
        TouchpointSerializer(result.touchpoint).data,
        status=status.HTTP_201_CREATED if result.created else status.HTTP_200_OK,
    )


class ContactEvents(generics.GenericAPIView[Touchpoint]):
    serializer_class = TouchpointCreateSerializer

    @extend_schema(
        request=TouchpointCreateSerializer,
        responses=TOUCHPOINT_RESPONSES,
        description="Record something that happened elsewhere (a purchase, a store visit, a demo booked) as an "
        "event in the contact's thread. The same client_key again answers 200 with the first event. "
        "A purchase makes the contact a customer, a second one loyal.",
    )
    def post(self, request: Request, pk: int) -> Response:
        contact = contact_get_visible(request.user, int(pk))
        incoming = TouchpointCreateSerializer(data=request.data)
        incoming.is_valid(raise_exception=True)
        return _record(request, contact, incoming.validated_data)


class IdentityEvents(generics.GenericAPIView[Touchpoint]):
    serializer_class = IdentityTouchpointSerializer

    @extend_schema(
        request=IdentityTouchpointSerializer,
        responses=TOUCHPOINT_RESPONSES,
        description="The same as POST /contacts/<id>/events/, for the contact who owns `identity`. An address "
        "nobody has is refused (404) unless `create_contact` is true.",
    )
    def post(self, request: Request) -> Response:
        incoming = IdentityTouchpointSerializer(data=request.data)
        incoming.is_valid(raise_exception=True)
        data = incoming.validated_data
        normalized = addresses.normalize_any(data["identity"])
        if not normalized.valid:
            from config.errors import ValidationError

            raise ValidationError(f"{data['identity']!r} is not a phone number or an email address.")
        owner = (
            Identity.objects.filter(kind=normalized.kind, address=normalized.address, verified=True)
            .select_related("contact")
            .first()
        )
        if owner is not None:
            contact = contact_get_visible(request.user, contact_surviving(owner.contact).pk)
        elif data["create_contact"]:
            contact, _ = contact_resolve(kind=normalized.kind, address=normalized.address)
        else:
            raise NotFound(
                f'No contact has {normalized.address}; send "create_contact": true to create one with this event.'
            )
        return _record(request, contact, data)


class StageList(generics.ListAPIView[Stage]):
    serializer_class = StageSerializer
    pagination_class = None

    def get_queryset(self) -> QuerySet[Stage]:
        return Stage.objects.all()


class FunnelFigures(generics.GenericAPIView[Stage]):
    @extend_schema(
        parameters=[
            OpenApiParameter(
                "start", OpenApiTypes.DATE, description="First day (default: 90 days before the end)"
            ),
            OpenApiParameter("end", OpenApiTypes.DATE, description="Last day, included (default: today)"),
        ],
        responses={200: OpenApiTypes.OBJECT, 400: OpenApiTypes.OBJECT, 403: OpenApiTypes.OBJECT},
        description="The funnel report's figures (managers and admins).",
    )
    def get(self, request: Request) -> Response:
        if not agent_sees_everything(request.user):
            raise PermissionDenied("The reports are for managers and admins.")
        period = period_parse(
            start=request.query_params.get("start", ""), end=request.query_params.get("end", "")
        )
        report = funnel_report(period=period)
        return Response(
            {
                "start": period.first_day,
                "end": period.last_day,
                "no_stage_now": report.no_stage_now,
                "stages": [
                    {
                        "key": row.stage.key,
                        "name": row.stage.name,
                        "on_main_line": row.stage.on_main_line,
                        "now": row.now,
                        "entered": row.entered,
                        "reached": row.reached if row.stage.on_main_line else None,
                        "conversion_to_next": row.conversion,
                        "median_seconds_in_stage": row.median_seconds,
                    }
                    for row in report.main + report.side
                ],
                "cohorts": [
                    {
                        "month": cohort.month.strftime("%Y-%m"),
                        "contacts": cohort.size,
                        "reached": cohort.reached,
                    }
                    for cohort in report.cohorts
                ],
            }
        )


def score_data(contact_id: int) -> dict[str, Any] | None:
    """A contact's lead score as the API shows it: the number now, its band and the reasons."""
    explained = lead_score_explain(contact_id=contact_id)
    if explained is None:
        return None
    return {
        "score": explained.score,
        "band": explained.band,
        "reasons": [{"points": reason.points, "text": reason.text} for reason in explained.reasons],
    }


class ContactScore(generics.GenericAPIView[Contact]):
    @extend_schema(
        responses={200: OpenApiTypes.OBJECT, 404: OpenApiTypes.OBJECT},
        description="The contact's lead score now, with its reasons, largest first.",
    )
    def get(self, request: Request, pk: int) -> Response:
        contact = contact_get_visible(request.user, int(pk))
        return Response({"id": contact.pk, "lead_score": score_data(contact.pk)})


class LeadScoreWeights(generics.GenericAPIView[Contact]):
    @extend_schema(
        responses={200: OpenApiTypes.OBJECT},
        description="The points each lead-score signal is worth (`{signal: points}`), and the signals there are.",
    )
    def get(self, request: Request) -> Response:
        return Response({"weights": lead_score_weights(), "signals": SIGNALS_HELP})

    @extend_schema(
        request=OpenApiTypes.OBJECT,
        responses={200: OpenApiTypes.OBJECT, 400: OpenApiTypes.OBJECT, 403: OpenApiTypes.OBJECT},
        description='Admins set some weights (`{"weights": {signal: points}}`, -100 to 100); every score is '
        "recomputed. A signal that does not exist or points out of range: 400 with the reason, nothing changed.",
    )
    def patch(self, request: Request) -> Response:
        return self._set(request, replace=False)

    @extend_schema(
        request=OpenApiTypes.OBJECT,
        responses={200: OpenApiTypes.OBJECT, 400: OpenApiTypes.OBJECT, 403: OpenApiTypes.OBJECT},
        description="Admins replace every weight (signals left out count nothing); as PATCH otherwise.",
    )
    def put(self, request: Request) -> Response:
        return self._set(request, replace=True)

    def _set(self, request: Request, *, replace: bool) -> Response:
        if not agent_is_admin(request.user):
            raise PermissionDenied("Only admins change the lead score's weights.")
        weights = request.data.get("weights") if isinstance(request.data, dict) else None
        if not isinstance(weights, dict):
            raise ValidationError('Send {"weights": {"<signal>": <points>, ...}}.')
        return Response({"weights": lead_score_weights_set(weights=weights, replace=replace)})

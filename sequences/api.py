"""The REST API of the sequences. Any agent reads them, enrols a customer whose thread they can see and takes one
out; admins and managers make and change them.

Thin: each view parses its input, calls one service of sequences/services.py and shapes the answer.
"""

from __future__ import annotations

from typing import Any

from drf_spectacular.utils import OpenApiParameter, extend_schema
from rest_framework import generics, serializers, status
from rest_framework.permissions import BasePermission
from rest_framework.request import Request
from rest_framework.response import Response

from config.errors import NotFound, ValidationError
from conversations.api.permissions import IsAgent
from conversations.selectors import agent_sees_everything, contact_visible_to
from sequences import services
from sequences.models import Enrollment, Sequence
from sequences.steps import CHANNELS


class ManagesSequences(BasePermission):
    message = "Only admins and managers make and change sequences."

    def has_permission(self, request: Request, view: Any) -> bool:
        return request.method in ("GET", "HEAD", "OPTIONS") or agent_sees_everything(request.user)


class StepSerializer(serializers.Serializer[Any]):
    type = serializers.ChoiceField(choices=["message", "wait", "task"])
    channel = serializers.ChoiceField(
        choices=["", *CHANNELS], required=False, help_text="message: empty for the customer's last channel"
    )
    text = serializers.CharField(required=False, help_text="message and task")
    days = serializers.IntegerField(required=False, min_value=1, max_value=365, help_text="wait")
    business_days = serializers.BooleanField(
        required=False, help_text="wait: count the inbox's business days"
    )


class SequenceSerializer(serializers.ModelSerializer[Sequence]):
    steps = StepSerializer(many=True)
    report = serializers.SerializerMethodField()

    class Meta:
        model = Sequence
        fields = ["id", "name", "description", "steps", "enabled", "exit_on_stage_change", "inbox"]
        fields += ["report", "created_by", "created_at", "updated_at"]
        read_only_fields = ["id", "report", "created_by", "created_at", "updated_at"]

    def get_report(self, sequence: Sequence) -> dict[str, Any]:
        return services.sequence_report(sequence=sequence)


class EnrollmentSerializer(serializers.ModelSerializer[Enrollment]):
    sequence_name = serializers.CharField(source="sequence.name", read_only=True)
    exit_reason_text = serializers.CharField(read_only=True)

    class Meta:
        model = Enrollment
        fields = ["id", "sequence", "sequence_name", "contact", "step", "state", "next_run_at", "exit_reason"]
        fields += ["exit_reason_text", "exit_detail", "source", "enrolled_by", "enrolled_at", "finished_at"]
        read_only_fields = fields


class EnrollSerializer(serializers.Serializer[Any]):
    contact = serializers.IntegerField(min_value=1, max_value=2**63 - 1)


def _get(model: Any, pk: int, what: str) -> Any:
    found = model.objects.filter(pk=pk).first()
    if found is None:
        raise NotFound(f"No such {what}.")
    return found


def _save(request: Request, sequence: Sequence | None) -> Sequence:
    current = SequenceSerializer(sequence).data if sequence is not None else {}
    body = dict(request.data) if isinstance(request.data, dict) else {}
    incoming = SequenceSerializer(data={**current, **body})
    incoming.is_valid(raise_exception=True)
    data = incoming.validated_data
    return services.sequence_save(
        by=request.user,  # type: ignore[arg-type]
        sequence=sequence,
        name=data["name"],
        description=data.get("description", ""),
        steps=[dict(step) for step in data["steps"]],
        enabled=data.get("enabled", True),
        exit_on_stage_change=data.get("exit_on_stage_change", True),
        inbox=data.get("inbox"),
    )


class SequenceList(generics.ListCreateAPIView[Sequence]):
    """The sequences, by name, each with how many are in it, finished and left (by reason)."""

    serializer_class = SequenceSerializer
    permission_classes = [IsAgent, ManagesSequences]
    queryset = Sequence.objects.order_by("name")

    def post(self, request: Request, *args: Any, **kwargs: Any) -> Response:
        return Response(SequenceSerializer(_save(request, None)).data, status=status.HTTP_201_CREATED)


class SequenceDetail(generics.RetrieveAPIView[Sequence]):
    serializer_class = SequenceSerializer
    permission_classes = [IsAgent, ManagesSequences]
    http_method_names = ["get", "patch", "head", "options"]

    def get_object(self) -> Sequence:
        return _get(Sequence, self.kwargs["pk"], "sequence")  # type: ignore[no-any-return]

    @extend_schema(
        request=SequenceSerializer,
        responses={200: SequenceSerializer},
        description="Changing a running sequence never re-sends a step: each customer goes on from the step "
        "number they reached.",
    )
    def patch(self, request: Request, pk: int) -> Response:
        return Response(SequenceSerializer(_save(request, self.get_object())).data)


class SequenceEnrollments(generics.ListCreateAPIView[Enrollment]):
    """Who is in the sequence and who left (newest first), among the customers you can see; POST enrols one."""

    serializer_class = EnrollmentSerializer
    permission_classes = [IsAgent]

    def get_queryset(self) -> Any:
        sequence = _get(Sequence, self.kwargs["pk"], "sequence")
        visible = contact_visible_to(self.request.user)
        return Enrollment.objects.filter(sequence=sequence, contact__in=visible).select_related("sequence")

    @extend_schema(
        request=EnrollSerializer,
        responses={201: EnrollmentSerializer},
        description="Enrols a customer whose thread you can see (404 otherwise). A customer already in the "
        "sequence, or a sequence switched off, answers 400 with the reason.",
    )
    def post(self, request: Request, pk: int) -> Response:
        sequence = _get(Sequence, pk, "sequence")
        incoming = EnrollSerializer(data=request.data)
        incoming.is_valid(raise_exception=True)
        contact = contact_visible_to(request.user).filter(pk=incoming.validated_data["contact"]).first()
        if contact is None:
            raise NotFound("No such customer.")
        enrollment = services.sequence_enroll(
            sequence=sequence,
            contact=contact,
            by=request.user,  # type: ignore[arg-type]
            source="api",
        )
        return Response(EnrollmentSerializer(enrollment).data, status=status.HTTP_201_CREATED)


class EnrollmentList(generics.ListAPIView[Enrollment]):
    """Enrolments of the customers you can see, newest first; `?contact=<id>` for one customer's."""

    serializer_class = EnrollmentSerializer
    permission_classes = [IsAgent]

    @extend_schema(parameters=[OpenApiParameter("contact", int, required=False)])
    def get(self, request: Request, *args: Any, **kwargs: Any) -> Response:
        return super().get(request, *args, **kwargs)

    def get_queryset(self) -> Any:
        found = Enrollment.objects.filter(contact__in=contact_visible_to(self.request.user))
        contacts = self.request.query_params.getlist("contact")
        if contacts:
            if len(contacts) > 1 or not contacts[0].lstrip("-").isdigit():
                raise ValidationError("`contact` is one customer's id, a whole number.")
            wanted = int(contacts[0])
            found = found.filter(contact_id=wanted) if abs(wanted) < 2**63 else found.none()
        return found.select_related("sequence").order_by("-id")


class EnrollmentExit(generics.GenericAPIView[Enrollment]):
    serializer_class = EnrollmentSerializer
    permission_classes = [IsAgent]

    @extend_schema(
        request=None,
        responses={200: EnrollmentSerializer},
        description="Takes the customer out of the sequence (the thread says who). One who already left "
        "answers 400.",
    )
    def post(self, request: Request, pk: int) -> Response:
        enrollment = (
            Enrollment.objects.filter(pk=pk, contact__in=contact_visible_to(request.user))
            .select_related("sequence")
            .first()
        )
        if enrollment is None:
            raise NotFound("No such enrolment.")
        done = services.enrollment_remove(enrollment=enrollment, by=request.user)  # type: ignore[arg-type]
        return Response(EnrollmentSerializer(done).data)

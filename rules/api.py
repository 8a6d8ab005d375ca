"""The REST API of the automation rules and macros. Rules are seen and managed by admins and managers only; any
agent reads the macros and applies one to threads they can see.

Thin: each view parses its input, calls one service of rules/services.py and shapes the answer.
"""

from __future__ import annotations

from typing import Any

from drf_spectacular.utils import extend_schema
from rest_framework import generics, serializers, status
from rest_framework.permissions import BasePermission
from rest_framework.request import Request
from rest_framework.response import Response

from config.errors import NotFound
from conversations.api.permissions import IsAgent
from conversations.selectors import agent_sees_everything
from rules import services
from rules.models import Macro, Rule, RuleRun


class ManagesRules(BasePermission):
    """Rules, their dry runs and run logs are for admins and managers: a rule acts on (and its log names) every
    team's conversations, so an agent is refused before any id is read."""

    message = "Only admins and managers see and make rules: a rule acts on every team's conversations."

    def has_permission(self, request: Request, view: Any) -> bool:
        return agent_sees_everything(request.user)


class ManagesMacros(BasePermission):
    """Every agent reads the macros (the command palette offers them all) and applies them to threads they can
    see; admins and managers make and change them."""

    message = "Only admins and managers make and change macros."

    def has_permission(self, request: Request, view: Any) -> bool:
        return request.method in ("GET", "HEAD", "OPTIONS") or agent_sees_everything(request.user)


PERMISSIONS = [IsAgent, ManagesRules]
MACRO_PERMISSIONS = [IsAgent, ManagesMacros]


class RuleSerializer(serializers.ModelSerializer[Rule]):
    conditions = serializers.ListField(child=serializers.DictField(), required=False, default=list)
    actions = serializers.ListField(child=serializers.DictField())
    confirmed = serializers.BooleanField(
        write_only=True,
        required=False,
        default=False,
        help_text="Confirms a rule with no conditions on message.received (it acts on every message).",
    )

    class Meta:
        model = Rule
        fields = [
            "id",
            "name",
            "event_type",
            "conditions",
            "actions",
            "position",
            "enabled",
            "stop_after",
            "preset",
            "confirmed",
            "created_by",
            "created_at",
            "updated_at",
        ]
        read_only_fields = ["id", "preset", "created_by", "created_at", "updated_at"]
        extra_kwargs = {"position": {"required": False}}


class RuleRunSerializer(serializers.ModelSerializer[RuleRun]):
    class Meta:
        model = RuleRun
        fields = ["id", "event_uid", "event_type", "conversation_id", "depth", "state", "detail", "errors"]
        fields += ["created_at", "finished_at"]
        read_only_fields = fields


class DryRunSerializer(serializers.Serializer[Any]):
    event_type = serializers.CharField()
    conditions = serializers.ListField(child=serializers.DictField(), required=False, default=list)
    actions = serializers.ListField(child=serializers.DictField())


class MacroSerializer(serializers.ModelSerializer[Macro]):
    actions = serializers.ListField(child=serializers.DictField())

    class Meta:
        model = Macro
        fields = ["id", "name", "actions", "created_by", "created_at", "updated_at"]
        read_only_fields = ["id", "created_by", "created_at", "updated_at"]


class MacroApplySerializer(serializers.Serializer[Any]):
    conversations = serializers.ListField(child=serializers.IntegerField(), min_length=1, max_length=100)


def _body(request: Request) -> dict[str, Any]:
    return dict(request.data) if isinstance(request.data, dict) else {}


def _get(model: Any, pk: int, what: str) -> Any:
    found = model.objects.filter(pk=pk).first()
    if found is None:
        raise NotFound(f"No such {what}.")
    return found


def _rule_save(request: Request, rule: Rule | None) -> Rule:
    current = RuleSerializer(rule).data if rule is not None else {}
    incoming = RuleSerializer(data={**current, **_body(request)})
    incoming.is_valid(raise_exception=True)
    data = incoming.validated_data
    return services.rule_save(
        by=request.user,  # type: ignore[arg-type]
        rule=rule,
        name=data["name"],
        event_type=data["event_type"],
        conditions=data.get("conditions", []),
        actions=data["actions"],
        enabled=data.get("enabled", True),
        stop_after=data.get("stop_after", False),
        position=data.get("position"),
        confirmed=data.get("confirmed", False),
    )


class RuleList(generics.ListCreateAPIView[Rule]):
    """The rules, in the order they are evaluated. A rule that cannot work answers 400 with the reason."""

    serializer_class = RuleSerializer
    permission_classes = PERMISSIONS
    queryset = Rule.objects.order_by("position", "id")

    def post(self, request: Request, *args: Any, **kwargs: Any) -> Response:
        return Response(RuleSerializer(_rule_save(request, None)).data, status=status.HTTP_201_CREATED)


class RuleDetail(generics.RetrieveDestroyAPIView[Rule]):
    serializer_class = RuleSerializer
    permission_classes = PERMISSIONS
    http_method_names = ["get", "patch", "delete", "head", "options"]

    def get_object(self) -> Rule:
        return _get(Rule, self.kwargs["pk"], "rule")  # type: ignore[no-any-return]

    @extend_schema(request=RuleSerializer, responses={200: RuleSerializer})
    def patch(self, request: Request, pk: int) -> Response:
        return Response(RuleSerializer(_rule_save(request, self.get_object())).data)


class RuleRuns(generics.ListAPIView[RuleRun]):
    """A rule's run log, newest first: applied, skipped (and which condition failed), stopped, failed."""

    serializer_class = RuleRunSerializer
    permission_classes = PERMISSIONS

    def get_queryset(self) -> Any:
        rule = _get(Rule, self.kwargs["pk"], "rule")
        return RuleRun.objects.filter(rule=rule).order_by("-id")


class RuleDryRun(generics.GenericAPIView[Rule]):
    serializer_class = DryRunSerializer
    permission_classes = PERMISSIONS

    @extend_schema(
        request=DryRunSerializer,
        responses={200: dict},
        description="Evaluates the conditions on the last 1,000 events of the stream and answers which threads "
        "the rule would have touched and what it would have done. Nothing changes.",
    )
    def post(self, request: Request) -> Response:
        incoming = DryRunSerializer(data=request.data)
        incoming.is_valid(raise_exception=True)
        data = incoming.validated_data
        return Response(
            services.rule_dry_run(
                event_type=data["event_type"], conditions=data["conditions"], actions=data["actions"]
            )
        )


class MacroList(generics.ListCreateAPIView[Macro]):
    serializer_class = MacroSerializer
    permission_classes = MACRO_PERMISSIONS
    queryset = Macro.objects.order_by("name")

    def post(self, request: Request, *args: Any, **kwargs: Any) -> Response:
        incoming = MacroSerializer(data=request.data)
        incoming.is_valid(raise_exception=True)
        macro = services.macro_save(
            by=request.user,  # type: ignore[arg-type]
            name=incoming.validated_data["name"],
            actions=incoming.validated_data["actions"],
        )
        return Response(MacroSerializer(macro).data, status=status.HTTP_201_CREATED)


class MacroDetail(generics.RetrieveDestroyAPIView[Macro]):
    serializer_class = MacroSerializer
    permission_classes = MACRO_PERMISSIONS
    http_method_names = ["get", "patch", "delete", "head", "options"]

    def get_object(self) -> Macro:
        return _get(Macro, self.kwargs["pk"], "macro")  # type: ignore[no-any-return]

    @extend_schema(request=MacroSerializer, responses={200: MacroSerializer})
    def patch(self, request: Request, pk: int) -> Response:
        macro = self.get_object()
        incoming = MacroSerializer(data={**MacroSerializer(macro).data, **_body(request)})
        incoming.is_valid(raise_exception=True)
        macro = services.macro_save(
            by=request.user,  # type: ignore[arg-type]
            macro=macro,
            name=incoming.validated_data["name"],
            actions=incoming.validated_data["actions"],
        )
        return Response(MacroSerializer(macro).data)


class MacroApply(generics.GenericAPIView[Macro]):
    serializer_class = MacroApplySerializer
    permission_classes = [IsAgent]

    @extend_schema(
        request=MacroApplySerializer,
        responses={200: dict},
        description="Applies the macro's actions to each thread, as you. A thread you cannot see answers 404, "
        "as if it did not exist, and nothing is applied.",
    )
    def post(self, request: Request, pk: int) -> Response:
        macro = _get(Macro, pk, "macro")
        incoming = MacroApplySerializer(data=request.data)
        incoming.is_valid(raise_exception=True)
        results = services.macro_apply(
            macro=macro,
            conversation_ids=incoming.validated_data["conversations"],
            by=request.user,  # type: ignore[arg-type]
        )
        return Response({"results": results})

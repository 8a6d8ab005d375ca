"""The reports' REST API: the performance figures as JSON (managers), follow-ups scheduled by tools (agents)."""

from __future__ import annotations

from dataclasses import asdict
from typing import Any

from django.urls import path
from drf_spectacular.types import OpenApiTypes
from drf_spectacular.utils import OpenApiParameter, OpenApiResponse, extend_schema
from rest_framework import serializers, status
from rest_framework.permissions import BasePermission
from rest_framework.request import Request
from rest_framework.response import Response
from rest_framework.views import APIView

from conversations.selectors import agent_sees_everything
from conversations.services import conversation_get_visible
from reports.selectors import DIMENSIONS, performance_report, period_parse
from reports.services import followup_schedule


class IsManager(BasePermission):
    message = "Reports are for managers and admins."

    def has_permission(self, request: Request, view: Any) -> bool:
        return agent_sees_everything(request.user)


class PerformanceReportView(APIView):
    permission_classes = [IsManager]

    @extend_schema(
        parameters=[
            OpenApiParameter("start", OpenApiTypes.DATE, description="First day (default: 30 days ago)"),
            OpenApiParameter("end", OpenApiTypes.DATE, description="Last day, included (default: today)"),
            OpenApiParameter("hours", OpenApiTypes.STR, description="business (default) or clock"),
            *[
                OpenApiParameter(name, OpenApiTypes.STR, description=f"Only this {name}")
                for name in DIMENSIONS
            ],
        ],
        responses=OpenApiTypes.OBJECT,
    )
    def get(self, request: Request) -> Response:
        period = period_parse(
            start=request.query_params.get("start", ""), end=request.query_params.get("end", "")
        )
        report = performance_report(
            period=period,
            business_hours=request.query_params.get("hours", "business") != "clock",
            filters={name: request.query_params.get(name, "") for name in DIMENSIONS},
        )
        return Response(
            {
                "start": period.first_day,
                "end": period.last_day,
                "business_hours": report.business_hours,
                "overall": asdict(report.overall),
                "groups": {name: [asdict(f) for f in rows] for name, rows in report.groups.items()},
                "daily": [{"day": day, **asdict(f)} for day, f in report.daily],
                "heatmap": report.heatmap,
            }
        )


class FollowUpSerializer(serializers.Serializer[Any]):
    conversation = serializers.IntegerField(min_value=1, max_value=2**63 - 1)
    kind = serializers.ChoiceField(choices=["message", "reminder"], default="message")
    due_at = serializers.DateTimeField()
    body = serializers.CharField(required=False, allow_blank=True, default="")
    channel = serializers.CharField(required=False, allow_blank=True, default="")


class FollowUpCreate(APIView):
    @extend_schema(
        request=FollowUpSerializer,
        responses={
            201: OpenApiTypes.OBJECT,
            404: OpenApiResponse(
                response=OpenApiTypes.OBJECT,
                description="No such conversation among those this agent may see.",
            ),
        },
    )
    def post(self, request: Request) -> Response:
        data = FollowUpSerializer(data=request.data)
        data.is_valid(raise_exception=True)
        values = data.validated_data
        conversation = conversation_get_visible(user=request.user, conversation_id=values["conversation"])  # type: ignore[arg-type]
        followup = followup_schedule(
            conversation=conversation,
            by=request.user,  # type: ignore[arg-type]
            kind=values["kind"],
            due_at=values["due_at"],
            body=values["body"],
            channel=values["channel"],
        )
        return Response(
            {"id": followup.pk, "state": followup.state, "due_at": followup.due_at},
            status=status.HTTP_201_CREATED,
        )


urlpatterns = [
    path("performance/", PerformanceReportView.as_view(), name="api-reports-performance"),
    path("followups/", FollowUpCreate.as_view(), name="api-reports-followups"),
]

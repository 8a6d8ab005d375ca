from __future__ import annotations

from django.urls import path

from rules import api

urlpatterns = [
    path("rules/", api.RuleList.as_view(), name="api-rules"),
    path("rules/dry-run/", api.RuleDryRun.as_view(), name="api-rules-dry-run"),
    path("rules/<int:pk>/", api.RuleDetail.as_view(), name="api-rule"),
    path("rules/<int:pk>/runs/", api.RuleRuns.as_view(), name="api-rule-runs"),
    path("macros/", api.MacroList.as_view(), name="api-macros"),
    path("macros/<int:pk>/", api.MacroDetail.as_view(), name="api-macro"),
    path("macros/<int:pk>/apply/", api.MacroApply.as_view(), name="api-macro-apply"),
]

from __future__ import annotations

from django.urls import path

from lifecycle import api

urlpatterns = [
    path("contacts/<int:pk>/stage/", api.ContactStageMove.as_view(), name="api-contact-stage"),
    path("contacts/<int:pk>/events/", api.ContactEvents.as_view(), name="api-contact-events"),
    path("events/", api.IdentityEvents.as_view(), name="api-events"),
    path("lead-score/weights/", api.LeadScoreWeights.as_view(), name="api-lead-score-weights"),
    path("contacts/<int:pk>/score/", api.ContactScore.as_view(), name="api-contact-score"),
    path("stages/", api.StageList.as_view(), name="api-stages"),
    path("reports/funnel/", api.FunnelFigures.as_view(), name="api-reports-funnel"),
]

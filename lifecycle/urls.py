from __future__ import annotations

from django.urls import path

from lifecycle import views

urlpatterns = [
    path("reports/funnel/", views.funnel_page, name="reports-funnel"),
    path("reports/funnel/export.csv", views.funnel_csv, name="reports-funnel-csv"),
    path("reports/funnel/stages/", views.stages_page, name="reports-funnel-stages"),
    path("reports/leaks/", views.leaks_page, name="reports-leaks"),
    path("reports/leaks/settings/", views.leak_settings_save, name="reports-leaks-settings"),
    path("reports/targets/", views.targets_report_page, name="reports-targets"),
    path("inbox/settings/targets/", views.targets_page, name="inbox-settings-targets"),
    path("inbox/settings/lead-score/", views.lead_score_page, name="inbox-settings-lead-score"),
    path("inbox/<int:conversation_id>/stage/", views.stage_set, name="inbox-stage"),
    path("inbox/<int:conversation_id>/owner/", views.owner_set, name="inbox-owner"),
]

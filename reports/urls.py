from __future__ import annotations

from django.urls import path

from reports import views

urlpatterns = [
    path("", views.index, name="reports"),
    path("performance/", views.performance, name="reports-performance"),
    path("history/", views.history, name="reports-history"),
    path("history/<int:conversation_id>/", views.history_thread, name="reports-history-thread"),
    path("history/<int:conversation_id>/print/", views.thread_print, name="reports-thread-print"),
    path("audit/", views.audit, name="reports-audit"),
    path("exports/", views.export_create, name="reports-exports"),
    path("exports/<int:job_id>/", views.export_page, name="reports-export"),
    path("exports/<int:job_id>/status/", views.export_status, name="reports-export-status"),
    path("exports/<int:job_id>/download/", views.export_download, name="reports-export-download"),
    path("followups/", views.followup_create, name="reports-followups"),
    path("followups/<int:followup_id>/cancel/", views.followup_cancel_view, name="reports-followup-cancel"),
    path("followups/<int:followup_id>/send/", views.followup_send_view, name="reports-followup-send"),
]

from __future__ import annotations

from django.apps import AppConfig


class ReportsConfig(AppConfig):
    name = "reports"
    default_auto_field = "django.db.models.BigAutoField"

    def ready(self) -> None:
        from django.contrib.auth.signals import user_logged_in

        from reports.services import audit_login
        from reports.settings_audit import settings_audit_connect
        from reports.subscribers import subscribers_register

        user_logged_in.connect(audit_login, dispatch_uid="reports.audit_login")
        subscribers_register()
        settings_audit_connect()

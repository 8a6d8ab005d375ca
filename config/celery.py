from __future__ import annotations

import os

from celery import Celery

os.environ.setdefault("DJANGO_SETTINGS_MODULE", "config.settings")

app = Celery("hub")
app.config_from_object("django.conf:settings", namespace="CELERY")


def tasks_register() -> None:
    """Import every installed app's tasks module now, so this process knows every task by name.

    Celery's autodiscover_tasks() waits, by default, until a worker or beat imports the task modules. The
    embedded beat, a thread of the web process, never does: it found jobs not registered until some request
    happened to import their module. Called at app ready (conversations.apps), so every process that sets Django
    up (serve's web process, a worker, beat, a management command) has every task from its start.
    """
    from django.apps import apps

    app.autodiscover_tasks([app_config.name for app_config in apps.get_app_configs()], force=True)

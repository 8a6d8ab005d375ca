"""Serve the hub: one ASGI process embedded; with REDIS_URL also Celery workers and beat, stopped together."""

from __future__ import annotations

import os
import signal
import sys
from typing import Any

from django.conf import settings
from django.core.management.base import BaseCommand

from config.supervisor import Supervisor


class Command(BaseCommand):
    help = "Run the ASGI server (and, with REDIS_URL set, the Celery workers and beat) until Ctrl-C."

    def add_arguments(self, parser: Any) -> None:
        parser.add_argument("--host", default=settings.HOST)
        parser.add_argument("--port", type=int, default=settings.PORT)
        parser.add_argument("--web-workers", type=int, default=int(os.environ.get("WEB_CONCURRENCY", "1")))

    def handle(self, *args: Any, **options: Any) -> None:
        python = sys.executable
        web = [
            python,
            "-m",
            "uvicorn",
            "config.asgi:application",
            "--host",
            options["host"],
            "--port",
            str(options["port"]),
            "--lifespan",
            "off",
            "--no-access-log",
            "--workers",
            str(options["web_workers"]),
        ]
        if settings.EMBEDDED:
            # One process: the in-memory channel layer and the embedded beat live inside it.
            web[web.index("--workers") + 1] = "1"
            self.stdout.write(
                f"Embedded mode (SQLite, in-memory layer, eager tasks): http://{options['host']}:{options['port']}/"
            )
            os.execv(python, web)
        celery = [python, "-m", "celery", "-A", "config"]
        commands = {
            "web": web,
            # Inbound has its own worker so it never waits behind slower work.
            "worker-inbound": [
                *celery,
                "worker",
                "-Q",
                "inbound",
                "-n",
                "inbound@%h",
                "-c",
                "2",
                "-l",
                "INFO",
            ],
            "worker-default": [
                *celery,
                "worker",
                "-Q",
                "outbound,default",
                "-n",
                "default@%h",
                "-c",
                "2",
                "-l",
                "INFO",
            ],
            "beat": [
                *celery,
                "beat",
                "-l",
                "INFO",
                "-S",
                "django_celery_beat.schedulers:DatabaseScheduler",
                "--pidfile",
                "",
            ],
        }
        supervisor = Supervisor(commands, say=lambda line: self.stderr.write(line))
        signal.signal(signal.SIGINT, supervisor.stop)
        signal.signal(signal.SIGTERM, supervisor.stop)
        supervisor.start()
        self.stdout.write(
            f"Serving on http://{options['host']}:{options['port']}/ with {', '.join(commands)}; "
            "a process that crashes is restarted; Ctrl-C stops all."
        )
        sys.exit(supervisor.run())

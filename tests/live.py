"""Running the hub as in production for integration tests: uvicorn and Celery workers as separate processes."""

from __future__ import annotations

import os
import signal
import socket
import subprocess
import sys
import time
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any

import requests
from twilio.request_validator import RequestValidator

ROOT = Path(__file__).resolve().parent.parent


def free_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return int(probe.getsockname()[1])


def test_database_url() -> str:
    """The URL of the database pytest-django made for this run, for processes outside the test."""
    from django.db import connection

    s = connection.settings_dict
    return f"postgres://{s['USER']}@{s['HOST'] or '127.0.0.1'}:{s['PORT'] or 5432}/{s['NAME']}"


def hub_env(var_dir: Path, **extra: str) -> dict[str, str]:
    from django.conf import settings

    # DB_POOL is the test process's own (off); the hub's processes choose as in production.
    env = {k: v for k, v in os.environ.items() if not k.startswith(("DJANGO_", "PYTEST_")) and k != "DB_POOL"}
    env.update(
        DATABASE_URL=test_database_url(),
        REDIS_URL=settings.REDIS_URL,
        DB_CONN_MAX_AGE="0",
        HUB_VAR_DIR=str(var_dir),
        SECRET_KEY="integration-tests-secret-key-0123456789abcdef",
        PYTHONUNBUFFERED="1",
        LOG_LEVEL="WARNING",
    )
    env.update(extra)
    return env


class Processes:
    def __init__(self, log_dir: Path) -> None:
        self.log_dir = log_dir
        self.running: dict[str, subprocess.Popen[bytes]] = {}

    def start(self, name: str, command: list[str], env: dict[str, str]) -> subprocess.Popen[bytes]:
        log = (self.log_dir / f"{name}.log").open("ab")  # a restarted process adds to its log
        process = subprocess.Popen(
            command, cwd=ROOT, env=env, stdout=log, stderr=subprocess.STDOUT, start_new_session=True
        )
        self.running[name] = process
        return process

    def web(self, env: dict[str, str], port: int, name: str = "web") -> subprocess.Popen[bytes]:
        return self.start(
            name,
            [
                sys.executable,
                "-m",
                "uvicorn",
                "config.asgi:application",
                "--host",
                "127.0.0.1",
                "--port",
                str(port),
                "--lifespan",
                "off",
                "--no-access-log",
            ],
            env,
        )

    def worker(
        self,
        env: dict[str, str],
        name: str = "worker",
        queues: str = "inbound,outbound,default",
        concurrency: int = 2,
        log_level: str = "WARNING",
        extra: tuple[str, ...] = (),
    ) -> subprocess.Popen[bytes]:
        return self.start(
            name,
            [
                sys.executable,
                "-m",
                "celery",
                "-A",
                "config",
                "worker",
                "-Q",
                queues,
                "-n",
                f"{name}-{os.getpid()}@%h",
                "-c",
                str(concurrency),
                "--without-gossip",
                "--without-mingle",
                *extra,
                "-l",
                log_level,
            ],
            env,
        )

    def log(self, name: str) -> str:
        path = self.log_dir / f"{name}.log"
        return path.read_text(errors="replace") if path.exists() else ""

    def stop(self, name: str, sig: int = signal.SIGTERM) -> None:
        process = self.running.pop(name, None)
        if process is None or process.poll() is not None:
            return
        os.killpg(process.pid, sig)
        try:
            process.wait(timeout=10)
        except subprocess.TimeoutExpired:
            os.killpg(process.pid, signal.SIGKILL)
            process.wait(timeout=10)

    def stop_all(self) -> None:
        for name in list(self.running):
            self.stop(name)


@contextmanager
def processes(log_dir: Path) -> Iterator[Processes]:
    running = Processes(log_dir)
    try:
        yield running
    finally:
        running.stop_all()


def wait_until(predicate: Any, timeout: float = 15.0, interval: float = 0.05, message: str = "") -> Any:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        value = predicate()
        if value:
            return value
        time.sleep(interval)
    raise AssertionError(message or f"timed out after {timeout}s waiting for {predicate}")


def wait_http(url: str, timeout: float = 30.0) -> None:
    def up() -> bool:
        try:
            return requests.get(url, timeout=1).status_code == 200
        except requests.RequestException:
            return False

    wait_until(up, timeout=timeout, interval=0.2, message=f"{url} did not come up")


def post_signed_sms(
    base_url: str,
    account_sid: str,
    token: str,
    *,
    sender: str,
    to: str,
    body: str,
    sid: str,
    via: str | None = None,
) -> requests.Response:
    """Sign for the public URL `base_url`; post to `via` (another process behind the same public URL) if given."""
    params = {
        "ToCountry": "US",
        "SmsMessageSid": sid,
        "NumMedia": "0",
        "SmsSid": sid,
        "SmsStatus": "received",
        "Body": body,
        "To": to,
        "NumSegments": "1",
        "MessageSid": sid,
        "AccountSid": account_sid,
        "From": sender,
        "ApiVersion": "2010-04-01",
    }
    url = f"{base_url}/webhooks/twilio/messaging/"
    signature = RequestValidator(token).compute_signature(url, params)
    target = f"{via}/webhooks/twilio/messaging/" if via else url
    return requests.post(target, data=params, headers={"X-Twilio-Signature": signature}, timeout=10)

"""The embedded mode, as `make run` starts it on a bare machine: SQLite, in-memory layer, eager tasks, sandbox."""

from __future__ import annotations

import json
import os
import re
import sqlite3
import subprocess
import sys
from pathlib import Path

import pytest
import requests
from websockets.sync.client import connect

from tests.live import ROOT, free_port, processes, wait_http, wait_until

pytestmark = pytest.mark.integration


def bare_env(tmp_path: Path, port: int) -> dict[str, str]:
    env = {
        k: v
        for k, v in os.environ.items()
        if k not in {"DATABASE_URL", "REDIS_URL", "DJANGO_SETTINGS_MODULE"}
        and not k.startswith(("TWILIO_", "PYTEST"))
    }
    env.update(
        HUB_VAR_DIR=str(tmp_path / "var"),
        SQLITE_PATH=str(tmp_path / "hub.sqlite3"),
        PORT=str(port),
        INBOUND_SWEEP_AFTER_S="2",
        PYTHONUNBUFFERED="1",
    )
    return env


def manage(env: dict[str, str], *args: str) -> str:
    result = subprocess.run(
        [sys.executable, "manage.py", *args], cwd=ROOT, env=env, capture_output=True, text=True, timeout=180
    )
    assert result.returncode == 0, result.stdout + result.stderr
    return result.stdout


def test_a_newcomer_runs_the_hub_embedded_and_watches_a_text_arrive(tmp_path: Path) -> None:
    port = free_port()
    base = f"http://127.0.0.1:{port}"
    env = bare_env(tmp_path, port)
    manage(env, "migrate", "--noinput")
    printed = manage(env, "load_demo")
    username, password = re.search(r"username: (\S+)\s+password: (\S+)", printed).groups()
    assert manage(env, "load_demo").count(password) == 1, (
        "a second run prints the same login and loads nothing"
    )

    with processes(tmp_path) as running:
        running.start("serve", [sys.executable, "manage.py", "serve"], env)
        try:
            wait_http(f"{base}/healthz", timeout=60)
        except AssertionError:
            raise AssertionError(running.log("serve")) from None
        ready = requests.get(f"{base}/readyz", timeout=5).json()
        assert ready["checks"] == {"database": "ok", "channel_layer": "ok", "broker": "embedded"}

        session = requests.Session()
        session.get(f"{base}/accounts/login/", timeout=5)
        response = session.post(
            f"{base}/accounts/login/",
            timeout=5,
            data={
                "username": username,
                "password": password,
                "csrfmiddlewaretoken": session.cookies["csrftoken"],
            },
            headers={"Referer": f"{base}/accounts/login/"},
        )
        assert response.url == f"{base}/inbox/"
        cookie = f"sessionid={session.cookies['sessionid']}"
        with connect(
            f"ws://127.0.0.1:{port}/ws/agent/",
            origin=base,
            additional_headers={"Cookie": cookie},
            open_timeout=10,
        ) as socket:
            assert json.loads(socket.recv(timeout=5))["type"] == "hello"
            manage(env, "simulate_sms", "--from", "(415) 555-0123", "--body", "Hello from a new customer")

            def frame_with_text() -> dict:
                while True:
                    frame = json.loads(socket.recv(timeout=10))
                    if "Hello from a new customer" in frame.get("row", ""):
                        return frame

            conversation_id = frame_with_text()["conversation"]

        reply = session.post(
            f"{base}/inbox/{conversation_id}/reply/",
            data={"body": "Welcome!"},
            headers={"X-CSRFToken": session.cookies["csrftoken"], "Referer": base},
            timeout=10,
        )
        assert reply.status_code == 201, reply.text
        sandbox = tmp_path / "var" / "sandbox" / "outbound.jsonl"
        record = json.loads(
            wait_until(lambda: sandbox.exists() and sandbox.read_text(), timeout=10).splitlines()[-1]
        )
        assert (record["to"], record["body"]) == ("+14155550123", "Welcome!")

        # The periodic jobs run embedded too: an event left pending is swept into its thread.
        db = sqlite3.connect(tmp_path / "hub.sqlite3", timeout=20)
        payload = {
            "MessageSid": "SMleftpending",
            "AccountSid": "AC0",
            "From": "+14155550124",
            "To": "+14155550100",
            "Body": "I was left pending",
        }
        with db:
            db.execute(
                "INSERT INTO channels_adapters_inboundevent (kind, idempotency_key, payload, raw_file, state, attempts,"
                " last_error, received_at) VALUES (?, ?, ?, '', 'pending', 0, '', '2026-01-01 00:00:00')",
                ("twilio_messaging", "twilio:message:SMleftpending", json.dumps(payload)),
            )

        def swept() -> bool:
            row = db.execute(
                "SELECT state FROM channels_adapters_inboundevent WHERE idempotency_key = ?",
                ("twilio:message:SMleftpending",),
            ).fetchone()
            return row is not None and row[0] == "done"

        wait_until(
            swept,
            timeout=30,
            interval=0.5,
            message="the embedded sweeper did not run:\n" + running.log("serve"),
        )
        assert (
            db.execute(
                "SELECT COUNT(*) FROM conversations_entry WHERE body = 'I was left pending'"
            ).fetchone()[0]
            == 1
        )
        db.close()

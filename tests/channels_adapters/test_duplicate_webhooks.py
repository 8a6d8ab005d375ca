"""Twilio retries a webhook it thinks was lost, and behind a load balancer the retry can reach another ASGI
process while the first is still storing the original. Two real uvicorn processes on one PostgreSQL are
posted the same signed inbound SMS at the same instant, round after round: both answer 200 with TwiML, and
each MessageSid is stored once and lands in its thread once (the unique idempotency key decides, not luck).
"""

from __future__ import annotations

import threading
import time
from concurrent.futures import ThreadPoolExecutor
from typing import Any

import pytest
import requests

from channels_adapters.models import InboundEvent
from config.celery import app as celery_app
from conversations.models import Entry, Inbox
from tests.conftest import (
    ACCOUNT_SID,
    AUTH_TOKEN,
    PUBLIC_BASE_URL,
    SUPPORT_NUMBER,
    twilio_fixture,
    twilio_sign,
)
from tests.live import free_port, hub_env, processes, wait_http, wait_until

pytestmark = pytest.mark.integration

ROUNDS = 12
PATH = "/webhooks/twilio/messaging/"


@pytest.fixture
def real_broker() -> Any:
    previous = celery_app.conf.task_always_eager
    celery_app.conf.task_always_eager = False
    yield
    celery_app.conf.task_always_eager = previous


def inbound_sms(n: int) -> dict[str, str]:
    """Round n's message, in the form Twilio posts (the recorded fixture with its own ids)."""
    sid = f"SM{n:032x}"
    return twilio_fixture(
        "inbound_sms",
        MessageSid=sid,
        SmsMessageSid=sid,
        SmsSid=sid,
        From=f"+1415555{3000 + n:04d}",
        To=SUPPORT_NUMBER,
        Body=f"Is the order for round {n} on its way?",
    )


def posted(
    base: str, params: dict[str, str], signature: str, start: threading.Barrier
) -> tuple[requests.Response, float, float]:
    """Post the webhook to one process once both posters are ready; the answer and when it ran."""
    start.wait()
    began = time.monotonic()
    response = requests.post(base + PATH, data=params, headers={"X-Twilio-Signature": signature}, timeout=30)
    return response, began, time.monotonic()


@pytest.mark.django_db(transaction=True)
def test_the_same_sms_posted_to_two_web_processes_at_once_is_stored_and_threaded_once(
    real_broker: Any, inbox_support: Inbox, tmp_path: Any
) -> None:
    # Both processes stand behind one public URL, the one Twilio signs for.
    env = hub_env(
        tmp_path / "var",
        PUBLIC_BASE_URL=PUBLIC_BASE_URL,
        TWILIO_ACCOUNT_SID=ACCOUNT_SID,
        TWILIO_AUTH_TOKEN=AUTH_TOKEN,
        EMBEDDED_BEAT="0",
    )
    webs = [f"http://127.0.0.1:{free_port()}" for _ in range(2)]
    with processes(tmp_path) as running:
        for n, base in enumerate(webs):
            running.web(env, int(base.rsplit(":", 1)[1]), name=f"web{n}")
        running.worker(env, queues="inbound,default")
        for n, base in enumerate(webs):
            try:
                wait_http(f"{base}/healthz", timeout=60)
            except AssertionError:
                raise AssertionError(running.log(f"web{n}")) from None

        overlapped = 0
        with ThreadPoolExecutor(max_workers=2) as pool:
            for n in range(ROUNDS):
                params = inbound_sms(n)
                signature = twilio_sign(PUBLIC_BASE_URL + PATH, params)
                start = threading.Barrier(2)

                (first, a0, a1), (second, b0, b1) = pool.map(
                    posted, webs, [params] * 2, [signature] * 2, [start] * 2
                )
                for response in (first, second):
                    assert response.status_code == 200, (n, response.status_code, response.text)
                    assert response.headers["Content-Type"].startswith("text/xml")
                    assert "<Response" in response.text
                overlapped += a0 < b1 and b0 < a1

        assert overlapped >= ROUNDS // 2, f"the two posts overlapped in only {overlapped} of {ROUNDS} rounds"
        wait_until(
            lambda: (
                Entry.objects.filter(kind="message", direction="inbound").count() >= ROUNDS
                and not InboundEvent.objects.filter(state="pending").exists()
            ),
            timeout=60,
            message="the worker did not process every event:\n" + running.log("worker"),
        )
        time.sleep(1)  # a second copy, were there one, would be processed by now too

    for n in range(ROUNDS):
        sid = f"SM{n:032x}"
        assert InboundEvent.objects.filter(idempotency_key=f"twilio:message:{sid}").count() == 1
        entries = Entry.objects.filter(kind="message", provider_id=sid)
        assert entries.count() == 1, f"{sid} is in the thread {entries.count()} times"
        assert entries.get().body == f"Is the order for round {n} on its way?"
    assert InboundEvent.objects.count() == ROUNDS
    assert Entry.objects.filter(kind="message").count() == ROUNDS

"""When the database or the broker is down: never 200 for a message not stored; a stored one is never lost."""

from __future__ import annotations

import socket
import time
from collections.abc import Iterator
from contextlib import contextmanager

import pytest
from django.db import connection

from channels_adapters.inbound import inbound_doorbell, inbound_events_sweep
from channels_adapters.models import InboundEvent
from config.celery import app as celery_app
from conversations.models import Entry
from tests.conftest import twilio_fixture

PATH = "/webhooks/twilio/messaging/"


def closed_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return int(probe.getsockname()[1])


@contextmanager
def database_unreachable() -> Iterator[None]:
    saved = dict(connection.settings_dict)
    connection.close()
    connection.settings_dict["PORT"] = str(closed_port())
    connection.settings_dict["HOST"] = "127.0.0.1"
    try:
        yield
    finally:
        connection.close()
        connection.settings_dict.clear()
        connection.settings_dict.update(saved)


@contextmanager
def broker_at(url: str) -> Iterator[None]:
    """Point the Celery app at another broker for real (its connection pools are rebuilt)."""
    conf = celery_app.conf
    saved = (conf.broker_url, conf.task_always_eager)
    conf.broker_url, conf.task_always_eager = url, False
    celery_app._after_fork()
    try:
        yield
    finally:
        inbound_doorbell.drain()  # what the webhooks rang went to this broker, not the next one
        conf.broker_url, conf.task_always_eager = saved
        celery_app._after_fork()


@pytest.mark.django_db(transaction=True)
def test_database_unreachable_answers_5xx_so_twilio_retries(twilio_post, inbox_support) -> None:
    params = twilio_fixture("inbound_sms")
    with database_unreachable():
        response = twilio_post(PATH, params)
    assert response.status_code == 503
    assert InboundEvent.objects.count() == 0
    # Twilio's retry, once the database is back, is stored.
    assert twilio_post(PATH, params).status_code == 200
    assert InboundEvent.objects.count() == 1


@pytest.mark.django_db(transaction=True)
def test_status_callbacks_answer_5xx_too_when_the_database_is_down(twilio_post) -> None:
    with database_unreachable():
        response = twilio_post("/webhooks/twilio/messaging/status/", twilio_fixture("status_delivered"))
    assert response.status_code == 503


@pytest.mark.django_db(transaction=True)
def test_broker_unreachable_still_stores_and_answers_200_then_the_sweeper_delivers(
    twilio_post, inbox_support, settings
) -> None:
    started = time.monotonic()
    with broker_at(f"redis://127.0.0.1:{closed_port()}/0"):
        response = twilio_post(PATH, twilio_fixture("inbound_sms"))
    elapsed = time.monotonic() - started
    assert response.status_code == 200
    assert elapsed < 5, "a dead broker must not hold Twilio's request for long"
    event = InboundEvent.objects.get()
    assert event.state == InboundEvent.PENDING
    assert not Entry.objects.exists()
    # The broker is back (eager here): the sweeper re-enqueues what stayed pending past the threshold.
    settings.INBOUND_SWEEP_AFTER_S = 0
    assert inbound_events_sweep() == 1
    event.refresh_from_db()
    assert event.state == InboundEvent.DONE
    assert Entry.objects.filter(kind="message").count() == 1


@pytest.mark.django_db(transaction=True)
def test_the_sweeper_leaves_fresh_events_alone(twilio_post, inbox_support, settings) -> None:
    with broker_at(f"redis://127.0.0.1:{closed_port()}/0"):
        twilio_post(PATH, twilio_fixture("inbound_sms"))
    settings.INBOUND_SWEEP_AFTER_S = 3600
    assert inbound_events_sweep() == 0
    assert InboundEvent.objects.get().state == InboundEvent.PENDING

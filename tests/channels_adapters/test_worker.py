"""Through a real Celery worker on Redis: the webhook stores and answers; the worker appends and broadcasts."""

from __future__ import annotations

import asyncio

import pytest
from asgiref.sync import async_to_sync
from channels.layers import get_channel_layer

from config.celery import app as celery_app
from conversations import realtime
from conversations.models import Entry
from tests.conftest import ACCOUNT_SID, AUTH_TOKEN, SUPPORT_NUMBER, thread_of, twilio_fixture
from tests.fakes.twilio_api import FakeTwilioServer
from tests.live import hub_env, processes, wait_until

pytestmark = pytest.mark.integration


@pytest.fixture
def real_broker():
    previous = celery_app.conf.task_always_eager
    celery_app.conf.task_always_eager = False
    yield
    celery_app.conf.task_always_eager = previous


@pytest.mark.django_db(transaction=True)
def test_a_real_worker_processes_inbound_and_delivers_outbound(
    real_broker, twilio_post, inbox_support, agent_alice, tmp_path, settings
) -> None:
    fake = FakeTwilioServer(ACCOUNT_SID, AUTH_TOKEN).start()
    settings.TWILIO_API_BASE_URL = fake.url
    env = hub_env(
        tmp_path / "var",
        TWILIO_ACCOUNT_SID=ACCOUNT_SID,
        TWILIO_AUTH_TOKEN=AUTH_TOKEN,
        TWILIO_API_BASE_URL=fake.url,
        PUBLIC_BASE_URL=settings.PUBLIC_BASE_URL,
    )
    layer = get_channel_layer()
    listener = async_to_sync(layer.new_channel)()
    async_to_sync(layer.group_add)(realtime.group_inbox(inbox_support.pk), listener)
    try:
        with processes(tmp_path) as running:
            running.worker(env)
            response = twilio_post("/webhooks/twilio/messaging/", twilio_fixture("inbound_sms"))
            assert response.status_code == 200
            entry = wait_until(
                lambda: Entry.objects.filter(kind="message").first(),
                timeout=30,
                message="the worker did not process the event:\n" + running.log("worker"),
            )
            assert entry.body.startswith("Hi, is the blue trail runner")

            async def frame() -> dict:
                return await asyncio.wait_for(layer.receive(listener), timeout=10)

            message = async_to_sync(frame)()
            assert message["frame"]["conversation"] == entry.conversation_id

            from channels_adapters.outbound import message_send

            reply = message_send(conversation=thread_of("+14155550142"), body="Yes!", author=agent_alice)
            [sent] = fake.wait_for_messages(1, timeout=30)
            assert (sent["to"], sent["from"], sent["body"]) == ("+14155550142", SUPPORT_NUMBER, "Yes!")
            wait_until(lambda: Entry.objects.get(pk=reply.pk).delivery_status == "sent", timeout=10)
    finally:
        fake.stop()

"""Batched claims: under a backlog one task takes many pending events, each in its own transaction, and loses none."""

from __future__ import annotations

import asyncio

import pytest
from asgiref.sync import async_to_sync
from channels.layers import get_channel_layer

from channels_adapters.inbound import inbound_event_process, inbound_events_process
from channels_adapters.models import InboundEvent
from conversations import realtime
from conversations.models import Entry
from tests.conftest import twilio_fixture


def _pending(n: int, *, sid: str | None = None) -> InboundEvent:
    sid = sid or f"SMbatch{n:04d}"
    return InboundEvent.objects.create(
        kind="twilio_messaging",
        idempotency_key=f"twilio:message:{sid}",
        payload=twilio_fixture("inbound_sms", MessageSid=sid, From=f"+1415555{n:04d}", Body=f"message {n}"),
        received_at=f"2026-01-01T00:00:{n:02d}Z",
    )


def _frames(listener: str, count: int) -> list[dict]:
    layer = get_channel_layer()

    async def receive() -> list[dict]:
        return [(await asyncio.wait_for(layer.receive(listener), timeout=5))["frame"] for _ in range(count)]

    return async_to_sync(receive)()


@pytest.mark.django_db(transaction=True)
def test_one_task_takes_the_backlog_and_every_message_is_broadcast_once(inbox_support, settings) -> None:
    settings.INBOUND_BATCH = 10
    layer = get_channel_layer()
    listener = async_to_sync(layer.new_channel)()
    async_to_sync(layer.group_add)(realtime.group_inbox(inbox_support.pk), listener)
    events = [_pending(n) for n in range(1, 6)]

    inbound_event_process(event_id=events[2].pk)

    assert set(InboundEvent.objects.values_list("state", flat=True)) == {InboundEvent.DONE}
    assert sorted(Entry.objects.filter(kind="message").values_list("body", flat=True)) == [
        f"message {n}" for n in range(1, 6)
    ]
    frames = _frames(listener, 10)  # each new customer's message, and the event that made them a lead
    assert len({frame["conversation"] for frame in frames}) == 5
    assert [frame["seq"] for frame in frames] == sorted(frame["seq"] for frame in frames)
    # The other events' own tasks arrive later and find nothing to do.
    for event in events:
        assert inbound_event_process(event_id=event.pk) is None
    assert Entry.objects.filter(kind="message").count() == 5


@pytest.mark.django_db(transaction=True)
def test_a_poison_event_in_a_batch_is_rolled_back_alone_and_counted(inbox_support, settings) -> None:
    settings.INBOUND_BATCH = 10
    layer = get_channel_layer()
    listener = async_to_sync(layer.new_channel)()
    async_to_sync(layer.group_add)(realtime.GROUP_EVERYTHING, listener)
    first = _pending(1)
    poison = InboundEvent.objects.create(
        kind="no_such_adapter", idempotency_key="x:poison", payload={}, received_at="2026-01-01T00:00:02Z"
    )
    _pending(3)

    made = inbound_events_process(event_ids=[first.pk], batch=10)

    assert len(made) == 2
    poison.refresh_from_db()
    assert (poison.state, poison.attempts) == (InboundEvent.PENDING, 1)
    assert "No adapter" in poison.last_error
    assert InboundEvent.objects.filter(state=InboundEvent.DONE).count() == 2
    assert len(_frames(listener, 2)) == 2
    # The poison's own task still fails loudly, and the retry policy applies to it.
    with pytest.raises(LookupError):
        inbound_event_process(event_id=poison.pk)


@pytest.mark.django_db(transaction=True)
def test_events_held_by_another_worker_are_skipped_not_waited_for(inbox_support, settings) -> None:
    from tests.conftest import run_concurrently

    settings.INBOUND_BATCH = 50
    events = [_pending(n) for n in range(1, 31)]
    run_concurrently(lambda: inbound_event_process(event_id=events[0].pk), times=3)
    for event in events:
        inbound_event_process(event_id=event.pk)  # each event's own task, as the queue delivers them
    assert InboundEvent.objects.filter(state=InboundEvent.DONE).count() == 30
    assert Entry.objects.filter(kind="message").count() == 30
    assert Entry.objects.filter(kind="message").values("provider_id").distinct().count() == 30


def test_the_doorbell_sends_what_piles_up_as_few_tasks_and_loses_no_id() -> None:
    import base64
    import json

    import redis
    from django.conf import settings as django_settings

    from config.enqueue import Doorbell
    from tests.channels_adapters.test_faults import broker_at

    url = django_settings.REDIS_URL.rsplit("/", 1)[0] + "/10"
    client = redis.Redis.from_url(url)
    client.flushdb()
    doorbell = Doorbell("channels_adapters.tasks.process_inbound_event", most=50)
    with broker_at(url):
        for item_id in range(1, 301):
            doorbell.ring(item_id)
        assert doorbell.drain(timeout=20)
    messages = [json.loads(raw) for raw in client.lrange("inbound", 0, -1)]
    sent = [item for message in messages for item in json.loads(base64.b64decode(message["body"]))[0]]
    assert sorted(sent) == list(range(1, 301))
    assert len(messages) < 300 and all(
        len(json.loads(base64.b64decode(m["body"]))[0]) <= 50 for m in messages
    )
    client.flushdb()

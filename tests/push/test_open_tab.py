"""The agent's socket decides: while a tab of the hub is connected (the agent consumer marks it), no push;
once the last tab closes, the next message pushes."""

from __future__ import annotations

from typing import Any

import pytest
from asgiref.sync import sync_to_async
from channels.testing import WebsocketCommunicator
from django.db import connections
from django.test import Client

from conversations.services import conversation_assign
from push.models import PushSubscription
from tests.conftest import PUBLIC_BASE_URL, sms_in
from tests.push.conftest import subscribe


async def _tab(user: Any) -> WebsocketCommunicator:
    from config.asgi import application

    def cookie() -> bytes:
        client = Client()
        client.force_login(user)
        return f"sessionid={client.cookies['sessionid'].value}".encode()

    headers = [(b"origin", PUBLIC_BASE_URL.encode()), (b"cookie", await sync_to_async(cookie)())]
    communicator = WebsocketCommunicator(application, "/ws/agent/", headers=headers)
    connected, _ = await communicator.connect()
    assert connected
    assert (await communicator.receive_json_from())["type"] == "hello"
    return communicator


@pytest.mark.django_db(transaction=True)
@pytest.mark.asyncio
async def test_no_push_while_a_tab_is_connected_and_one_after_it_closes(
    push_service,
    agent_alice,
    inbox_support,
) -> None:
    service = await sync_to_async(push_service)()

    def setup() -> Any:
        conversation = sms_in(inbox_support, "Hello?", phone="+14155550142").conversation
        conversation_assign(conversation=conversation, assignee=agent_alice, by=None)
        subscribe(agent_alice, service)
        return conversation

    conversation = await sync_to_async(setup)()
    tab = await _tab(agent_alice)
    await sync_to_async(sms_in)(inbox_support, "while the tab is open", conversation=conversation)
    assert service.received == []
    await tab.disconnect()

    await sync_to_async(sms_in)(inbox_support, "after it closed", conversation=conversation)
    assert len(service.received) == 1
    assert await sync_to_async(lambda: PushSubscription.objects.get().last_sent_at is not None)()
    await sync_to_async(connections.close_all)()

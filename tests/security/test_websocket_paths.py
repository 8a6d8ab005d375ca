"""A websocket handshake for a path no consumer serves is refused (HTTP 403), not answered with a 500.

Channels' URLRouter raises ValueError for an unknown path: the server answered 500 and logged the error with
its traceback, once per probe or per stale page (`/ws/inbox/`). Now the handshake is closed before accept,
which uvicorn turns into 403, with one warning line and no error record.
"""

from __future__ import annotations

import logging

import pytest
from asgiref.sync import sync_to_async
from channels.testing import WebsocketCommunicator

from config.asgi import application
from tests.conftest import PUBLIC_BASE_URL
from tests.conversations.test_consumers import session_cookie

ORIGIN = (b"origin", PUBLIC_BASE_URL.encode())


async def handshake(path: str, headers: list[tuple[bytes, bytes]]) -> tuple[bool, object]:
    communicator = WebsocketCommunicator(application, path, headers=headers)
    try:
        return await communicator.connect(timeout=5)
    finally:
        await communicator.disconnect()


@pytest.mark.django_db(transaction=True)
@pytest.mark.asyncio
async def test_an_unknown_websocket_path_is_refused_at_the_handshake_without_an_error(
    agent_alice, caplog
) -> None:
    cookie = await sync_to_async(session_cookie)(agent_alice)
    caplog.set_level(logging.INFO)
    unknown = {
        "an agent's stale page": ("/ws/inbox/", [ORIGIN, cookie]),
        "a probe without origin or session": ("/ws/admin/", []),
        "a path under the widget's prefix": ("/ws/webchat/key/extra/", [ORIGIN]),
        "not even under /ws/": ("/socket.io/", [ORIGIN, cookie]),
    }
    answers = {name: (await handshake(path, headers))[0] for name, (path, headers) in unknown.items()}
    assert answers == dict.fromkeys(unknown, False)
    assert [r for r in caplog.records if r.levelno >= logging.ERROR] == []
    refusals = [r.getMessage() for r in caplog.records if "no route" in r.getMessage()]
    assert any("/ws/inbox/" in line for line in refusals), caplog.text
    # The agent's real socket still opens with the same cookie: the refusals are about the path.
    connected, _ = await handshake("/ws/agent/", [ORIGIN, cookie])
    assert connected

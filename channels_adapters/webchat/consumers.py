"""The widget's websocket, `/ws/webchat/<widget_key>/`: thin. Every decision is in webchat.services.

The handshake is refused (403) for a key no web chat inbox has and for a page whose origin the inbox does not
allow. The first frame is `hello` with the visitor token the browser kept (or none: a new visitor gets one).
From then on the socket hears only its visitor's group, so it can never read another visitor's thread,
whatever ids it sends.

Frames from the widget: hello {visitor, page}, message {id, body}, page {url, title, referrer},
identify {email, name, user_id, user_hash}, email {email}, seen {ids, read}, ping {since}.
Frames to it: welcome, ack {id}, error {code, message, id}, message {message}, history, typing, reload, pong.
"""

from __future__ import annotations

import logging
from datetime import datetime
from typing import Any

from channels.db import database_sync_to_async
from channels.generic.websocket import AsyncJsonWebsocketConsumer
from django.utils import timezone

from channels_adapters.webchat import services
from channels_adapters.webchat.identity import visitor_token_new, visitor_token_verify
from config.errors import HubError
from config.throttling import scope_client_ip
from conversations import realtime

logger = logging.getLogger("hub.webchat")

MAX_FRAME_CHARS = 64 * 1024


def _header(scope: dict[str, Any], name: bytes) -> str | None:
    values = [value for key, value in scope.get("headers", []) if key.lower() == name]
    return values[0].decode("latin1") if len(values) == 1 else None


class WebchatConsumer(AsyncJsonWebsocketConsumer):  # type: ignore[misc]
    async def connect(self) -> None:
        self.visitor_id: str | None = None
        key = str(self.scope["url_route"]["kwargs"].get("widget_key", ""))
        self.inbox = await database_sync_to_async(services.widget_inbox)(
            widget_key=key, origin=_header(self.scope, b"origin")
        )
        if self.inbox is None:
            await self.close(code=4403)  # before accept: the handshake is refused
            return
        self.ip = scope_client_ip(self.scope)
        await self.accept()

    async def disconnect(self, code: int) -> None:
        if self.visitor_id is not None:
            await self.channel_layer.group_discard(realtime.group_visitor(self.visitor_id), self.channel_name)
            await database_sync_to_async(services.visitor_connected)(
                visitor_id=self.visitor_id, connected=False
            )

    async def receive(
        self, text_data: str | None = None, bytes_data: bytes | None = None, **kwargs: Any
    ) -> None:
        if text_data is None or len(text_data) > MAX_FRAME_CHARS:
            await self._error("too_long", "That message is too large to send.")
            return
        try:
            await super().receive(text_data=text_data, **kwargs)
        except ValueError:
            await self._error("invalid", "The widget sent something the hub could not read.")

    async def receive_json(self, content: Any, **kwargs: Any) -> None:
        if not isinstance(content, dict):
            return
        kind = content.get("type")
        if kind == "hello":
            await self._hello(content)
            return
        if self.visitor_id is None:
            await self._error("hello_first", "The widget must say hello first.")
            return
        visitor = self.visitor_id
        try:
            if kind == "message":
                await database_sync_to_async(services.webchat_message_store)(
                    inbox=self.inbox,
                    visitor_id=visitor,
                    client_id=content.get("id"),
                    body=content.get("body"),
                    ip=self.ip,
                    uploads=content.get("files"),
                )
                await self.send_json({"type": "ack", "id": content.get("id")})
            elif kind == "page":
                await database_sync_to_async(services.webchat_page_view)(
                    inbox=self.inbox, visitor_id=visitor, page=content
                )
            elif kind == "identify":
                identified = await database_sync_to_async(services.webchat_identify)(
                    inbox=self.inbox, visitor_id=visitor, claims=content, ip=self.ip
                )
                await self.send_json({"type": "identified", "verified": identified.verified})
                await self._history()
            elif kind == "email":
                address = await database_sync_to_async(services.webchat_email_leave)(
                    visitor_id=visitor, email=content.get("email"), ip=self.ip
                )
                await self.send_json({"type": "email_saved", "email": address})
            elif kind == "seen":
                await database_sync_to_async(services.webchat_receipts)(
                    visitor_id=visitor, ids=content.get("ids"), read=content.get("read") is True
                )
            elif kind == "ping":
                await self._ping(content.get("since"))
        except HubError as error:
            await self._error(
                getattr(error, "code", "invalid"),
                error.message,
                id=content.get("id"),
                retry_after=getattr(error, "retry_after", None),
            )

    async def hub_frame(self, message: dict[str, Any]) -> None:
        await self.send_json(message["frame"])

    # --- helpers -----------------------------------------------------------------------------------
    async def _hello(self, content: dict[str, Any]) -> None:
        if self.visitor_id is not None:
            return
        visitor_id = visitor_token_verify(inbox_id=self.inbox.pk, token=content.get("visitor"))
        token = content.get("visitor")
        if visitor_id is None:
            visitor_id, token = visitor_token_new(inbox_id=self.inbox.pk)
        self.visitor_id = visitor_id
        await self.channel_layer.group_add(realtime.group_visitor(visitor_id), self.channel_name)
        status, messages = await database_sync_to_async(_welcome)(self.inbox, visitor_id)
        await self.send_json(
            {
                "type": "welcome",
                "visitor": token,
                "inbox": status,
                "messages": messages,
                "at": timezone.now().isoformat(),
            }
        )
        if isinstance(content.get("page"), dict):
            await database_sync_to_async(services.webchat_page_view)(
                inbox=self.inbox, visitor_id=visitor_id, page=content["page"]
            )

    async def _history(self) -> None:
        assert self.visitor_id is not None
        messages = await database_sync_to_async(services.visitor_messages)(visitor_id=self.visitor_id)
        await self.send_json({"type": "history", "messages": messages, "at": timezone.now().isoformat()})

    async def _ping(self, since: Any) -> None:
        """Presence, and the messages changed since the last answer: frames the layer dropped are not lost."""
        assert self.visitor_id is not None
        try:
            after = datetime.fromisoformat(since) if isinstance(since, str) else None
        except ValueError:
            after = None
        now = timezone.now().isoformat()
        status, messages = await database_sync_to_async(_ping)(self.inbox, self.visitor_id, after)
        await self.send_json({"type": "pong", "inbox": status, "messages": messages, "at": now})

    async def _error(self, code: str, message: str, **extra: Any) -> None:
        await self.send_json({"type": "error", "code": code, "message": message, **extra})


def _welcome(inbox: Any, visitor_id: str) -> tuple[dict[str, Any], list[services.VisitorMessage]]:
    services.visitor_connected(visitor_id=visitor_id, connected=True)
    return services.widget_status(inbox=inbox), services.visitor_messages(visitor_id=visitor_id)


def _ping(
    inbox: Any, visitor_id: str, since: datetime | None
) -> tuple[dict[str, Any], list[services.VisitorMessage]]:
    services.visitor_seen(visitor_id=visitor_id)
    inbox.refresh_from_db()  # settings an admin changed reach open widgets
    messages = services.visitor_messages(visitor_id=visitor_id, since=since) if since is not None else []
    return services.widget_status(inbox=inbox), messages

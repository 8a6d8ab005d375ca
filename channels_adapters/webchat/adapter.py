"""The web chat "provider": the hub itself. A visitor's frame, stored as an InboundEvent, becomes an
InboundMessage; an agent's reply is delivered by the realtime frames every thread change publishes
(channels_adapters.webchat.frames), so sending only acknowledges, and the widget's receipts move it on.
"""

from __future__ import annotations

from typing import Any

from channels_adapters.base import (
    AdapterError,
    InboundMessage,
    OutboundMessage,
    ProviderAccount,
    SendResult,
    StatusUpdate,
)

PROVIDER = "webchat"
KIND = "webchat"


class WebchatAdapter:
    provider = PROVIDER

    def parse_inbound(self, payload: dict[str, Any]) -> InboundMessage:
        try:
            visitor, client_id = str(payload["visitor"]), str(payload["client_id"])
            body, widget_key = str(payload.get("body", "")), str(payload["widget_key"])
        except KeyError as missing:
            raise AdapterError(f"A web chat event without {missing}", permanent=True) from None
        return InboundMessage(
            channel="webchat",
            sender_kind="visitor",
            sender=visitor,
            recipient=widget_key,
            body=body,
            provider=PROVIDER,
            provider_id=f"{visitor}:{client_id}",
            data={"client_id": client_id},
        )

    def send(self, message: OutboundMessage, *, account: ProviderAccount) -> SendResult:
        # The entry is in the thread, and the thread's frames reach the visitor's sockets (or their next
        # visit's history): nothing else to transmit.
        return SendResult(provider_id=f"webchat:{message.reference}", status="sent")

    def parse_status(self, payload: dict[str, Any]) -> StatusUpdate:
        return StatusUpdate(
            provider_id=str(payload.get("provider_id", "")), status=str(payload.get("status", ""))
        )

    def find_sent(
        self, message: OutboundMessage, *, account: ProviderAccount, since_iso: str
    ) -> SendResult | None:
        return SendResult(provider_id=f"webchat:{message.reference}", status="sent")

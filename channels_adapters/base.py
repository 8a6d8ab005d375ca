"""The adapter protocol: what every channel adapter turns payloads into, and the errors it raises.

An adapter knows one provider and nothing of the database. Services (channels_adapters.services) keep the
records; the adapter parses inbound payloads, sends one message and parses status callbacks.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any, Protocol

# The pipeline hands a stored raw body (InboundEvent.raw_file) to the adapter under this payload key.
RAW_PAYLOAD_KEY = "_raw"


class AdapterError(Exception):
    """A provider refused or failed. `permanent` errors never succeed on retry."""

    def __init__(
        self, message: str, *, permanent: bool = False, code: str = "", opted_out: bool = False
    ) -> None:
        super().__init__(message)
        self.message = message
        self.permanent = permanent
        self.code = code
        # The provider says the recipient unsubscribed (Twilio 21610): the service records the opt-out.
        self.opted_out = opted_out


class DeliveryUncertain(AdapterError):
    """The request may have reached the provider (a read timeout): never resend blindly, reconcile."""


@dataclass(frozen=True)
class ProviderAccount:
    """Credentials an adapter sends with. A sandbox account records instead of calling the network."""

    account_id: str
    secret: str
    sandbox: bool = False


@dataclass(frozen=True)
class InboundMedia:
    url: str
    content_type: str


@dataclass(frozen=True)
class InboundFile:
    """A file that arrived inside the message itself (an email attachment), not behind a URL."""

    filename: str
    declared_content_type: str
    content: bytes | None  # None: refused (over the size limit), with the reason
    size: int
    content_id: str = ""
    refused: str = ""


@dataclass(frozen=True)
class InboundMessage:
    """A customer's message, normalized: who sent it, to which business address, and what it says."""

    channel: str
    sender_kind: str
    sender: str
    recipient: str
    body: str
    provider: str
    provider_id: str
    account_id: str = ""
    route_hint: str = ""  # e.g. the Messaging Service the recipient number is pooled in
    sender_name: str = ""
    media: tuple[InboundMedia, ...] = ()
    keyword: str = ""  # "stop", "start" or "help" when the body is an opt-out keyword
    data: dict[str, Any] = field(default_factory=dict)
    subject: str = ""
    files: tuple[InboundFile, ...] = ()
    raw: bytes = b""  # the message as received, kept downloadable (email)


@dataclass(frozen=True)
class OutboundFile:
    """A file sent inside the message itself (an email attachment); MMS and WhatsApp use `media_urls`."""

    filename: str
    content_type: str
    content: bytes


@dataclass(frozen=True)
class OutboundMessage:
    channel: str
    to: str
    from_address: str
    body: str
    status_callback: str
    messaging_service_id: str = ""
    reference: str = ""  # our entry id, to find the message again when reconciling
    media_urls: tuple[str, ...] = ()
    # A WhatsApp template (Twilio Content): sent instead of `body`, which holds the text as the customer reads it.
    content_sid: str = ""
    content_variables: dict[str, str] = field(default_factory=dict)
    # A call: the agent's phone Twilio rings first, bridging to `to` once they answer (click-to-call).
    connect_first: str = ""
    # Email
    subject: str = ""
    html: str = ""
    cc: tuple[str, ...] = ()
    reply_to: str = ""
    headers: dict[str, str] = field(default_factory=dict)
    files: tuple[OutboundFile, ...] = ()


@dataclass(frozen=True)
class SendResult:
    provider_id: str
    status: str  # delivery status vocabulary: normally "sent"
    sandbox: bool = False


@dataclass(frozen=True)
class StatusUpdate:
    provider_id: str
    status: str  # delivery status vocabulary, or "" when the callback says nothing we track
    reason: str = ""
    opted_out: bool = False


class MessagingAdapter(Protocol):
    provider: str

    def parse_inbound(self, payload: dict[str, Any]) -> InboundMessage: ...

    def send(self, message: OutboundMessage, *, account: ProviderAccount) -> SendResult: ...

    def parse_status(self, payload: dict[str, Any]) -> StatusUpdate: ...

    def find_sent(
        self, message: OutboundMessage, *, account: ProviderAccount, since_iso: str
    ) -> SendResult | None:
        """Ask the provider whether a message we may have sent was accepted; None when it was not found."""
        ...

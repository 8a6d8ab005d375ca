"""Adapter kind -> adapter class, imported lazily. Adding a channel is one line here and one subpackage."""

from __future__ import annotations

from functools import cache
from importlib import import_module
from typing import Any

ADAPTERS: dict[str, str] = {
    "twilio_messaging": "channels_adapters.sms.adapter.TwilioMessagingAdapter",
    "twilio_voice": "channels_adapters.voice.adapter.TwilioVoiceAdapter",
    "email": "channels_adapters.email.adapter.EmailAdapter",
    "webchat": "channels_adapters.webchat.adapter.WebchatAdapter",
}

# Kinds whose stored events are not messages: the service that records one (default: a message entry).
INBOUND_RECORDERS: dict[str, str] = {
    "twilio_voice": "channels_adapters.voice.services.call_event_record",
    "webchat": "channels_adapters.webchat.services.webchat_event_record",
}

# Which adapter sends on a channel.
CHANNEL_ADAPTERS: dict[str, str] = {
    "sms": "twilio_messaging",
    "whatsapp": "twilio_messaging",
    "voice": "twilio_voice",
    "email": "email",
    "webchat": "webchat",
}


@cache
def get_adapter(kind: str) -> Any:
    try:
        dotted = ADAPTERS[kind]
    except KeyError:
        raise LookupError(f"No adapter is registered for {kind!r}") from None
    module_name, _, class_name = dotted.rpartition(".")
    return getattr(import_module(module_name), class_name)()


def adapter_for_channel(channel: str) -> Any:
    try:
        return get_adapter(CHANNEL_ADAPTERS[channel])
    except KeyError:
        raise LookupError(f"No adapter sends on the {channel!r} channel yet") from None


def inbound_recorder(kind: str) -> Any:
    """The service that records a stored event of this kind, or None for a plain inbound message."""
    dotted = INBOUND_RECORDERS.get(kind)
    if dotted is None:
        return None
    module_name, _, function_name = dotted.rpartition(".")
    return getattr(import_module(module_name), function_name)

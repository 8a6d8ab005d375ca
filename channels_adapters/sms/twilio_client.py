"""Building Twilio SDK clients: one HTTP client per process, the hosts from TWILIO_API_BASE_URL and
TWILIO_CONTENT_BASE_URL."""

from __future__ import annotations

import threading

from django.conf import settings
from twilio.http.http_client import TwilioHttpClient
from twilio.rest import Client

from channels_adapters.base import ProviderAccount

_local = threading.local()


def get_http_client() -> TwilioHttpClient:
    """The SDK's own requests-based client; tests replace this function to put a fake in its place."""
    client = getattr(_local, "http_client", None)
    if client is None:
        client = TwilioHttpClient(timeout=settings.TWILIO_HTTP_TIMEOUT_S, pool_connections=True)
        _local.http_client = client
    client.timeout = settings.TWILIO_HTTP_TIMEOUT_S
    return client


def twilio_client(account: ProviderAccount) -> Client:
    client = Client(account.account_id, account.secret, http_client=get_http_client())
    client.api.base_url = settings.TWILIO_API_BASE_URL
    client.content.base_url = settings.TWILIO_CONTENT_BASE_URL
    return client

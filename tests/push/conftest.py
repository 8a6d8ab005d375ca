"""Web Push tests: a push service on 127.0.0.1 and a browser's subscription to it."""

from __future__ import annotations

import json
from collections.abc import Callable, Iterator
from typing import Any

import pytest
from django.test import Client

from push.services import vapid_key_get
from tests.push.receiver import Browser, PushService


@pytest.fixture
def push_service(settings: Any) -> Iterator[Callable[..., PushService]]:
    started: list[PushService] = []

    def start(**options: Any) -> PushService:
        service = PushService(**options).start()
        settings.SAFE_HTTP_ALLOW_LOOPBACK = [*settings.SAFE_HTTP_ALLOW_LOOPBACK, service.hostport]
        started.append(service)
        return service

    settings.PUSH_TIMEOUT_S = 1.0
    settings.PUSH_CONTACT = "mailto:ops@hub.example.test"
    yield start
    for service in started:
        service.stop()


def subscribe(user: Any, service: PushService, name: str = "phone") -> Browser:
    """The profile page's "Get notifications on this device", as the page's script does it."""
    browser = Browser()
    client = Client()
    client.force_login(user)
    key = client.get("/inbox/push/key/").json()["public_key"]
    assert key == vapid_key_get().public_key
    body = {**browser.subscription(service.endpoint(name)), "device": "Chrome on Android"}
    response = client.post("/inbox/push/subscriptions/", json.dumps(body), content_type="application/json")
    assert response.status_code == 201, response.content
    return browser

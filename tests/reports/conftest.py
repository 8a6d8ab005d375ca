from __future__ import annotations

from datetime import datetime
from typing import Any

import pytest
from django.test import Client


class Clock:
    """`timezone.now()` where the test says: resolutions and schedules happen at hand-picked times."""

    def __init__(self, monkeypatch: pytest.MonkeyPatch) -> None:
        from django.utils import timezone

        self.now: datetime | None = None
        real = timezone.now
        monkeypatch.setattr(timezone, "now", lambda: self.now or real())

    def set(self, moment: datetime) -> datetime:
        self.now = moment
        return moment


@pytest.fixture
def clock(monkeypatch: pytest.MonkeyPatch) -> Clock:
    return Clock(monkeypatch)


@pytest.fixture
def maria_client(manager_maria: Any) -> Client:
    client = Client()
    client.force_login(manager_maria)
    return client

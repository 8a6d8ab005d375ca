"""Email fixtures: the support mailbox's inbox and a way to hand a raw message to the hub as an MTA would."""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path
from typing import Any

import pytest

from channels_adapters.email.services import email_store
from conversations.models import Entry, Inbox, Team
from tests import factories

EMAIL_FIXTURES = Path(__file__).resolve().parents[2] / "fixtures" / "email"
SUPPORT_EMAIL = "support@shoes.example"


def eml(name: str, **replace: str) -> bytes:
    raw = (EMAIL_FIXTURES / f"{name}.eml").read_bytes()
    for key, value in replace.items():
        raw = raw.replace(("{" + key + "}").encode(), value.encode())
    return raw


@pytest.fixture
def inbox_email(team_support: Team) -> Inbox:
    return factories.InboxFactory(
        name="Support email", kind=Inbox.EMAIL, address=SUPPORT_EMAIL, team=team_support
    )


@pytest.fixture
def deliver_email(django_capture_on_commit_callbacks: Any) -> Callable[..., Entry | None]:
    """Store a raw message and run the inbound task it enqueues (eager), as the worker would."""

    def deliver(raw: bytes, **kwargs: Any) -> Entry | None:
        with django_capture_on_commit_callbacks(execute=True):
            event, _ = email_store(raw=raw, source=kwargs.pop("source", "test"), **kwargs)
        event.refresh_from_db()
        return event.entry

    return deliver

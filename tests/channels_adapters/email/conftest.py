"""Email fixtures: the support mailbox's inbox and a way to hand a raw message to the hub as an MTA would."""

from __future__ import annotations

import io
import logging
import re
import sys
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import pytest
from aiosmtpd.controller import Controller
from django.core.management import call_command

from channels_adapters.email.services import email_store
from channels_adapters.models import InboundEvent
from channels_adapters.tasks import process_inbound_event
from conversations.models import Entry, Inbox, Team
from tests import factories
from tests.live import free_port

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


@pytest.fixture
def ingest_email(monkeypatch: pytest.MonkeyPatch) -> Callable[..., InboundEvent]:
    """`manage.py ingest_email` in this process, the message on standard input as an MTA's pipe gives it.

    Returns the event it stored (or found already stored); a refusal raises SystemExit with the pipe's code.
    """

    def ingest(raw: bytes, recipient: str = SUPPORT_EMAIL) -> InboundEvent:
        monkeypatch.setattr(sys, "stdin", io.TextIOWrapper(io.BytesIO(raw)))
        out = io.StringIO()
        try:
            call_command("ingest_email", "--recipient", recipient, verbosity=2, stdout=out)
        finally:
            logging.disable(logging.NOTSET)  # the command silences logging for the MTA's sake
        found = re.search(r"inbound event (\d+)", out.getvalue())
        assert found, out.getvalue()
        return InboundEvent.objects.get(pk=int(found.group(1)))

    return ingest


@pytest.fixture
def run_worker(django_capture_on_commit_callbacks: Any) -> Callable[[InboundEvent], Entry | None]:
    """The inbound worker's task for one stored event, as Celery runs it; returns the event's entry."""

    def run(event: InboundEvent) -> Entry | None:
        with django_capture_on_commit_callbacks(execute=True):
            process_inbound_event(event.pk)
        event.refresh_from_db()
        return event.entry

    return run


class Sink:
    def __init__(self) -> None:
        self.envelopes: list[Any] = []

    async def handle_DATA(self, server: Any, session: Any, envelope: Any) -> str:
        self.envelopes.append(envelope)
        return "250 Message accepted"


@pytest.fixture
def smtp_server(settings: Any) -> Iterator[Sink]:
    """A real SMTP server on a spare port; the hub's SMTP backend delivers to it."""
    sink = Sink()
    controller = Controller(sink, hostname="127.0.0.1", port=free_port())
    controller.start()
    settings.EMAIL_SANDBOX = False
    settings.EMAIL_BACKEND = "django.core.mail.backends.smtp.EmailBackend"
    settings.EMAIL_HOST = "127.0.0.1"
    settings.EMAIL_PORT = controller.port
    settings.EMAIL_USE_TLS = False
    yield sink
    controller.stop()

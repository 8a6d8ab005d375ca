"""Shared fixtures: named agents and teams, Twilio-format webhook fixtures signed as Twilio signs them,
a local fake Twilio API, and a channel layer to listen on."""

from __future__ import annotations

import json
import threading
import uuid
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any
from urllib.parse import urlencode

import pytest
from django.db import connection
from django.test import Client
from twilio.request_validator import RequestValidator

from config.celery import app as celery_app
from contacts.services import contact_resolve
from conversations.models import AgentProfile, Conversation, Entry, Inbox, Team
from conversations.services import conversation_get_or_create, entry_append
from tests import factories
from tests.fakes.twilio_api import FakeTwilioServer

FIXTURES = Path(__file__).parent / "fixtures"
ACCOUNT_SID = "ACaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaa"
AUTH_TOKEN = "0123456789abcdef0123456789abcdef"
PUBLIC_BASE_URL = "https://hub.example.test"
SUPPORT_NUMBER = "+14155550100"
SALES_NUMBER = "+14155550199"


def twilio_fixture(name: str, **overrides: str) -> dict[str, str]:
    params: dict[str, str] = json.loads((FIXTURES / "twilio" / f"{name}.json").read_text())
    params.update(overrides)
    return params


def twilio_sign(url: str, params: dict[str, str], token: str = AUTH_TOKEN) -> str:
    return str(RequestValidator(token).compute_signature(url, params))


@pytest.fixture(autouse=True)
def hub_settings(settings: Any, tmp_path: Path) -> Any:
    settings.PUBLIC_BASE_URL = PUBLIC_BASE_URL
    settings.TWILIO_ACCOUNT_SID = ACCOUNT_SID
    settings.TWILIO_AUTH_TOKEN = AUTH_TOKEN
    # Nothing listens here: a test that reaches Twilio without a fake fails loudly instead of going out.
    settings.TWILIO_API_BASE_URL = "http://127.0.0.1:9"
    settings.TWILIO_CONTENT_BASE_URL = "http://127.0.0.1:9"
    settings.TWILIO_HTTP_TIMEOUT_S = 2.0
    settings.SANDBOX_DIR = tmp_path / "sandbox"
    settings.MEDIA_ROOT = tmp_path / "media"
    return settings


@pytest.fixture(autouse=True)
def throttle_counters_of_our_own(monkeypatch: pytest.MonkeyPatch) -> None:
    """Rate-limit counters live in the shared cache: each test counts in a namespace of its own."""
    from config import throttling

    monkeypatch.setattr(throttling, "KEY_NAMESPACE", f"throttle-test-{uuid.uuid4().hex}")


@pytest.fixture(autouse=True)
def eager_celery() -> Iterator[None]:
    """Tasks run inline in unit tests; the integration tests start real workers."""
    previous = celery_app.conf.task_always_eager
    celery_app.conf.task_always_eager = True
    yield
    celery_app.conf.task_always_eager = previous


@pytest.fixture(autouse=True)
def channel_layer_of_its_own(request: pytest.FixtureRequest) -> Iterator[None]:
    """An asyncio test leaves channels_redis's layer with locks bound to its event loop (its per-process
    receive lock, a backup cleaner still pending when the loop closed), and the layer then refuses every
    later test's loop. So after each asyncio test the next one gets a fresh layer."""
    yield
    if request.node.get_closest_marker("asyncio") is not None:
        from channels.layers import channel_layers

        channel_layers.backends.pop("default", None)


@pytest.fixture(scope="session", autouse=True)
def clean_redis(django_db_setup: Any) -> None:
    """The suite's Redis database starts empty (groups and queues of an earlier run are gone)."""
    from django.conf import settings

    if settings.REDIS_URL:
        import redis

        redis.Redis.from_url(settings.REDIS_URL).flushdb()


# --- people, teams, inboxes ----------------------------------------------------------------------
@pytest.fixture
def team_support(db: Any) -> Team:
    return factories.TeamFactory(name="Support")


@pytest.fixture
def team_sales(db: Any) -> Team:
    return factories.TeamFactory(name="Sales")


@pytest.fixture
def inbox_support(team_support: Team) -> Inbox:
    return factories.InboxFactory(
        name="Support line", address=SUPPORT_NUMBER, team=team_support, whatsapp_enabled=True
    )


@pytest.fixture
def inbox_sales(team_sales: Team) -> Inbox:
    return factories.InboxFactory(name="Sales line", address=SALES_NUMBER, team=team_sales)


@pytest.fixture
def agent_alice(team_support: Team) -> Any:
    return factories.agent("agent_alice", teams=(team_support,))


@pytest.fixture
def agent_bob(team_sales: Team) -> Any:
    return factories.agent("agent_bob", teams=(team_sales,))


@pytest.fixture
def manager_maria(db: Any) -> Any:
    return factories.agent("manager_maria", role=AgentProfile.MANAGER)


@pytest.fixture
def admin_ada(db: Any) -> Any:
    return factories.agent("admin_ada", role=AgentProfile.ADMIN)


@pytest.fixture
def alice_client(agent_alice: Any) -> Client:
    client = Client()
    client.force_login(agent_alice)
    return client


# --- Twilio --------------------------------------------------------------------------------------
TwilioPost = Callable[..., Any]


@pytest.fixture
def twilio_post(client: Client) -> TwilioPost:
    """Post form fields to a webhook exactly as Twilio does: urlencoded, signed over the public URL."""

    def post(
        path: str,
        params: dict[str, str],
        *,
        token: str = AUTH_TOKEN,
        signature: str | None = None,
        query: str = "",
        sign_url: str | None = None,
    ) -> Any:
        target = path + (f"?{query}" if query else "")
        url = sign_url if sign_url is not None else PUBLIC_BASE_URL + target
        header = signature if signature is not None else twilio_sign(url, params, token)
        return client.post(
            target,
            data=urlencode(params),
            content_type="application/x-www-form-urlencoded",
            HTTP_X_TWILIO_SIGNATURE=header,
        )

    return post


@pytest.fixture
def fake_twilio(settings: Any) -> Iterator[FakeTwilioServer]:
    server = FakeTwilioServer(ACCOUNT_SID, AUTH_TOKEN).start()
    settings.TWILIO_API_BASE_URL = server.url
    settings.TWILIO_CONTENT_BASE_URL = server.url
    # The fake listens on 127.0.0.1, which config/safe_http refuses to anyone not named here.
    settings.SAFE_HTTP_ALLOW_LOOPBACK = [server.url.split("//", 1)[1]]
    yield server
    server.stop()


@pytest.fixture
def deliver_inbound(twilio_post: TwilioPost, django_capture_on_commit_callbacks: Any) -> Callable[..., Any]:
    """Post an inbound message webhook and run what it enqueues (eager), as a worker would."""

    def deliver(params: dict[str, str]) -> Any:
        with django_capture_on_commit_callbacks(execute=True):
            response = twilio_post("/webhooks/twilio/messaging/", params)
        assert response.status_code == 200, response.content
        return response

    return deliver


def sms_in(
    inbox: Inbox,
    body: str = "Hello?",
    *,
    phone: str = "+14155550142",
    conversation: Conversation | None = None,
) -> Entry:
    """An inbound SMS appended straight to the customer's thread through the service (no webhook)."""
    if conversation is None:
        contact, _ = contact_resolve(kind="phone", address=phone)
        conversation = conversation_get_or_create(contact=contact)
    return entry_append(
        conversation=conversation, kind="message", direction="inbound", channel="sms", inbox=inbox, body=body
    )


def thread_of(phone: str) -> Conversation:
    return Conversation.objects.get(contact__identities__address=phone)


@pytest.fixture
def sms_thread(deliver_inbound: Callable[..., Any], inbox_support: Inbox) -> Conversation:
    """Dana's lifetime thread, after her first text to the support line."""
    deliver_inbound(twilio_fixture("inbound_sms"))
    return thread_of("+14155550142")


def run_concurrently(work: Callable[[], Any], times: int) -> list[Any]:
    """Run `work` in `times` threads released at once (each with its own database connection)."""
    barrier = threading.Barrier(times)
    results: list[Any] = []
    errors: list[BaseException] = []

    def run() -> None:
        try:
            barrier.wait()
            results.append(work())
        except BaseException as error:
            errors.append(error)
        finally:
            connection.close()

    threads = [threading.Thread(target=run) for _ in range(times)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    if errors:
        raise errors[0]
    return results

"""Fuzzing the REST API from its own OpenAPI document (/api/schema/) with schemathesis.

Every operation, every path, filter and search parameter and body, authenticated as an agent (her team's
threads exist beside another team's), with a fixed seed and a bounded number of examples: no 5xx, and
every response conforms to the document (status codes, content types, bodies).
"""

from __future__ import annotations

import os
from collections.abc import Iterator
from typing import Any

import pytest
import schemathesis
from django.core.signals import request_finished, request_started
from django.db import close_old_connections
from hypothesis import HealthCheck, seed, settings
from rest_framework.authtoken.models import Token
from schemathesis.specs.openapi.checks import positive_data_acceptance

from config.wsgi import application
from conversations.models import Attachment
from tests.conftest import sms_in

pytestmark = pytest.mark.django_db

# Bounded and seeded for the gate; FUZZ_EXAMPLES and FUZZ_SEED dig deeper by hand.
EXAMPLES_PER_OPERATION = int(os.environ.get("FUZZ_EXAMPLES", "30"))
SEED = int(os.environ.get("FUZZ_SEED", "20261122"))


# The document exactly as /api/schema/ serves it; calls go in-process to the WSGI application.
schema = schemathesis.openapi.from_wsgi("/api/schema/?format=json", application)


@pytest.fixture(autouse=True)
def fast_password_hashing(settings: Any) -> None:
    """The token endpoint checks a password per example: a cheap hasher keeps the run short."""
    settings.PASSWORD_HASHERS = ["django.contrib.auth.hashers.MD5PasswordHasher"]


@pytest.fixture
def wsgi_app(settings: Any) -> Iterator[Any]:
    """Calls go in-process to the WSGI application, not to a port."""
    settings.THROTTLE_RATES = {scope: "100000/m" for scope in settings.THROTTLE_RATES}
    # As Django's test client does: a request must not close the test's database connection.
    request_started.disconnect(close_old_connections)
    request_finished.disconnect(close_old_connections)
    try:
        yield application
    finally:
        request_started.connect(close_old_connections)
        request_finished.connect(close_old_connections)


@pytest.fixture
def alice_token(agent_alice: Any, inbox_support: Any, inbox_sales: Any) -> str:
    mine = sms_in(inbox_support, "My order?", phone="+14155550142")
    Attachment.objects.create(entry=mine, state="stored", content_type="image/png", filename="a.png")
    sms_in(inbox_sales, "Team discount?", phone="+12125550187")
    return Token.objects.create(user=agent_alice).key


@schema.parametrize()
@seed(SEED)
@settings(
    max_examples=EXAMPLES_PER_OPERATION,
    deadline=None,
    suppress_health_check=list(HealthCheck),
    database=None,
)
def test_the_api_never_fails_and_always_answers_as_documented(
    case: Any, alice_token: str, wsgi_app: Any
) -> None:
    excluded = []
    if case.path == "/api/v1/auth/token/":
        # A well-formed username and password that are simply wrong answer 400, by DRF's contract.
        excluded.append(positive_data_acceptance)
    if case.path in (
        "/api/v1/events/",
        "/api/v1/contacts/{id}/events/",
        "/api/v1/reports/funnel/",
        "/api/v1/reports/followups/",
        "/api/v1/conversations/",
        "/api/v1/views/",
    ):
        # Limits OpenAPI cannot state (a payload's size in bytes, a time in the past or not in the future, a
        # period that ends after it starts, an address that is a phone or an email, an empty text, a view name
        # already taken) answer 400 to schema-valid data, with the reason.
        excluded.append(positive_data_acceptance)
    case.call_and_validate(headers={"Authorization": f"Token {alice_token}"}, excluded_checks=excluded)

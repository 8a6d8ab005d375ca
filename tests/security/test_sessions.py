"""Session fixation: a session id known before logging in (planted by an attacker, or left on a shared
machine) is worth nothing after it. Every door that logs a person in gives a new id and ends the old
session on the server; the API's token endpoint makes no session at all.
"""

from __future__ import annotations

from typing import Any

import pytest
from django.conf import settings
from django.contrib.auth.models import User
from django.contrib.sessions.backends.base import SessionBase
from django.test import Client
from django.utils.module_loading import import_string
from rest_framework.test import APIClient

from tests.livehub import PASSWORD

pytestmark = pytest.mark.django_db


@pytest.fixture(autouse=True)
def fast_password_hashing(settings: Any) -> None:
    settings.PASSWORD_HASHERS = ["django.contrib.auth.hashers.MD5PasswordHasher"]


def session_store(key: str | None = None) -> SessionBase:
    store: SessionBase = import_string(settings.SESSION_ENGINE + ".SessionStore")(key)
    return store


def planted_session() -> str:
    """A session that exists on the server before the victim logs in, as an attacker would plant it."""
    store = session_store()
    store["planted"] = "by an attacker"
    store.create()
    assert store.session_key is not None
    return store.session_key


def signed_in(session_key: str) -> bool:
    """Whether a browser holding only this session cookie gets into the inbox."""
    browser = Client()
    browser.cookies[settings.SESSION_COOKIE_NAME] = session_key
    return browser.get("/inbox/").status_code == 200


@pytest.mark.parametrize("path", ["/accounts/login/", "/admin/login/"])
def test_logging_in_gives_a_new_session_id_and_the_one_from_before_is_worthless(
    path: str, agent_alice: User
) -> None:
    agent_alice.is_staff = True  # the admin's form takes staff only
    agent_alice.save(update_fields=["is_staff"])
    planted = planted_session()
    client = Client()
    client.cookies[settings.SESSION_COOKIE_NAME] = planted
    csrf_before = client.get(path).cookies[settings.CSRF_COOKIE_NAME].value

    response = client.post(path, {"username": "agent_alice", "password": PASSWORD, "next": "/inbox/"})
    assert response.status_code == 302
    fresh = response.cookies[settings.SESSION_COOKIE_NAME].value
    assert fresh and fresh != planted
    assert not session_store().exists(planted), "the pre-login session is deleted on the server"
    assert signed_in(fresh)
    assert not signed_in(planted)
    assert client.cookies[settings.CSRF_COOKIE_NAME].value != csrf_before, "the CSRF secret turns over too"


def test_logging_out_ends_the_session_on_the_server(agent_alice: User) -> None:
    client = Client()
    assert (
        client.post("/accounts/login/", {"username": "agent_alice", "password": PASSWORD}).status_code == 302
    )
    key = client.cookies[settings.SESSION_COOKIE_NAME].value
    assert signed_in(key)
    client.post("/accounts/logout/")
    assert not signed_in(key), "a copied cookie does not outlive the logout"


def test_the_api_token_endpoint_makes_no_session_and_leaves_a_planted_one_anonymous(
    agent_alice: User,
) -> None:
    planted = planted_session()
    client = APIClient()
    client.cookies[settings.SESSION_COOKIE_NAME] = planted
    response = client.post(
        "/api/v1/auth/token/", {"username": "agent_alice", "password": PASSWORD}, format="json"
    )
    assert response.status_code == 200 and response.json()["token"]
    assert settings.SESSION_COOKIE_NAME not in response.cookies
    assert "_auth_user_id" not in session_store(planted).load()
    assert not signed_in(planted)

"""Password guessing: the login forms and the API token endpoint answer 429 to a flood and recover after
the window. Windows are short here and the throttles' clock is moved instead of slept through.

(The web chat widget's rate limits, per visitor and per address: tests/security/test_webchat.py.)
"""

from __future__ import annotations

from typing import Any

import pytest
from django.test import Client
from rest_framework.test import APIClient

from config import throttling
from tests.livehub import PASSWORD

WINDOW_S = 10


@pytest.fixture(autouse=True)
def fast_password_hashing(settings: Any) -> None:
    """Dozens of logins here: a cheap hasher (set before the users are made) keeps this file quick."""
    settings.PASSWORD_HASHERS = ["django.contrib.auth.hashers.MD5PasswordHasher"]


class Clock:
    def __init__(self) -> None:
        self.now = 1_000_000.0  # the start of a window for every window length used here

    def __call__(self) -> float:
        return self.now

    def advance(self, seconds: float) -> None:
        self.now += seconds


@pytest.fixture
def clock(monkeypatch: pytest.MonkeyPatch, settings: Any) -> Clock:
    settings.THROTTLE_RATES = {
        "login_ip": f"5/{WINDOW_S}s",
        "login_username": f"3/{WINDOW_S}s",
        "token_ip": f"4/{WINDOW_S}s",
        "token_username": f"3/{WINDOW_S}s",
    }
    fake = Clock()
    monkeypatch.setattr(throttling, "clock", fake)
    return fake


def log_in(
    client: Client, username: str, password: str, ip: str = "203.0.113.7", path: str = "/accounts/login/"
):
    return client.post(path, {"username": username, "password": password}, REMOTE_ADDR=ip)


def logged_in(client: Client) -> bool:
    return "_auth_user_id" in client.session


@pytest.mark.django_db
def test_failed_logins_for_one_username_lock_it_from_every_address_until_the_window_passes(
    agent_alice, clock
) -> None:
    client = Client()
    for n in range(3):
        response = log_in(client, "agent_alice", "wrong", ip=f"198.51.100.{n}")
        assert response.status_code == 200 and b"didn't match" in response.content
    flooded = log_in(client, "agent_alice", PASSWORD, ip="198.51.100.99")  # right password, too late
    assert flooded.status_code == 429
    assert b"Too many failed" in flooded.content and b"wait 1 minute" in flooded.content
    assert 1 <= int(flooded["Retry-After"]) <= WINDOW_S
    assert not logged_in(client)  # the form was not processed
    assert log_in(client, "AGENT_ALICE ", PASSWORD).status_code == 429  # same name, other spelling

    clock.advance(WINDOW_S)
    recovered = log_in(client, "agent_alice", PASSWORD)
    assert recovered.status_code == 302 and recovered["Location"] == "/inbox/"
    assert logged_in(client)


@pytest.mark.django_db
def test_failed_logins_from_one_address_lock_that_address_only(agent_alice, agent_bob, clock) -> None:
    attacker, colleague = Client(), Client()
    for n in range(5):
        assert log_in(attacker, f"guess{n}", "wrong", ip="192.0.2.66").status_code == 200
    assert log_in(attacker, "agent_bob", PASSWORD, ip="192.0.2.66").status_code == 429
    assert not logged_in(attacker)
    assert log_in(colleague, "agent_alice", PASSWORD, ip="192.0.2.10").status_code == 302


@pytest.mark.django_db
def test_a_forged_x_forwarded_for_does_not_buy_more_guesses(agent_alice, clock) -> None:
    client = Client()
    for n in range(5):
        client.post(
            "/accounts/login/",
            {"username": f"guess{n}", "password": "x"},
            REMOTE_ADDR="192.0.2.66",
            HTTP_X_FORWARDED_FOR=f"10.0.0.{n}",
        )
    response = client.post(
        "/accounts/login/",
        {"username": "guess9", "password": "x"},
        REMOTE_ADDR="192.0.2.66",
        HTTP_X_FORWARDED_FOR="10.9.9.9",
    )
    assert response.status_code == 429


def test_behind_our_own_proxies_the_address_they_saw_counts(rf, settings) -> None:
    settings.NUM_PROXIES = 1
    request = rf.get("/", REMOTE_ADDR="10.0.0.2", HTTP_X_FORWARDED_FOR="6.6.6.6, 198.51.100.4")
    assert throttling.client_ip(request) == "198.51.100.4"  # what the client wrote before it is ignored
    settings.NUM_PROXIES = 0
    assert throttling.client_ip(request) == "10.0.0.2"


@pytest.mark.django_db
def test_successful_logins_are_not_counted(agent_alice, clock) -> None:
    for _ in range(8):
        client = Client()
        assert log_in(client, "agent_alice", PASSWORD).status_code == 302


@pytest.mark.django_db
def test_the_admin_login_form_is_the_same_door(agent_alice, clock) -> None:
    client = Client()
    for _ in range(3):
        assert log_in(client, "agent_alice", "wrong", path="/admin/login/").status_code == 200
    assert log_in(client, "agent_alice", PASSWORD, path="/admin/login/").status_code == 429
    assert log_in(client, "agent_alice", PASSWORD).status_code == 429  # and the hub's form agrees


def token(client: APIClient, username: str, password: str, ip: str = "203.0.113.7"):
    return client.post(
        "/api/v1/auth/token/", {"username": username, "password": password}, format="json", REMOTE_ADDR=ip
    )


@pytest.mark.django_db
def test_the_token_endpoint_throttles_per_username_and_recovers(agent_alice, clock) -> None:
    client = APIClient()
    for n in range(3):
        assert token(client, "agent_alice", "wrong", ip=f"198.51.100.{n}").status_code == 400
    flooded = token(client, "agent_alice", PASSWORD, ip="198.51.100.50")
    assert flooded.status_code == 429
    assert "throttled" in flooded.json()["detail"]
    assert 1 <= int(flooded["Retry-After"]) <= WINDOW_S
    assert "token" not in flooded.json()

    clock.advance(WINDOW_S)
    recovered = token(client, "agent_alice", PASSWORD)
    assert recovered.status_code == 200 and recovered.json()["token"]


@pytest.mark.django_db
def test_the_token_endpoint_throttles_per_address(agent_alice, agent_bob, clock) -> None:
    client = APIClient()
    for n in range(4):
        token(client, f"guess{n}", "wrong", ip="192.0.2.66")
    assert token(client, "agent_bob", PASSWORD, ip="192.0.2.66").status_code == 429
    assert token(client, "agent_alice", PASSWORD, ip="192.0.2.10").status_code == 200


def test_rates_read_as_written() -> None:
    assert throttling.rate_parse("10/15m") == throttling.Rate(10, 900)
    assert throttling.rate_parse("5/min") == throttling.Rate(5, 60)
    assert throttling.rate_parse("30/h") == throttling.Rate(30, 3600)
    assert throttling.rate_parse(" 2 / 10s ") == throttling.Rate(2, 10)
    with pytest.raises(ValueError, match="count/period"):
        throttling.rate_parse("ten per minute")


# --- one username, many addresses: the per-username limit as configured (not the short test rates) ------
GUESSES = 20


@pytest.fixture
def real_rates_clock(monkeypatch: pytest.MonkeyPatch) -> Clock:
    fake = Clock()
    monkeypatch.setattr(throttling, "clock", fake)
    return fake


def spread_address(n: int, spread: str, settings: Any) -> dict[str, str]:
    """Guess n's address: its own REMOTE_ADDR, or behind our one proxy, its own X-Forwarded-For."""
    if spread == "REMOTE_ADDR":
        return {"REMOTE_ADDR": f"198.51.100.{n + 1}"}
    settings.NUM_PROXIES = 1
    return {"REMOTE_ADDR": "10.0.0.2", "HTTP_X_FORWARDED_FOR": f"6.6.6.6, 203.0.113.{n + 1}"}


@pytest.mark.django_db
@pytest.mark.parametrize("spread", ["REMOTE_ADDR", "X-Forwarded-For"])
def test_twenty_guesses_at_one_username_from_twenty_addresses_are_refused_past_the_limit(
    agent_alice, agent_bob, real_rates_clock, settings, spread
) -> None:
    rate = throttling.rate_for(throttling.LOGIN_USERNAME)
    assert rate.count < GUESSES  # and each address guesses once: far below the per-address limit
    attacker = Client()
    answers = [
        attacker.post(
            "/accounts/login/",
            {"username": "agent_alice", "password": f"guess {n}"},
            **spread_address(n, spread, settings),
        ).status_code
        for n in range(GUESSES)
    ]
    assert answers == [200] * rate.count + [429] * (GUESSES - rate.count)

    alice = Client()  # the real agent, from an address the attacker never used, with the right password
    refused = log_in(alice, "agent_alice", PASSWORD, ip="192.0.2.200")
    assert refused.status_code == 429 and not logged_in(alice)
    assert b"Too many failed log-in attempts" in refused.content
    assert 1 <= int(refused["Retry-After"]) <= rate.window_s

    bob = Client()  # another username, even from the attacker's addresses, is not affected
    assert (
        bob.post(
            "/accounts/login/",
            {"username": "agent_bob", "password": PASSWORD},
            **spread_address(3, spread, settings),
        ).status_code
        == 302
    )

    real_rates_clock.advance(rate.window_s)  # no lockout outlives its window
    assert log_in(alice, "agent_alice", PASSWORD, ip="192.0.2.200").status_code == 302


@pytest.mark.django_db
@pytest.mark.parametrize("spread", ["REMOTE_ADDR", "X-Forwarded-For"])
def test_twenty_token_requests_for_one_username_from_twenty_addresses_are_refused_past_the_limit(
    agent_alice, agent_bob, real_rates_clock, settings, spread
) -> None:
    rate = throttling.rate_for("token_username")
    assert rate.count < GUESSES
    api = APIClient()
    answers = [
        api.post(
            "/api/v1/auth/token/",
            {"username": "agent_alice", "password": f"guess {n}"},
            format="json",
            **spread_address(n, spread, settings),
        ).status_code
        for n in range(GUESSES)
    ]
    assert answers == [400] * rate.count + [429] * (GUESSES - rate.count)

    refused = token(APIClient(), "agent_alice", PASSWORD, ip="192.0.2.200")
    assert refused.status_code == 429 and "token" not in refused.json()
    assert "throttled" in refused.json()["detail"] and 1 <= int(refused["Retry-After"]) <= rate.window_s

    other = APIClient().post(
        "/api/v1/auth/token/",
        {"username": "agent_bob", "password": PASSWORD},
        format="json",
        **spread_address(3, spread, settings),
    )
    assert other.status_code == 200 and other.json()["token"]

    real_rates_clock.advance(rate.window_s)
    assert token(APIClient(), "agent_alice", PASSWORD, ip="192.0.2.200").status_code == 200

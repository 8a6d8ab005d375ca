from __future__ import annotations

import pytest

from tests.channels_adapters.test_faults import broker_at, closed_port, database_unreachable


@pytest.mark.django_db
def test_healthz_says_ok(client) -> None:
    response = client.get("/healthz")
    assert response.status_code == 200
    assert response.json() == {"status": "ok"}


@pytest.mark.django_db
def test_readyz_checks_database_channel_layer_and_broker(client) -> None:
    with broker_at("redis://127.0.0.1:6379/12"):
        response = client.get("/readyz")
    assert response.status_code == 200, response.json()
    assert response.json()["checks"] == {"database": "ok", "channel_layer": "ok", "broker": "ok"}


@pytest.mark.django_db(transaction=True)
def test_readyz_names_what_is_down(client) -> None:
    with broker_at(f"redis://127.0.0.1:{closed_port()}/0"), database_unreachable():
        response = client.get("/readyz")
    assert response.status_code == 503
    checks = response.json()["checks"]
    assert checks["database"].startswith("down")
    assert checks["broker"].startswith("down")
    assert checks["channel_layer"] == "ok"

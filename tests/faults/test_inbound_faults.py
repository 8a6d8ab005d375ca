"""Inbound drills: retried webhooks with a worker killed, Redis lost mid-load, PostgreSQL lost mid-load."""

from __future__ import annotations

import pytest

from tests.faults import drills
from tests.faults.hub import SLACK_S

pytestmark = pytest.mark.integration

SIZE = drills.drill_size()


@pytest.mark.timeout(300 + SIZE // 2)
def test_retried_webhooks_with_the_inbound_worker_killed_store_every_message_once(make_hub) -> None:
    hub = make_hub()
    result = drills.duplicate_webhooks_with_worker_kills(hub, SIZE)
    print(result)
    assert result["sent"] == SIZE + SIZE // 10, "every tenth message is posted twice"
    assert result["answered_200"] == result["sent"], result
    assert result["worker_kills"] == 4, result
    assert (result["entries"], result["duplicates"], result["missing"]) == (SIZE, 0, 0), result


@pytest.mark.timeout(300)
def test_redis_lost_mid_load_costs_latency_not_messages(make_hub) -> None:
    hub = make_hub()
    result = drills.redis_outage_mid_load(hub)
    print(result)
    assert result["answered_200"] == result["sent"], "the durable store is PostgreSQL: Twilio hears 200"
    # Within the sweep threshold and period (plus a few seconds) of Redis returning, nothing is missing.
    assert (
        result["bound_s"] == hub.settings.inbound_sweep_after_s + hub.settings.inbound_sweep_every_s + SLACK_S
    )
    assert (result["entries"], result["duplicates"], result["missing"]) == (result["size"], 0, 0), result


@pytest.mark.timeout(300)
def test_postgres_lost_mid_load_answers_5xx_and_twilios_retries_land_once(make_hub) -> None:
    hub = make_hub()
    result = drills.postgres_outage_mid_load(hub)
    print(result)
    assert result["answered_200_while_down"] == 0, "never 200 for a message that was not stored"
    assert result["answered_5xx_while_down"] == result["posted_while_down"], result
    assert result["stored"] == result["entries"] == result["size"], result
    assert (result["duplicates"], result["missing"]) == (0, 0), result

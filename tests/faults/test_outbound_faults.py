"""Outbound drill: the worker dies after Twilio accepted the message; it is never sent a second time."""

from __future__ import annotations

import pytest

from tests.faults import drills

pytestmark = pytest.mark.integration


@pytest.mark.timeout(300)
def test_a_delivery_whose_worker_died_after_twilio_accepted_is_not_sent_again(make_hub) -> None:
    hub = make_hub()
    result = drills.outbound_worker_killed_after_twilio_accepted(hub)
    print(result)
    assert result["killed_pool_processes"] == 1
    assert result["status_before_reconcile"] == "sending", "the claim is committed before Twilio is called"
    assert result["twilio_accepted"] == 1, "sent exactly once, through the redelivery and the restart"
    assert result["attempts"] == 1, "never claimed (queued -> sending) a second time"
    assert result["status"] in ("sent", "unknown"), result
    if result["status"] == "sent":
        assert result["provider_id"] == result["accepted_sid"], "reconciled with the message Twilio holds"

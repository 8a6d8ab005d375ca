"""Outgoing webhooks, as a receiver sees them: every event, signed per Standard Webhooks (checked with the
`standardwebhooks` library), at least once and each under one webhook-id, whatever the receiver or the
workers do; never to an address the hub should not reach."""

from __future__ import annotations

import time
from collections import Counter
from collections.abc import Callable, Iterator
from datetime import timedelta
from typing import Any

import pytest
from django.core import mail
from django.db import transaction
from django.utils import timezone

from events.catalog import EVENT_TYPES
from events.models import DomainEvent, WebhookAttempt, WebhookDelivery, WebhookEndpoint
from events.services import event_publish, events_dispatch
from tests.webhooks.receiver import Receiver
from webhooks import delivery, services, tasks
from webhooks.signing import RESERVED_DATA_KEYS

pytestmark = pytest.mark.django_db

THREAD, CONTACT = 7001, 8001


@pytest.fixture(autouse=True)
def local_receivers_allowed(settings: Any) -> None:
    settings.WEBHOOK_ALLOWED_HOSTS = ["127.0.0.1"]
    settings.WEBHOOK_TIMEOUT_S = 2.0


@pytest.fixture
def receiver() -> Iterator[Callable[..., Receiver]]:
    started: list[Receiver] = []

    def start(**options: Any) -> Receiver:
        started.append(Receiver(**options).start())
        return started[-1]

    yield start
    for one in started:
        one.stop()


def subscribe(target: Receiver, event_types: list[str] | None = None) -> WebhookEndpoint:
    endpoint, secret = services.webhook_endpoint_create(url=target.url, event_types=event_types or ["*"])
    target.secrets.append(secret)
    return endpoint


def publish(*types: str, thread: int = THREAD) -> list[DomainEvent]:
    """Events of one thread, written in one committed transaction (the on-commit dispatch is the caller's)."""
    payloads: dict[str, dict[str, Any]] = {
        "conversation.resolved": {"episode": 11, "by": None},
        "note.added": {"entry": 21, "author": 5, "body": "VIP, be quick"},
        "conversation.assigned": {"assignee": 5, "previous_assignee": None, "team": 2, "by": 5},
    }
    before = DomainEvent.objects.count()
    with transaction.atomic():
        for type_ in types:
            event_publish(type=type_, conversation_id=thread, contact_id=CONTACT, payload=payloads[type_])
    return list(DomainEvent.objects.order_by("id")[before:])


def deliver_until_done(*, rounds: int = 20) -> None:
    """The beat job, run as time passes: each round at the earliest next attempt."""
    for _ in range(rounds):
        due = WebhookDelivery.objects.filter(state="pending").order_by("next_attempt_at").first()
        if due is None:
            return
        delivery.webhooks_deliver_due(now=max(timezone.now(), due.next_attempt_at or timezone.now()))


# --- what a receiver gets -----------------------------------------------------------------------------------
def test_each_subscriber_gets_its_event_types_signed_per_standard_webhooks(
    receiver, django_capture_on_commit_callbacks
) -> None:
    resolved_only = receiver()
    everything = receiver()
    subscribe(resolved_only, ["conversation.resolved"])
    subscribe(everything)

    with django_capture_on_commit_callbacks(execute=True):
        events = publish("note.added", "conversation.assigned", "conversation.resolved")

    # Delivered right after the commit (the nudge), not at the next beat.
    assert resolved_only.ids() == [events[2].uid]
    assert sorted(everything.ids()) == sorted(e.uid for e in events)
    for got in [*resolved_only.received, *everything.received]:
        assert got.answered == 204 and got.verified_with  # standardwebhooks accepted it
        assert got.headers["content-type"] == "application/json"
        assert abs(int(got.headers["webhook-timestamp"]) - time.time()) < 30
    bodies = {got.id: got.json for got in everything.received}
    resolved = bodies[events[2].uid]
    assert resolved == {
        "type": "conversation.resolved",
        "timestamp": events[2].occurred_at.isoformat(),
        "data": {
            "id": events[2].uid,
            "conversation": THREAD,
            "contact": CONTACT,
            "sequence": 3,
            "episode": 11,
            "by": None,
        },
    }
    # The receiver orders a thread's events by `sequence`, whatever order they arrive in.
    assert sorted(body["data"]["sequence"] for body in bodies.values()) == [1, 2, 3]
    assert set(WebhookDelivery.objects.values_list("state", flat=True)) == {"succeeded"}
    attempt = WebhookAttempt.objects.filter(delivery__event=events[2]).first()
    assert attempt is not None and attempt.status_code == 204 and attempt.succeeded


def test_a_receiver_that_fails_for_a_while_gets_every_event_once_under_its_one_id(
    receiver, django_capture_on_commit_callbacks
) -> None:
    flaky = receiver(fail_first=4)
    subscribe(flaky)
    with django_capture_on_commit_callbacks(execute=True):
        events = publish("note.added", "conversation.assigned", "conversation.resolved")
    assert flaky.ids(answered=204) == []  # three 500s so far
    deliver_until_done()

    uids = sorted(e.uid for e in events)
    assert sorted(flaky.ids(answered=204)) == uids  # each accepted exactly once
    assert set(flaky.ids()) == set(uids)  # and every retry carried the event's own id
    assert len(flaky.ids(answered=500)) == 4
    assert all(got.verified_with for got in flaky.received)  # signed afresh each time
    assert set(WebhookDelivery.objects.values_list("state", flat=True)) == {"succeeded"}
    failed = WebhookAttempt.objects.filter(status_code=500).first()
    assert failed is not None and failed.error == "Answered 500." and "busy" in failed.response_excerpt
    assert len(failed.response_excerpt) == 500


def test_the_retry_schedule_then_giving_up(receiver) -> None:
    down = receiver(fail_first=1000)
    subscribe(down)
    publish("conversation.resolved")
    events_dispatch()
    at = timezone.now()
    delays = []
    for _ in range(delivery.MAX_ATTEMPTS):
        delivery.webhooks_deliver_due(now=at)
        row = WebhookDelivery.objects.get()
        if row.next_attempt_at is None:
            break
        delays.append(round((row.next_attempt_at - at).total_seconds()))
        at = row.next_attempt_at
    assert delays == [5, 300, 1800, 7200, 18000, 36000, 36000]
    row = WebhookDelivery.objects.get()
    assert (row.state, row.attempts, row.last_status) == ("failed", 8, 500)
    assert len(down.received) == 8 and len(set(down.ids())) == 1
    # Given up: nothing more is sent, until an admin redelivers by hand (same id, a fresh schedule).
    delivery.webhooks_deliver_due(now=at + timedelta(days=2))
    assert len(down.received) == 8
    down.fail_first = 0
    services.webhook_delivery_redeliver(delivery=row)
    delivery.webhooks_deliver_due()
    assert down.received[-1].answered == 204 and down.received[-1].id == down.received[0].id
    assert WebhookDelivery.objects.get().state == "succeeded"


def test_rotation_both_secrets_verify_during_the_overlap_then_only_the_new_one(
    receiver, django_capture_on_commit_callbacks
) -> None:
    target = receiver()
    endpoint = subscribe(target)
    old = target.secrets[0]
    new = services.webhook_secret_rotate(endpoint=endpoint)
    assert new != old and new.startswith("whsec_")
    target.secrets.append(new)
    with django_capture_on_commit_callbacks(execute=True):
        publish("note.added")
    got = target.received[-1]
    assert got.verified_with == [old, new]  # standardwebhooks with the old secret, and with the new one
    assert len(got.headers["webhook-signature"].split(" ")) == 2

    WebhookEndpoint.objects.filter(pk=endpoint.pk).update(previous_secret_until=timezone.now())
    publish("conversation.resolved")
    events_dispatch()
    tasks.deliver_webhooks()
    assert len(target.received) == 2
    got = target.received[-1]
    assert got.verified_with == [new]
    assert len(got.headers["webhook-signature"].split(" ")) == 1


# --- workers that die -----------------------------------------------------------------------------------
def test_a_process_that_died_after_its_commit_still_delivers_each_event_once(receiver) -> None:
    target = receiver()
    subscribe(target)
    events = publish("note.added", "conversation.resolved")  # committed; its on-commit hooks never ran
    assert target.received == []
    events_dispatch()  # the domain events' sweep: deliveries queued (their nudge is lost too)
    assert target.received == []
    tasks.deliver_webhooks()  # the beat job
    assert sorted(target.ids(answered=204)) == sorted(e.uid for e in events)
    # Another sweep and another beat, as a second worker might run them: nothing twice.
    events_dispatch()
    tasks.deliver_webhooks()
    assert Counter(target.ids()) == Counter({e.uid: 1 for e in events})
    assert WebhookDelivery.objects.count() == 2


def test_a_delivery_claimed_by_a_worker_that_died_is_sent_after_its_lease(receiver) -> None:
    target = receiver()
    subscribe(target)
    (event,) = publish("conversation.resolved")
    events_dispatch()
    claimed = delivery._claim(now=timezone.now(), limit=10)  # the claim commits, then the worker dies
    assert [job.msg_id for job in claimed] == [event.uid]

    delivery.webhooks_deliver_due()  # the lease holds: nobody sends it twice at once
    assert target.received == []
    later = timezone.now() + timedelta(seconds=delivery.lease_s() + 1)
    delivery.webhooks_deliver_due(now=later)
    assert target.ids(answered=204) == [event.uid]
    row = WebhookDelivery.objects.get()
    assert (row.state, row.attempts) == ("succeeded", 2)  # the dead worker's attempt counts


# --- receivers that misbehave -----------------------------------------------------------------------------
def test_a_receiver_that_hangs_costs_one_timeout_not_a_stuck_worker(receiver, settings) -> None:
    settings.WEBHOOK_TIMEOUT_S = 0.5
    settings.WEBHOOK_CONCURRENCY = 1
    slow = receiver(hang_s=3)
    subscribe(slow)
    events = publish("note.added", "conversation.assigned", "conversation.resolved")
    events_dispatch()
    began = time.monotonic()
    tasks.deliver_webhooks()
    assert time.monotonic() - began < 2.5
    assert len(slow.received) == 1  # the others wait for the same next try instead of a timeout each
    attempt = WebhookAttempt.objects.get()
    assert attempt.error == "No answer within 0.5 s." and attempt.status_code is None
    rows = list(WebhookDelivery.objects.order_by("id"))
    assert [row.state for row in rows] == ["pending"] * 3
    assert [row.attempts for row in rows] == [1, 0, 0]
    for row in rows:
        assert row.next_attempt_at is not None
        assert 3 <= (row.next_attempt_at - timezone.now()).total_seconds() <= 5

    slow.hang_s = 0
    deliver_until_done()
    assert sorted(set(slow.ids(answered=204))) == sorted(e.uid for e in events)


def test_a_redirect_is_a_failure_and_is_not_followed(receiver) -> None:
    sly = receiver(redirect_to="http://169.254.169.254/latest/meta-data/iam/")
    subscribe(sly)
    publish("conversation.resolved")
    events_dispatch()
    tasks.deliver_webhooks()
    assert len(sly.received) == 1
    attempt = WebhookAttempt.objects.get()
    assert attempt.status_code == 302 and not attempt.succeeded
    assert "redirects are not followed" in attempt.error and "169.254.169.254" in attempt.error
    assert WebhookDelivery.objects.get().state == "pending"  # retried: the receiver may fix it


@pytest.mark.parametrize(
    "url,allowed",
    [
        ("http://127.0.0.1:{port}/hooks", []),  # loopback, not listed
        ("http://localhost:{port}/hooks", ["127.0.0.1"]),  # a name that resolves to loopback, not listed
        ("http://[::ffff:127.0.0.1]:{port}/hooks", []),
        ("http://169.254.169.254/latest/meta-data/", ["169.254.169.254"]),  # metadata: never, even listed
        ("http://10.0.0.7/hooks", []),
    ],
)
def test_an_address_the_hub_should_not_reach_is_refused_at_delivery(receiver, settings, url, allowed) -> None:
    """Stored without the checks (an endpoint saved before its name pointed inward): refused when sent."""
    target = receiver()
    settings.WEBHOOK_ALLOWED_HOSTS = allowed
    port = target.url.split(":")[2].split("/")[0]
    WebhookEndpoint.objects.create(url=url.format(port=port), event_types=["*"], secret="whsec_" + "A" * 43)
    publish("conversation.resolved")
    events_dispatch()
    tasks.deliver_webhooks()
    assert target.received == []
    row = WebhookDelivery.objects.get()
    assert row.state == "failed"  # asking again gives the same answer; an admin redelivers once fixed
    assert row.last_error.startswith("Refused:")


def test_deliveries_to_one_receiver_reuse_a_few_kept_alive_connections(receiver, settings) -> None:
    target = receiver()
    subscribe(target)
    for round_ in range(3):
        for n in range(20):
            publish("note.added", thread=THREAD + n)
        events_dispatch()
        tasks.deliver_webhooks()
        assert len(target.ids(answered=204)) == 20 * (round_ + 1)
    # One connection per lane (WEBHOOK_CONCURRENCY), kept from one batch and one job to the next.
    assert len(target.connections) <= settings.WEBHOOK_CONCURRENCY


# --- an endpoint that keeps failing ---------------------------------------------------------------------
def test_three_days_without_a_success_switch_the_endpoint_off_and_tell_the_admins(
    receiver, settings, admin_ada, agent_alice, django_capture_on_commit_callbacks
) -> None:
    settings.EMAIL_SANDBOX = False
    admin_ada.email = "ada@hub.example"
    admin_ada.save()
    agent_alice.email = "alice@hub.example"  # an agent: not told
    agent_alice.save()
    down = receiver(fail_first=1000)
    endpoint = subscribe(down)
    publish("note.added")
    events_dispatch()
    tasks.deliver_webhooks()  # the first failure: the clock starts
    endpoint.refresh_from_db()
    assert endpoint.active and endpoint.failing_since is not None
    WebhookEndpoint.objects.filter(pk=endpoint.pk).update(
        failing_since=timezone.now() - timedelta(hours=72, minutes=1)
    )

    publish("conversation.resolved")
    events_dispatch()
    with django_capture_on_commit_callbacks(execute=True):  # the notice goes after the commit
        delivery.webhooks_deliver_due()
        assert len(mail.outbox) == 0
    endpoint.refresh_from_db()
    assert not endpoint.active and endpoint.disabled_at is not None
    assert "no delivery succeeded for 72 hours" in endpoint.disabled_reason
    (notice,) = mail.outbox
    assert notice.to == ["ada@hub.example"] and endpoint.url in notice.subject
    assert "switch it on" in notice.body.lower()

    # Switched off: new events are not queued for it, waiting ones are not sent.
    sent = len(down.received)
    publish("conversation.assigned")
    events_dispatch()
    delivery.webhooks_deliver_due(now=timezone.now() + timedelta(days=1))
    assert len(down.received) == sent
    assert WebhookDelivery.objects.filter(endpoint=endpoint).count() == 2

    # Fixed and switched back on: what waited is delivered, and the failures are forgotten.
    down.fail_first = 0
    services.webhook_endpoint_update(endpoint=endpoint, active=True)
    deliver_until_done()
    endpoint.refresh_from_db()
    assert endpoint.active and endpoint.failing_since is None and endpoint.last_success_at is not None
    assert len(set(down.ids(answered=204))) == 2


def test_one_success_resets_the_failure_clock(receiver) -> None:
    flaky = receiver(fail_first=1)
    endpoint = subscribe(flaky)
    publish("note.added")
    events_dispatch()
    tasks.deliver_webhooks()
    endpoint.refresh_from_db()
    assert endpoint.failing_since is not None
    deliver_until_done()
    endpoint.refresh_from_db()
    assert endpoint.failing_since is None and endpoint.last_success_at is not None


def test_no_event_payload_shadows_the_keys_the_hub_sets_in_data() -> None:
    for event_type in EVENT_TYPES.values():
        assert not set(RESERVED_DATA_KEYS) & set(event_type.properties), event_type.name


def test_a_subscription_deleted_while_its_batch_is_out_is_recorded_as_gone(receiver) -> None:
    target = receiver()
    endpoint = subscribe(target)
    publish("conversation.resolved")
    events_dispatch()
    (job,) = delivery._claim(now=timezone.now(), limit=10)
    endpoint.delete()
    outcome = delivery.send_one(job, timeout=2.0)
    assert outcome.succeeded
    delivery._record([outcome], now=timezone.now())  # no error: nothing left to write to
    assert WebhookAttempt.objects.count() == 0


def test_deliveries_that_are_over_are_forgotten_after_the_retention_pending_ones_never(
    receiver, settings
) -> None:
    target = receiver()
    subscribe(target)
    publish("note.added", "conversation.resolved")
    events_dispatch()
    tasks.deliver_webhooks()
    publish("conversation.assigned")
    events_dispatch()  # queued, not yet sent
    later = timezone.now() + timedelta(days=settings.WEBHOOK_RETENTION_DAYS, minutes=1)
    assert delivery.webhooks_prune(now=timezone.now()) == 0
    assert delivery.webhooks_prune(now=later) == 2 + 2  # two deliveries and their two attempts
    assert list(WebhookDelivery.objects.values_list("state", flat=True)) == ["pending"]

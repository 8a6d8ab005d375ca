"""Delivering webhooks, at least once, scheduled in the database.

1. `webhook_deliveries_queue` (the after-commit consumer of the domain events) writes one WebhookDelivery per
   (endpoint, event), due now; a unique constraint makes a second take of the same events harmless.
2. `webhooks_deliver_due` (right after the queueing commits, and every WEBHOOK_DELIVER_EVERY_S from beat)
   claims due deliveries with SELECT ... FOR UPDATE SKIP LOCKED and commits the claim as a lease: their
   `next_attempt_at` moves past the time the worker may spend on them. A worker killed mid-request leaves
   them to be claimed again once the lease runs out: a retry, never a lost delivery.
3. The requests go out through config/safe_http (the address vetted once and pinned), over a kept-alive
   connection pool per receiving host, on up to WEBHOOK_CONCURRENCY connections at once shared fairly
   between the batch's endpoints, each request signed afresh; no request starts that could outlast the lease.
4. Each outcome is logged (WebhookAttempt) and decides what follows: done, the next try of RETRY_SCHEDULE_S,
   or given up. An endpoint with no success for WEBHOOK_DISABLE_AFTER_H is switched off and the admins told.

Celery countdowns are not used for the retries: the Redis broker redelivers a task it has held longer than
its visibility timeout (an hour), and the schedule reaches ten hours.
"""

from __future__ import annotations

import logging
import os
import queue
import threading
import time
from collections import defaultdict
from collections.abc import Iterator, Sequence
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass
from datetime import datetime, timedelta
from functools import partial
from http.cookiejar import DefaultCookiePolicy
from typing import Any
from urllib.parse import urlsplit

import requests
from django.conf import settings
from django.contrib.auth.models import User
from django.core.mail import send_mail
from django.db import transaction
from django.db.models import F, Q
from django.utils import timezone

from config import safe_http
from events.models import DomainEvent, WebhookAttempt, WebhookDelivery, WebhookEndpoint
from webhooks.services import deliveries_nudge_on_commit, url_policy
from webhooks.signing import body_bytes, headers_signed

logger = logging.getLogger("hub.webhooks")

# After a failed attempt, the next one comes this many seconds later: 5 s, 5 min, 30 min, 2 h, 5 h, 10 h, 10 h
# (the Standard Webhooks reference schedule). Eight attempts in all over about 27.5 hours; then the delivery
# is failed and only a redelivery by hand sends it again.
RETRY_SCHEDULE_S: tuple[int, ...] = (5, 5 * 60, 30 * 60, 2 * 3600, 5 * 3600, 10 * 3600, 10 * 3600)
MAX_ATTEMPTS = 1 + len(RETRY_SCHEDULE_S)
# The lease is the request timeout plus this: time to claim, sign, send a batch and record the outcomes.
LEASE_MARGIN_S = 25.0
EXCERPT_CHARS = 500
READ_MAX_BYTES = 64 * 1024  # more of an answer is not read (and its connection not reused)
# A job stops claiming after this long and leaves the rest to the next one: it shares the `default` queue's
# worker with outbound messages, which must not wait long behind a backlog of webhooks.
JOB_BUDGET_S = 5.0
RECORD_EVERY = 50  # outcomes written per transaction while a batch is out
USER_AGENT = "conversation-hub-webhooks/1"


def retry_delay_s(attempts: int) -> int | None:
    """Seconds until the next attempt after `attempts` failed ones in this round, or None: give up."""
    return RETRY_SCHEDULE_S[attempts - 1] if 1 <= attempts <= len(RETRY_SCHEDULE_S) else None


def lease_s() -> float:
    return float(settings.WEBHOOK_TIMEOUT_S) + LEASE_MARGIN_S


# --- 1. queueing ------------------------------------------------------------------------------------------
def webhook_deliveries_queue(events: Sequence[DomainEvent]) -> None:
    """Queue one delivery per (subscription, event) for every active subscription to each event's type."""
    endpoints = list(WebhookEndpoint.objects.filter(active=True).only("pk", "event_types"))
    if not endpoints or not events:
        return
    now = timezone.now()
    rows = [
        WebhookDelivery(endpoint_id=endpoint.pk, event_id=event.pk, next_attempt_at=now, created_at=now)
        for event in events
        for endpoint in endpoints
        if endpoint.wants(event.type)
    ]
    if rows:
        WebhookDelivery.objects.bulk_create(rows, ignore_conflicts=True, batch_size=1000)
        deliveries_nudge_on_commit()


def webhook_delivery_queue_one(*, endpoint_id: int, event: DomainEvent) -> bool:
    """One delivery of `event` to one endpoint, whatever it subscribes to (a rule's "send a webhook"); once
    per endpoint and event, so a rule and the endpoint's own subscription never send it twice. False when the
    endpoint is gone or switched off."""
    if not WebhookEndpoint.objects.filter(pk=endpoint_id, active=True).exists():
        return False
    now = timezone.now()
    WebhookDelivery.objects.bulk_create(
        [WebhookDelivery(endpoint_id=endpoint_id, event_id=event.pk, next_attempt_at=now, created_at=now)],
        ignore_conflicts=True,
    )
    deliveries_nudge_on_commit()
    return True


# --- 2. claiming ------------------------------------------------------------------------------------------
@dataclass(frozen=True)
class Job:
    """What a sender thread needs to know of one claimed delivery (no model instance crosses threads)."""

    delivery_id: int
    attempts: int  # this round's attempts, this one included
    endpoint_id: int
    url: str  # as config/safe_http will send it; empty when it cannot be read one way only
    secrets: tuple[str, ...]
    msg_id: str
    body: bytes


@dataclass(frozen=True)
class Outcome:
    job: Job
    started_at: datetime
    duration_ms: int = 0
    status_code: int | None = None
    excerpt: str = ""
    error: str = ""
    succeeded: bool = False
    permanent: bool = False  # the address is refused: asking again gives the same answer
    not_sent: bool = False  # not started (the lease's time ran out, or the receiver hangs): handed back
    postpone_s: float = 0.0  # with not_sent: when to try it again
    timed_out: bool = False


def _claim(*, now: datetime, limit: int) -> list[Job]:
    with transaction.atomic():
        rows = list(
            WebhookDelivery.objects.select_for_update(skip_locked=True, of=("self",))
            .filter(state=WebhookDelivery.PENDING, next_attempt_at__lte=now, endpoint__active=True)
            .select_related("event")
            .order_by("next_attempt_at", "id")[:limit]
        )
        if not rows:
            return []
        WebhookDelivery.objects.filter(pk__in=[row.pk for row in rows]).update(
            next_attempt_at=now + timedelta(seconds=lease_s()),
            attempts=F("attempts") + 1,
            last_attempt_at=now,
        )
    # The claim is committed: from here a worker that dies leaves the rows to the next claim after the lease.
    # Each endpoint read once per batch (its secrets are decrypted once, its URL checked once).
    endpoints = WebhookEndpoint.objects.in_bulk({row.endpoint_id for row in rows})
    prepared: dict[int, tuple[str, tuple[str, ...]]] = {}
    for pk, endpoint in endpoints.items():
        secrets = [endpoint.secret]
        if (
            endpoint.previous_secret
            and endpoint.previous_secret_until
            and endpoint.previous_secret_until > now
        ):
            secrets.append(endpoint.previous_secret)
        prepared[pk] = (safe_http.url_checked(endpoint.url) or "", tuple(s for s in secrets if s))
    return [
        Job(
            delivery_id=row.pk,
            attempts=row.attempts + 1,
            endpoint_id=row.endpoint_id,
            url=prepared[row.endpoint_id][0],
            secrets=prepared[row.endpoint_id][1],
            msg_id=row.event.uid,
            body=body_bytes(row.event),
        )
        for row in rows
        if row.endpoint_id in endpoints
    ]


# --- 3. sending -------------------------------------------------------------------------------------------
_sessions: dict[tuple[int, str], requests.Session] = {}
_sessions_lock = threading.Lock()


def _session(policy: safe_http.Policy) -> requests.Session:
    """One safe session per policy and process, kept: its pools (one per pinned address, port and TLS name,
    that is per receiving host) keep connections alive from one delivery to the next."""
    key = (os.getpid(), policy)  # a forked worker must not share its parent's sockets
    with _sessions_lock:
        session = _sessions.get(key)
        if session is None:
            session = safe_http.safe_session(policy=policy)
            session.cookies.set_policy(DefaultCookiePolicy(allowed_domains=[]))  # receivers set no state
            session.headers.clear()
            _sessions[key] = session
        return session


def _short(error: BaseException) -> str:
    text = str(error) or type(error).__name__
    return text[:300]


def _read_excerpt(response: requests.Response, deadline: float) -> str:
    """The start of the answer, read within the request's time; the rest is left unread."""
    chunks: list[bytes] = []
    total = 0
    try:
        for chunk in response.iter_content(8192):
            chunks.append(chunk)
            total += len(chunk)
            if total >= READ_MAX_BYTES or time.monotonic() > deadline:
                break
    except (requests.exceptions.RequestException, OSError):
        pass  # a body that breaks off does not change what the status said
    return b"".join(chunks)[: EXCERPT_CHARS * 4].decode("utf-8", errors="replace")[:EXCERPT_CHARS]


def send_one(job: Job, *, timeout: float) -> Outcome:
    """One signed POST. Never raises: every way it can go is an Outcome."""
    started_at = timezone.now()
    began = time.monotonic()

    def done(**fields: Any) -> Outcome:
        elapsed = int((time.monotonic() - began) * 1000)
        return Outcome(job=job, started_at=started_at, duration_ms=elapsed, **fields)

    url = job.url
    if not url:
        return done(error="Refused: the URL cannot be read one way only.", permanent=True)
    timestamp = int(time.time())
    headers = headers_signed(secrets_=job.secrets, msg_id=job.msg_id, timestamp=timestamp, body=job.body)
    headers["Content-Type"] = "application/json"
    headers["User-Agent"] = USER_AGENT
    session = _session(url_policy(urlsplit(url).hostname or ""))
    try:
        response = session.post(
            url,
            data=job.body,
            headers=headers,
            timeout=(timeout, timeout),
            allow_redirects=False,
            stream=True,
        )
    except safe_http.DestinationRefused as refused:
        return done(error=f"Refused: {refused.message}", permanent=True)
    except requests.exceptions.Timeout:
        return done(error=f"No answer within {timeout:g} s.", timed_out=True)
    except requests.exceptions.ConnectionError as error:
        return done(error=f"Could not connect: {_short(error)}")
    except (requests.exceptions.RequestException, OSError, ValueError) as error:
        return done(error=f"{type(error).__name__}: {_short(error)}")
    try:
        excerpt = _read_excerpt(response, deadline=began + timeout)
        status = response.status_code
    finally:
        response.close()
    if 200 <= status < 300:
        return done(status_code=status, excerpt=excerpt, succeeded=True)
    if 300 <= status < 400:
        location = response.headers.get("Location", "")[:200]
        return done(
            status_code=status,
            excerpt=excerpt,
            error=f"Answered {status} (a redirect to {location or 'nowhere'}): redirects are not followed; "
            "subscribe the final URL.",
        )
    return done(status_code=status, excerpt=excerpt, error=f"Answered {status}.")


def _lanes(jobs: Sequence[Job]) -> list[list[Job]]:
    """Split a batch into lanes, each sent in order over one connection: every endpoint gets its share of
    WEBHOOK_CONCURRENCY (at least one), so a receiver that hangs holds up its own deliveries only."""
    groups: dict[int, list[Job]] = defaultdict(list)
    for job in jobs:
        groups[job.endpoint_id].append(job)
    share = max(1, settings.WEBHOOK_CONCURRENCY // len(groups))
    lanes: list[list[Job]] = []
    for group in groups.values():
        n = min(share, len(group))
        lanes.extend(group[i::n] for i in range(n))
    return lanes


def _send_all(jobs: Sequence[Job], *, start_before: float, timeout: float) -> Iterator[Outcome]:
    """Outcomes as they come, from up to WEBHOOK_CONCURRENCY threads (no database in them)."""
    results: queue.SimpleQueue[Outcome] = queue.SimpleQueue()

    def run(lane: list[Job]) -> None:
        hung: Outcome | None = None
        for job in lane:
            if hung is not None:
                # The receiver did not answer the previous request in time: the rest of its lane waits for
                # that one's next try rather than each costing a timeout (and a worker) now.
                delay = retry_delay_s(hung.job.attempts) or RETRY_SCHEDULE_S[-1]
                results.put(Outcome(job=job, started_at=timezone.now(), not_sent=True, postpone_s=delay))
                continue
            if time.monotonic() > start_before:
                results.put(Outcome(job=job, started_at=timezone.now(), not_sent=True))
                continue
            try:
                outcome = send_one(job, timeout=timeout)
            except Exception as error:  # a bug must not strand the others
                logger.exception("Webhook delivery %s", job.delivery_id)
                outcome = Outcome(job=job, started_at=timezone.now(), error=_short(error))
            results.put(outcome)
            if outcome.timed_out:
                hung = outcome

    lanes = _lanes(jobs)
    if len(lanes) == 1:
        run(lanes[0])
        while not results.empty():
            yield results.get()
        return
    with ThreadPoolExecutor(max_workers=min(settings.WEBHOOK_CONCURRENCY, len(lanes))) as pool:
        for lane in lanes:
            pool.submit(run, lane)
        for _ in range(len(jobs)):
            yield results.get()


# --- 4. recording -----------------------------------------------------------------------------------------
def _record(outcomes: Sequence[Outcome], *, now: datetime) -> None:
    disabled: list[int] = []
    with transaction.atomic():
        # Locked (in id order, as every recorder locks them), so a subscription deleted meanwhile, its
        # deliveries with it, is seen gone rather than written to.
        ids = [o.job.delivery_id for o in outcomes]
        alive = set(
            WebhookDelivery.objects.select_for_update()
            .filter(pk__in=ids)
            .order_by("pk")
            .values_list("pk", flat=True)
        )
        outcomes = [o for o in outcomes if o.job.delivery_id in alive]
        WebhookAttempt.objects.bulk_create(
            [
                WebhookAttempt(
                    delivery_id=o.job.delivery_id,
                    started_at=o.started_at,
                    duration_ms=o.duration_ms,
                    status_code=o.status_code,
                    succeeded=o.succeeded,
                    response_excerpt=o.excerpt,
                    error=o.error[:500],
                )
                for o in outcomes
                if not o.not_sent
            ]
        )
        succeeded: dict[int | None, list[int]] = defaultdict(list)
        endpoint_ok: dict[int, datetime] = {}
        endpoint_failed: dict[int, datetime] = {}
        for o in outcomes:
            # Only the round this worker claimed: a worker whose lease ran out must not undo a later claim.
            mine = Q(pk=o.job.delivery_id, state=WebhookDelivery.PENDING, attempts=o.job.attempts)
            if o.not_sent:
                WebhookDelivery.objects.filter(mine).update(
                    attempts=F("attempts") - 1, next_attempt_at=now + timedelta(seconds=o.postpone_s)
                )
            elif o.succeeded:
                succeeded[o.status_code].append(o.job.delivery_id)
                endpoint_ok[o.job.endpoint_id] = o.started_at
            else:
                endpoint_failed.setdefault(o.job.endpoint_id, o.started_at)
                delay = None if o.permanent else retry_delay_s(o.job.attempts)
                WebhookDelivery.objects.filter(mine).update(
                    state=WebhookDelivery.PENDING if delay is not None else WebhookDelivery.FAILED,
                    next_attempt_at=now + timedelta(seconds=delay) if delay is not None else None,
                    last_status=o.status_code,
                    last_error=o.error[:500],
                )
        for status, ids in succeeded.items():
            # A success is a success even if the lease ran out meanwhile and another worker holds it again.
            WebhookDelivery.objects.filter(pk__in=ids, state=WebhookDelivery.PENDING).update(
                state=WebhookDelivery.SUCCEEDED,
                succeeded_at=now,
                next_attempt_at=None,
                last_status=status,
                last_error="",
            )
        for endpoint_id, at in endpoint_ok.items():
            WebhookEndpoint.objects.filter(pk=endpoint_id).update(failing_since=None, last_success_at=at)
        cutoff = now - timedelta(hours=settings.WEBHOOK_DISABLE_AFTER_H)
        for endpoint_id, at in endpoint_failed.items():
            if endpoint_id in endpoint_ok:
                continue
            WebhookEndpoint.objects.filter(pk=endpoint_id, failing_since__isnull=True).update(
                failing_since=at
            )
            if WebhookEndpoint.objects.filter(pk=endpoint_id, active=True, failing_since__lte=cutoff).update(
                active=False,
                disabled_at=now,
                disabled_reason=(
                    f"Switched off by the hub: no delivery succeeded for {settings.WEBHOOK_DISABLE_AFTER_H} "
                    "hours. Fix the receiver, then switch it on: what waited is sent then."
                ),
            ):
                disabled.append(endpoint_id)
        for endpoint_id in disabled:
            transaction.on_commit(partial(endpoint_disabled_notify, endpoint_id=endpoint_id))


def endpoint_disabled_notify(*, endpoint_id: int) -> None:
    """Tell the admins (and whoever created it) by email that the hub switched an endpoint off."""
    endpoint = WebhookEndpoint.objects.filter(pk=endpoint_id).select_related("created_by").first()
    if endpoint is None:
        return
    recipients = set(
        User.objects.filter(is_active=True)
        .filter(Q(agent__role="admin") | Q(is_superuser=True))
        .exclude(email="")
        .values_list("email", flat=True)
    )
    if endpoint.created_by is not None and endpoint.created_by.email:
        recipients.add(endpoint.created_by.email)
    last = WebhookAttempt.objects.filter(delivery__endpoint=endpoint).first()
    base = settings.PUBLIC_BASE_URL
    subject = f"Webhook switched off: {endpoint.url}"[:200]
    body = "\n".join(
        [
            f"The hub stopped sending events to {endpoint.url}",
            f"({endpoint.description or 'no description'}).",
            "",
            endpoint.disabled_reason,
            f"Failing since: {endpoint.failing_since:%Y-%m-%d %H:%M} UTC." if endpoint.failing_since else "",
            f"Last attempt: {last.status_code or ''} {last.error or last.response_excerpt[:200]}"
            if last
            else "",
            "",
            "Events keep being kept for it. Switch it on again (PATCH /api/v1/webhooks/"
            f'{endpoint.pk}/ with {{"active": true}}, or {base}/admin/events/webhookendpoint/{endpoint.pk}/change/)',
            "and what waited is delivered.",
        ]
    )
    logger.warning(
        "Webhook endpoint %s switched off after failing since %s", endpoint.pk, endpoint.failing_since
    )
    if not recipients:
        return
    try:
        if settings.EMAIL_SANDBOX:
            from channels_adapters.sandbox import sandbox_record

            sandbox_record(
                channel="email",
                prefix="webhook-",
                record={"to": ", ".join(sorted(recipients)), "subject": subject, "body": body},
            )
        else:
            send_mail(subject, body, settings.DEFAULT_FROM_EMAIL, sorted(recipients))
    except Exception:
        logger.exception("Could not tell the admins that webhook endpoint %s was switched off", endpoint.pk)


# --- the jobs ---------------------------------------------------------------------------------------------
def webhooks_deliver_batch(*, now: datetime | None = None, limit: int | None = None) -> int:
    """Claim one batch of due deliveries, send them, record the outcomes; returns how many were claimed."""
    claimed_at = now or timezone.now()
    jobs = _claim(now=claimed_at, limit=limit or settings.WEBHOOK_BATCH)
    if not jobs:
        return 0
    timeout = float(settings.WEBHOOK_TIMEOUT_S)
    # No request starts that could still be running when the lease ends (and another worker claims it).
    start_before = time.monotonic() + lease_s() - timeout - 2.0
    pending: list[Outcome] = []
    for outcome in _send_all(jobs, start_before=start_before, timeout=timeout):
        pending.append(outcome)
        if len(pending) >= RECORD_EVERY:
            _record(pending, now=now or timezone.now())
            pending = []
    if pending:
        _record(pending, now=now or timezone.now())
    return len(jobs)


def webhooks_deliver_due(*, now: datetime | None = None, budget_s: float = JOB_BUDGET_S) -> int:
    """Deliver batches until none is due or `budget_s` has passed (the next run goes on); returns how many."""
    began = time.monotonic()
    total = 0
    while time.monotonic() - began < budget_s:
        claimed = webhooks_deliver_batch(now=now)
        total += claimed
        if claimed == 0:
            break
    return total


def webhooks_prune(*, now: datetime | None = None) -> int:
    """Forget deliveries that are over (succeeded or given up) after WEBHOOK_RETENTION_DAYS, with their
    attempts; returns how many. Pending ones are kept whatever their age."""
    cutoff = (now or timezone.now()) - timedelta(days=settings.WEBHOOK_RETENTION_DAYS)
    over = WebhookDelivery.objects.exclude(state=WebhookDelivery.PENDING).filter(created_at__lt=cutoff)
    deleted, _ = over.delete()
    return deleted

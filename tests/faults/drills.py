"""Drill bodies as plain functions, so a benchmark script runs the same drill at full size.

Each takes a `DrillHub` (processes not yet started) and returns a small result dict; the tests assert on it.
"""

from __future__ import annotations

import asyncio
import json
import os
import re
import signal
import threading
import time
from collections import Counter
from typing import Any

import requests
import websockets

from tests.faults.hub import SLACK_S, DrillHub, Sms, children_of, drill_sms, spare_port

DEFAULT_SIZE = 1000


def drill_size() -> int:
    return int(os.environ.get("FAULT_DRILL_SIZE", "") or DEFAULT_SIZE)


def entries_check(hub: DrillHub, expected: list[Sms]) -> dict[str, int]:
    """How many inbound entries exist, how many are extra copies (or wrong), and how many are missing."""
    bodies = {sms.sid: sms.body for sms in expected}
    found = hub.inbound_entries()
    counts = Counter(pid for pid, _ in found)
    wrong = sum(1 for pid, body in found if bodies.get(pid) != body)
    return {
        "entries": len(found),
        "duplicates": sum(n - 1 for n in counts.values() if n > 1) + wrong,
        "missing": sum(1 for sid in bodies if sid not in counts),
    }


def duplicate_webhooks_with_worker_kills(
    hub: DrillHub, size: int, *, kills: int = 4, concurrency: int = 12, customers: int = 100
) -> dict[str, Any]:
    """`size` messages, every tenth sent twice, the inbound worker SIGKILLed `kills` times on a fixed schedule.

    Of the retried messages, half are posted twice at once (a retry racing the original), half again a
    tenth of the load later (Twilio's retry after a timeout). The inbound worker is killed with its pool,
    mid-work, each time another `size / (kills + 1)` messages have been processed, and restarted at once.
    """
    messages = drill_sms("drill1", size, customers)
    later: dict[int, list[Sms]] = {}
    batch: list[Sms] = []
    for n, sms in enumerate(messages):
        batch.append(sms)
        if n % 20 == 0:
            batch.append(sms)  # concurrent with the original: the pool posts neighbours at once
        elif n % 20 == 10:
            later.setdefault(n + max(1, size // 10), []).append(sms)
        batch += later.pop(n, [])
    for pending in later.values():
        batch += pending

    hub.start_production()
    kill_every = max(1, size // (kills + 1))
    killed = 0
    stop = threading.Event()

    def killer() -> None:
        nonlocal killed
        while killed < kills and not stop.is_set():
            if hub.inbound_progress().get("done", 0) >= (killed + 1) * kill_every:
                hub.kill("inbound")
                hub.restart("inbound")
                killed += 1
                hub.wait_ready("inbound", times=killed + 1)
            time.sleep(0.1)

    started = time.monotonic()
    thread = threading.Thread(target=killer, daemon=True)
    thread.start()
    try:
        answers = hub.post_all(batch, concurrency=concurrency)
        hub.wait_inbound_done(size, stall_s=hub.settings.pending_at_most_s + SLACK_S, what="drill 1: ")
    finally:
        stop.set()
        thread.join(timeout=30)
    seconds = time.monotonic() - started
    return {
        "sent": len(answers),
        "answered_200": sum(1 for a in answers if a.status == 200),
        **entries_check(hub, messages),
        "worker_kills": killed,
        "seconds": round(seconds, 1),
    }


def _thirds(messages: list[Sms]) -> tuple[list[Sms], list[Sms], list[Sms]]:
    third = len(messages) // 3
    return messages[:third], messages[third : 2 * third], messages[2 * third :]


def redis_outage_mid_load(hub: DrillHub, size: int = 60, *, concurrency: int = 6) -> dict[str, Any]:
    """Redis crashes (SIGKILL: its queued tasks are gone) after a third of the load and returns, empty, after
    the second third. Webhooks keep answering 200 (PostgreSQL is the durable store); the sweeper re-enqueues
    what the broker lost, so every message reaches its thread within the sweep threshold and period (plus a
    few seconds) of Redis returning, or of the last webhook if that came later.
    """
    messages = drill_sms("drill2", size, customers=20)
    before, during, after = _thirds(messages)
    hub.start_production()
    started = time.monotonic()
    answers = hub.post_all(before, concurrency=concurrency)
    hub.redis.kill()
    answers_down = hub.post_all(during, concurrency=concurrency)
    hub.redis.start()
    back_at = time.monotonic()
    # Celery's Redis transport can crash a worker that loses its broker mid-ack ("Unrecoverable error");
    # a deployment's supervisor restarts it. The bound then runs from when it is ready again.
    time.sleep(1)
    crashed = hub.revive_exited()
    if crashed:
        back_at = time.monotonic()
    answers += answers_down + hub.post_all(after, concurrency=concurrency)
    bound_s = hub.settings.pending_at_most_s + SLACK_S
    deadline = max(back_at, time.monotonic()) + bound_s
    while time.monotonic() < deadline and len(hub.inbound_entries()) < size:
        time.sleep(0.25)
    done_at = time.monotonic()
    return {
        "size": size,
        "sent": len(answers),
        "answered_200": sum(1 for a in answers if a.status == 200),
        "slowest_answer_while_down_s": round(max(a.seconds for a in answers_down), 2),
        "crashed_by_redis_loss": crashed,
        **entries_check(hub, messages),
        "seconds_after_redis_back": round(done_at - back_at, 1),
        "bound_s": bound_s,
        "seconds": round(done_at - started, 1),
    }


def postgres_outage_mid_load(
    hub: DrillHub, size: int = 150, *, concurrency: int = 6, twilio_retries: int = 5
) -> dict[str, Any]:
    """PostgreSQL crashes (pg_ctl stop -m immediate) after a third of the load and restarts after the second.

    While it is down every webhook must answer 5xx, never 200, so Twilio retries. Once it is back the
    unanswered ones are posted again as Twilio would; then every message is in its thread exactly once.
    """
    messages = drill_sms("drill3", size, customers=20)
    before, during, after = _thirds(messages)
    by_sid = {sms.sid: sms for sms in messages}
    hub.start_production()
    started = time.monotonic()
    answers = hub.post_all(before, concurrency=concurrency)
    hub.postgres.stop(mode="immediate")
    answers_down = hub.post_all(during, concurrency=concurrency)
    hub.postgres.start()
    answers += answers_down + hub.post_all(after, concurrency=concurrency)
    stored = {a.sid for a in answers if a.status == 200}
    retried = 0
    for _ in range(twilio_retries):
        unstored = [by_sid[sid] for sid in by_sid if sid not in stored]
        if not unstored:
            break
        retried += len(unstored)
        answers += (retry := hub.post_all(unstored, concurrency=concurrency))
        stored |= {a.sid for a in retry if a.status == 200}
        time.sleep(1)
    hub.wait_inbound_done(len(stored), stall_s=hub.settings.pending_at_most_s + SLACK_S, what="drill 3: ")
    return {
        "size": size,
        "sent": len(answers),
        "answered_200_while_down": sum(1 for a in answers_down if a.status == 200),
        "answered_5xx_while_down": sum(1 for a in answers_down if 500 <= a.status < 600),
        "posted_while_down": len(answers_down),
        "retried": retried,
        "stored": len(stored),
        **entries_check(hub, messages),
        "seconds": round(time.monotonic() - started, 1),
    }


DELIVER_RECEIVED = re.compile(r"Task channels_adapters\.tasks\.deliver_entry\[([0-9a-f-]+)\] received")
DELIVER_DONE = re.compile(r"Task channels_adapters\.tasks\.deliver_entry\[([0-9a-f-]+)\] succeeded")


def outbound_worker_killed_after_twilio_accepted(hub: DrillHub) -> dict[str, Any]:
    """Twilio accepts an agent's reply and holds its answer; the worker sending it dies while it waits.

    First only the pool process running the task is SIGKILLed: with acks_late and reject_on_worker_lost
    the task is redelivered at once and must not send again. Then the whole worker is SIGKILLed and
    restarted, and the reconciler runs once the entry has been `sending` for OUTBOUND_STUCK_AFTER_S: it
    asks Twilio's Messages list and settles the entry as `sent` (or `unknown`), never queued for a resend.
    """
    hub.start_production(outbound_worker=True)
    [customer] = drill_sms("drill5", 1, customers=1)
    assert hub.post_sms(customer).status == 200
    hub.wait_inbound_done(1, stall_s=hub.settings.pending_at_most_s + SLACK_S, what="drill 5: ")
    [(contact_id,)] = hub.sql(
        "SELECT c.contact_id FROM conversations_entry e "
        "JOIN conversations_conversation c ON c.id = e.conversation_id WHERE e.provider_id = %s",
        customer.sid,
    )
    token = hub.api_token()
    hub.fake_twilio.hold()
    reply = requests.post(
        f"{hub.url}/api/v1/contacts/{contact_id}/messages/",
        json={"body": "Your order shipped today."},
        headers={"Authorization": f"Token {token}"},
        timeout=10,
    )
    assert reply.status_code == 201, reply.text
    entry_id = reply.json()["id"]
    [accepted] = hub.fake_twilio.wait_for_messages(1, timeout=hub.settings.twilio_http_timeout_s)

    # The pool process waiting for Twilio's answer dies: the parent requeues the task (reject_on_worker_lost).
    pool = children_of(hub.pid("outbound"))
    for pid in pool:
        os.kill(pid, signal.SIGKILL)

    def redelivered_and_done() -> bool:
        log = hub.log("outbound")
        received = DELIVER_RECEIVED.findall(log)
        return len(received) >= 2 and received[-1] in DELIVER_DONE.findall(log)

    _wait(
        redelivered_and_done, SLACK_S * 2, "the killed delivery was not redelivered:\n" + hub.log("outbound")
    )
    # Then the whole worker (the machine it ran on), and a new one.
    hub.kill("outbound")
    hub.restart("outbound")
    hub.wait_ready("outbound")
    hub.fake_twilio.release()

    def state() -> tuple[str, str, int, Any]:
        [row] = hub.sql(
            "SELECT delivery_status, provider_id, attempts, sending_started_at FROM conversations_entry WHERE id = %s",
            entry_id,
        )
        return row  # type: ignore[return-value]

    status_before, *_ = state()
    # The reconciler takes entries `sending` for longer than OUTBOUND_STUCK_AFTER_S.
    time.sleep(hub.settings.outbound_stuck_after_s + 1)
    counts = [hub.manage_shell(RECONCILE).strip().splitlines()[-1] for _ in range(2)]
    time.sleep(SLACK_S)  # anything queued for a second send would go out now
    status, provider_id, attempts, _ = state()
    return {
        "twilio_accepted": len(hub.fake_twilio.messages),
        "accepted_sid": accepted["sid"],
        "status_before_reconcile": status_before,
        "status": status,
        "provider_id": provider_id,
        "attempts": attempts,
        "killed_pool_processes": len(pool),
        "reconcile_runs": counts,
    }


# What beat's reconcile-outbound-entries task runs, run now rather than on its minute.
RECONCILE = "\n".join(
    [
        "import json",
        "from channels_adapters.outbound import outbound_reconcile",
        "print(json.dumps(outbound_reconcile()))",
    ]
)


def _wait(predicate: Any, timeout: float, message: str) -> None:
    deadline = time.monotonic() + timeout
    while not predicate():
        if time.monotonic() > deadline:
            raise AssertionError(message)
        time.sleep(0.1)


def scale_out_live(hub: DrillHub, count: int = 60) -> dict[str, Any]:
    """Two ASGI processes and two workers on one Redis and one PostgreSQL. The agent's websocket is on the
    first process; every message comes in through the second and must reach the agent live (no catch-up:
    the socket never pings), each once, within the channel layer's expiry.
    """
    web_b = f"http://127.0.0.1:{spare_port()}"
    hub.start_web()
    hub.start_web(name="web-b", port=int(web_b.rsplit(":", 1)[1]))
    hub.start_worker("worker-1", "inbound,outbound,default")
    hub.start_worker("worker-2", "inbound,outbound,default")
    hub.start_beat()
    hub.wait_ready("worker-1")
    hub.wait_ready("worker-2")
    session = hub.login_session()
    first, *rest = drill_sms("drill6", count, customers=1)
    return asyncio.run(_agent_listens(hub, session, web_b, first, rest))


async def _agent_listens(
    hub: DrillHub, session: str, web_b: str, first: Sms, rest: list[Sms]
) -> dict[str, Any]:
    ws_url = hub.url.replace("http", "ws") + "/ws/agent/"
    limit = hub.settings.channel_layer_expiry_s
    async with websockets.connect(
        ws_url, origin=hub.url, additional_headers={"Cookie": f"sessionid={session}"}, max_size=None
    ) as socket:  # type: ignore[arg-type]
        assert json.loads(await socket.recv())["type"] == "hello"
        answer = await asyncio.to_thread(hub.post_sms, first, web_b)
        assert answer.status == 200
        conversation = None
        while conversation is None:
            frame = json.loads(await asyncio.wait_for(socket.recv(), timeout=limit))
            if first.body in frame.get("row", ""):
                conversation = frame["conversation"]
        await socket.send(json.dumps({"type": "subscribe", "conversation": conversation}))
        await socket.send(json.dumps({"type": "ping"}))  # answered after the subscription is in place
        while json.loads(await asyncio.wait_for(socket.recv(), timeout=limit))["type"] != "pong":
            pass
        started = time.monotonic()
        posting = asyncio.ensure_future(asyncio.to_thread(hub.post_all, rest, concurrency=4, via=web_b))
        bodies = {sms.body for sms in rest}
        seen: Counter[str] = Counter()
        types: Counter[str] = Counter()
        deadline = None
        while set(seen) < bodies:
            if posting.done() and deadline is None:
                deadline = time.monotonic() + limit  # a frame older than the layer's expiry is dropped
            timeout = limit if deadline is None else max(0.01, deadline - time.monotonic())
            try:
                frame = json.loads(await asyncio.wait_for(socket.recv(), timeout=timeout))
            except TimeoutError:
                break
            types[frame.get("type", "")] += 1
            html = frame.get("entry", {}).get("html", "")
            seen.update(body for body in bodies if f">{body}<" in html)
        answers = await posting
    return {
        "sent": len(answers) + 1,
        "answered_200": sum(1 for a in answers if a.status == 200) + 1,
        "seen_live": len(set(seen) & bodies),
        "missing_live": len(bodies - set(seen)),
        "seen_twice": sum(1 for n in seen.values() if n > 1),
        "frame_types": dict(types),
        "seconds": round(time.monotonic() - started, 1),
    }

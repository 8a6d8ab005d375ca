"""The hub as in production, on the private servers: uvicorn, Celery workers and beat as separate processes.

`DrillHub` owns one drill's database (a clone of the migrated template), a local fake Twilio API and the
processes, and knows how to kill and restart each of them. It reads the settings the processes run with
from the hub's own settings module, so a drill derives its bounds from them rather than from guesses.
"""

from __future__ import annotations

import json
import math
import os
import signal
import subprocess
import sys
import threading
import time
from collections.abc import Callable, Iterable, Iterator
from concurrent.futures import ThreadPoolExecutor
from contextlib import contextmanager
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import psycopg
import requests
from twilio.request_validator import RequestValidator

from tests.fakes.twilio_api import FakeTwilioServer
from tests.faults.services import ROOT, TEMPLATE_DATABASE, PrivatePostgres, PrivateRedis, spare_port
from tests.live import Processes, wait_http

ACCOUNT_SID = "AC" + "f" * 32
AUTH_TOKEN = "f" * 32
BUSINESS_NUMBER = "+14155550100"
AGENT = "agent_alice"
AGENT_PASSWORD = "correct horse battery staple"
# "A few seconds" of slack on top of a bound the settings give: a process's start-up, one more poll.
SLACK_S = 5.0
# Short thresholds so a drill's bounds (derived from them) are seconds, not minutes.
DRILL_SETTINGS = {"INBOUND_SWEEP_AFTER_S": "4", "OUTBOUND_STUCK_AFTER_S": "3"}

SEED = """
import json
from django.conf import settings
from django.contrib.auth.models import User
from conversations.models import AgentProfile, Inbox, Team

team = Team.objects.create(name="Support")
inbox = Inbox.objects.create(name="Support line", kind=Inbox.PHONE, address="{business}", team=team)
user = User.objects.create_user("{agent}", password="{password}")
AgentProfile.objects.create(user=user, role=AgentProfile.AGENT, availability=AgentProfile.ONLINE).teams.set([team])
layer = settings.CHANNEL_LAYERS["default"].get("CONFIG", {{}})
print(json.dumps({{
    "inbox_id": inbox.pk,
    "INBOUND_SWEEP_AFTER_S": settings.INBOUND_SWEEP_AFTER_S,
    "INBOUND_SWEEP_EVERY_S": settings.INBOUND_SWEEP_EVERY_S,
    "OUTBOUND_STUCK_AFTER_S": settings.OUTBOUND_STUCK_AFTER_S,
    "TWILIO_HTTP_TIMEOUT_S": settings.TWILIO_HTTP_TIMEOUT_S,
    "CHANNEL_LAYER_EXPIRY_S": layer.get("expiry", 60),
    "CONN_MAX_AGE": settings.DATABASES["default"].get("CONN_MAX_AGE"),
}}))
"""


@dataclass(frozen=True)
class HubSettings:
    """The settings the hub's processes run with, as the hub's settings module computed them."""

    inbound_sweep_after_s: float
    inbound_sweep_every_s: float
    outbound_stuck_after_s: float
    twilio_http_timeout_s: float
    channel_layer_expiry_s: float
    conn_max_age: int | None

    @property
    def pending_at_most_s(self) -> float:
        """How long a stored event can stay pending with the broker and a worker up: sweep threshold + period."""
        return self.inbound_sweep_after_s + self.inbound_sweep_every_s


@dataclass
class Sms:
    sid: str
    body: str
    sender: str


@dataclass
class Answer:
    sid: str
    status: int  # 0 when no HTTP answer came (connection refused, timeout)
    seconds: float


def drill_sms(prefix: str, count: int, customers: int) -> list[Sms]:
    """`count` distinct messages from `customers` numbers; MessageSids are unique to the drill (`prefix`)."""
    token = prefix.encode().hex()[:10].ljust(10, "0")
    return [
        Sms(
            sid=f"SM{token}{n:022d}",
            body=f"{prefix} message {n} of {count}",
            sender=f"+1415555{2000 + n % customers:04d}",
        )
        for n in range(count)
    ]


@dataclass
class DrillHub:
    postgres: PrivatePostgres
    redis: PrivateRedis
    work_dir: Path
    database: str
    env: dict[str, str]
    fake_twilio: FakeTwilioServer
    settings: HubSettings
    inbox_id: int
    port: int
    running: Processes
    starters: dict[str, Callable[[], None]] = field(default_factory=dict)
    # When a worker last became ready: a worker the drill itself killed is not the hub stalling.
    ready_at: float = 0.0

    @property
    def url(self) -> str:
        """The public URL webhooks are signed for (the first ASGI process serves it)."""
        return f"http://127.0.0.1:{self.port}"

    # --- processes -----------------------------------------------------------------------------------
    def start_web(self, name: str = "web", port: int | None = None) -> str:
        port = port or self.port
        url = f"http://127.0.0.1:{port}"

        def start() -> None:
            self.running.web(self.env, port, name=name)
            try:
                wait_http(f"{url}/healthz", timeout=60)
            except AssertionError:
                raise AssertionError(f"{name} did not come up:\n{self.running.log(name)}") from None

        self.starters[name] = start
        start()
        return url

    def start_worker(self, name: str, queues: str, concurrency: int = 2) -> None:
        def start() -> None:
            # INFO: its "ready." line tells a drill the worker consumes; each task is logged too.
            self.running.worker(
                self.env,
                name=name,
                queues=queues,
                concurrency=concurrency,
                log_level="INFO",
                extra=("--without-heartbeat",),
            )

        self.starters[name] = start
        start()

    def start_beat(self) -> None:
        def start() -> None:
            command = [sys.executable, "-m", "celery", "-A", "config", "beat", "-l", "WARNING"]
            self.running.start("beat", command, self.env)

        self.starters["beat"] = start
        start()

    def start_production(self, inbound_concurrency: int = 2, outbound_worker: bool = False) -> None:
        """One ASGI process, the inbound queue's own worker, a worker for the rest, and beat; ready for load.

        With `outbound_worker`, the outbound queue gets its own worker with a single pool process.
        """
        self.start_web()
        self.start_worker("inbound", "inbound", concurrency=inbound_concurrency)
        workers = ["inbound", "worker"]
        if outbound_worker:
            self.start_worker("outbound", "outbound", concurrency=1)
            self.start_worker("worker", "default", concurrency=1)
            workers.append("outbound")
        else:
            self.start_worker("worker", "outbound,default")
        self.start_beat()
        for name in workers:
            self.wait_ready(name)

    def wait_ready(self, name: str, times: int = 1, timeout: float = 120) -> None:
        """Wait until the worker has said "ready." `times` times in its log (once per start)."""
        deadline = time.monotonic() + timeout
        while self.log(name).count(" ready.") < times:
            process = self.running.running.get(name)
            if process is None or process.poll() is not None or time.monotonic() > deadline:
                raise AssertionError(f"{name} did not get ready:\n{self.log(name)[-3000:]}")
            time.sleep(0.1)
        self.ready_at = time.monotonic()

    def kill(self, name: str) -> None:
        """SIGKILL the process and its children (Celery's pool), as an OOM killer or a lost machine would."""
        self.running.stop(name, signal.SIGKILL)

    def restart(self, name: str) -> None:
        """Start a killed process again; until it is ready (`wait_ready` for a worker) no stall is counted."""
        self.ready_at = math.inf
        self.starters[name]()
        if name.startswith("web"):
            self.ready_at = time.monotonic()  # start_web waited for /healthz

    def revive_exited(self) -> list[str]:
        """Restart what exited on its own, as the supervisor of a deployment (systemd, Kubernetes) would."""
        exited = [
            name
            for name in self.starters
            if (process := self.running.running.get(name)) is not None and process.poll() is not None
        ]
        for name in exited:
            self.running.running.pop(name)
            self.restart(name)
            if name not in ("beat",) and not name.startswith("web"):
                self.wait_ready(name, times=self.log(name).count(" ready.") + 1)
        return exited

    def pid(self, name: str) -> int:
        return self.running.running[name].pid

    def log(self, name: str) -> str:
        return self.running.log(name)

    def logs(self) -> str:
        return "\n".join(f"--- {name} ---\n{self.log(name)[-3000:]}" for name in self.starters)

    # --- the database --------------------------------------------------------------------------------
    def sql(self, query: str, *params: Any) -> list[tuple[Any, ...]]:
        with psycopg.connect(self.postgres.url(self.database), connect_timeout=5) as conn:
            return conn.execute(query, params).fetchall()  # type: ignore[arg-type]

    def database_activity(self) -> str:
        """Who holds what in the database: for the report of a drill that stalled."""
        rows = self.sql(
            "SELECT pid, application_name, client_port, state, wait_event_type, xact_start, left(query, 200) "
            "FROM pg_stat_activity WHERE datname = current_database() AND pid <> pg_backend_pid()"
        )
        return "--- pg_stat_activity ---\n" + "\n".join(map(str, rows)) + "\n"

    def manage_shell(self, script: str) -> str:
        result = subprocess.run(
            [sys.executable, "manage.py", "shell", "-c", script],
            cwd=ROOT,
            env=self.env,
            capture_output=True,
            text=True,
            timeout=120,
        )
        if result.returncode != 0:
            raise AssertionError(f"manage.py shell failed:\n{result.stdout}\n{result.stderr}")
        return result.stdout

    def inbound_progress(self) -> dict[str, int]:
        rows = self.sql("SELECT state, count(*) FROM channels_adapters_inboundevent GROUP BY state")
        return {state: count for state, count in rows}

    def inbound_entries(self) -> list[tuple[str, str]]:
        """(provider_id, body) of every inbound message entry."""
        return [
            (str(pid), str(body))
            for pid, body in self.sql(
                "SELECT provider_id, body FROM conversations_entry WHERE kind = 'message' AND direction = 'inbound'"
            )
        ]

    def wait_inbound_done(self, expected: int, *, stall_s: float, what: str = "") -> float:
        """Wait until `expected` events are done; fail if none finishes for `stall_s` while some are pending.

        With the sweeper running, a pending event is re-enqueued at most `pending_at_most_s` after it was last
        enqueued, so progress that stops for longer than that (plus slack) means work was lost. The clock
        starts again when a worker the drill restarted is ready: its start-up is the fault, not a stall.
        """
        last_done, last_change = -1, time.monotonic()
        while True:
            progress = self.inbound_progress()
            done = progress.get("done", 0)
            if progress.get("failed"):
                reasons = self.sql(
                    "SELECT last_error FROM channels_adapters_inboundevent WHERE state = 'failed' LIMIT 3"
                )
                raise AssertionError(f"{progress['failed']} inbound events failed for good: {reasons}")
            if done >= expected and not progress.get("pending"):
                return time.monotonic()
            if done != last_done:
                last_done, last_change = done, time.monotonic()
            elif time.monotonic() - max(last_change, self.ready_at) > stall_s:
                raise AssertionError(
                    f"{what}no inbound event finished for {stall_s:.0f}s: {progress}, expected {expected} done\n"
                    + self.database_activity()
                    + self.logs()
                )
            time.sleep(0.25)

    # --- the outside world ---------------------------------------------------------------------------
    def post_sms(self, sms: Sms, via: str | None = None, timeout: float = 30) -> Answer:
        """A Twilio webhook, signed for the public URL; posted to `via` (another ASGI process) if given."""
        params = {
            "ToCountry": "US",
            "SmsMessageSid": sms.sid,
            "NumMedia": "0",
            "SmsSid": sms.sid,
            "SmsStatus": "received",
            "Body": sms.body,
            "To": BUSINESS_NUMBER,
            "NumSegments": "1",
            "MessageSid": sms.sid,
            "AccountSid": ACCOUNT_SID,
            "From": sms.sender,
            "ApiVersion": "2010-04-01",
        }
        url = f"{self.url}/webhooks/twilio/messaging/"
        signature = RequestValidator(AUTH_TOKEN).compute_signature(url, params)
        target = f"{via}/webhooks/twilio/messaging/" if via else url
        began = time.monotonic()
        try:
            response = requests.post(
                target, data=params, headers={"X-Twilio-Signature": signature}, timeout=timeout
            )
            status = response.status_code
        except requests.RequestException:
            status = 0
        return Answer(sid=sms.sid, status=status, seconds=time.monotonic() - began)

    def post_all(
        self,
        batch: Iterable[Sms],
        *,
        concurrency: int = 8,
        via: str | None = None,
        on_answer: Callable[[Answer], None] | None = None,
    ) -> list[Answer]:
        """Post webhooks from `concurrency` threads, as Twilio's many connections do, in the batch's order."""
        answers: list[Answer] = []
        lock = threading.Lock()

        def post(sms: Sms) -> None:
            answer = self.post_sms(sms, via=via)
            with lock:
                answers.append(answer)
            if on_answer is not None:
                on_answer(answer)

        with ThreadPoolExecutor(max_workers=concurrency) as pool:
            list(pool.map(post, batch))
        return answers

    def api_token(self) -> str:
        response = requests.post(
            f"{self.url}/api/v1/auth/token/", json={"username": AGENT, "password": AGENT_PASSWORD}, timeout=10
        )
        assert response.status_code == 200, response.text
        return str(response.json()["token"])

    def login_session(self, base: str | None = None) -> str:
        """Log the agent in through the login form; returns the session cookie."""
        base = base or self.url
        with requests.Session() as session:
            session.get(f"{base}/accounts/login/", timeout=10)
            response = session.post(
                f"{base}/accounts/login/",
                data={
                    "username": AGENT,
                    "password": AGENT_PASSWORD,
                    "csrfmiddlewaretoken": session.cookies["csrftoken"],
                },
                headers={"Referer": f"{base}/accounts/login/"},
                allow_redirects=False,
                timeout=10,
            )
            assert response.status_code == 302, response.text
            return str(session.cookies["sessionid"])


def children_of(pid: int) -> list[int]:
    """The direct children of a process (a Celery worker's pool processes), from /proc."""
    found = []
    for entry in Path("/proc").iterdir():
        if not entry.name.isdigit():
            continue
        try:
            fields = (entry / "stat").read_text().rsplit(")", 1)[1].split()
        except OSError:
            continue
        if int(fields[1]) == pid:
            found.append(int(entry.name))
    return found


@contextmanager
def drill_hub(
    postgres: PrivatePostgres, redis: PrivateRedis, work_dir: Path, name: str, **env: str
) -> Iterator[DrillHub]:
    """A fresh database cloned from the template, an empty Redis, a fake Twilio; processes stopped at the end."""
    if not postgres.is_running():
        postgres.start()
    if redis.process is None or redis.process.poll() is not None:
        redis.start()
    redis.flush()
    database = f"drill_{name}"
    url = postgres.create_database(database, template=TEMPLATE_DATABASE)
    work_dir.mkdir(parents=True, exist_ok=True)
    fake = FakeTwilioServer(ACCOUNT_SID, AUTH_TOKEN).start()
    port = spare_port()
    inherited = {
        k: v
        for k, v in os.environ.items()
        if not k.startswith(("DJANGO_", "PYTEST_"))
        and k not in ("DB_CONN_MAX_AGE", "DB_POOL", "CELERY_BROKER_URL")
    }
    hub_env = {
        **inherited,
        "DATABASE_URL": url,
        "REDIS_URL": redis.url,
        "HUB_VAR_DIR": str(work_dir / "var"),
        "SECRET_KEY": "fault-drills-secret-key-0123456789abcdef",
        "PUBLIC_BASE_URL": f"http://127.0.0.1:{port}",
        "TWILIO_ACCOUNT_SID": ACCOUNT_SID,
        "TWILIO_AUTH_TOKEN": AUTH_TOKEN,
        "TWILIO_API_BASE_URL": fake.url,
        "EMBEDDED_BEAT": "0",
        "PYTHONUNBUFFERED": "1",
        "LOG_LEVEL": "WARNING",
        **env,
    }
    running = Processes(work_dir)
    try:
        hub = DrillHub(
            postgres=postgres,
            redis=redis,
            work_dir=work_dir,
            database=database,
            env=hub_env,
            fake_twilio=fake,
            settings=HubSettings(0, 0, 0, 0, 0, None),
            inbox_id=0,
            port=port,
            running=running,
        )
        seeded = json.loads(
            hub.manage_shell(SEED.format(business=BUSINESS_NUMBER, agent=AGENT, password=AGENT_PASSWORD))
            .strip()
            .splitlines()[-1]
        )
        hub.inbox_id = seeded["inbox_id"]
        hub.settings = HubSettings(
            inbound_sweep_after_s=seeded["INBOUND_SWEEP_AFTER_S"],
            inbound_sweep_every_s=seeded["INBOUND_SWEEP_EVERY_S"],
            outbound_stuck_after_s=seeded["OUTBOUND_STUCK_AFTER_S"],
            twilio_http_timeout_s=seeded["TWILIO_HTTP_TIMEOUT_S"],
            channel_layer_expiry_s=seeded["CHANNEL_LAYER_EXPIRY_S"],
            conn_max_age=seeded["CONN_MAX_AGE"],
        )
        yield hub
    finally:
        running.stop_all()
        fake.stop()

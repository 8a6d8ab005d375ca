"""What every benchmark shares: the figures table, the hub run as in production, a light load generator."""

from __future__ import annotations

import asyncio
import json
import os
import resource
import secrets
import subprocess
import sys
import time
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any
from urllib.parse import urlencode, urlsplit

import httpx
from twilio.request_validator import RequestValidator

ROOT = Path(__file__).resolve().parent.parent
if str(ROOT) not in sys.path:
    sys.path.insert(0, str(ROOT))

from tests.live import Processes, processes, wait_http  # noqa: E402

DATABASE = os.environ.get("BENCH_DATABASE_URL", "postgres://postgres@127.0.0.1:5432/hub_bench")
REDIS = os.environ.get("BENCH_REDIS_URL", "redis://127.0.0.1:6379/5")
ACCOUNT_SID = "AC" + "b" * 32
AUTH_TOKEN = "b" * 32
BUSINESS = "+14155550100"
RESULTS = ROOT / "bench" / "results"


@dataclass
class Figure:
    """One line of the table. `target` is absolute (derived from `reference` when the rule is a ratio)."""

    name: str
    value: float | None
    unit: str
    target: float | None = None
    reference: dict[str, Any] | None = None
    better: str = "lower"  # or "higher", or "exactly"
    rule: str = ""
    note: str = ""
    met: bool | None = field(default=None)

    def __post_init__(self) -> None:
        if self.target is None:
            self.met = None
        elif self.value is None:
            self.met = False
        elif self.better == "exactly":
            self.met = self.value == self.target
        else:
            self.met = self.value >= self.target if self.better == "higher" else self.value <= self.target


def percentile(values: list[float], q: float) -> float:
    if not values:
        return float("nan")
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, round(q * (len(ordered) - 1)))]


def print_table(figures: list[Figure]) -> None:
    print(f"\n{'figure':62} {'value':>11}  {'unit':14} {'target':>24}  result")
    for f in figures:
        value = "n/a" if f.value is None else f"{f.value:,.1f}"
        sign = {"higher": ">=", "lower": "<=", "exactly": "=="}[f.better]
        target = "" if f.target is None else f"{sign} {f.target:,.1f}"
        result = "" if f.met is None else ("met" if f.met else "MISSED")
        print(f"{f.name[:62]:62} {value:>11}  {f.unit[:14]:14} {target:>24}  {result}")
        if f.rule or f.note:
            print(f"{'':4}{f.rule}{' · ' if f.rule and f.note else ''}{f.note}")


def write_results(figures: list[Figure], path: Path = RESULTS / "latest.json") -> None:
    path.parent.mkdir(parents=True, exist_ok=True)
    rows = []
    for f in figures:
        row = asdict(f)
        row["value"] = None if f.value is None else round(f.value, 3)
        row["target"] = None if f.target is None else round(f.target, 3)
        rows.append(row)
    path.write_text(json.dumps(rows, indent=2) + "\n")
    print(f"\nwritten to {path.relative_to(ROOT)}")


def cpu_seconds() -> float:
    usage = resource.getrusage(resource.RUSAGE_SELF)
    return usage.ru_utime + usage.ru_stime


def process_cpu_seconds(pid: int) -> float:
    """User + system CPU of a process and its live children, from /proc (clock ticks)."""
    total = 0.0
    tick = os.sysconf("SC_CLK_TCK")
    for p in [pid, *child_pids(pid)]:
        try:
            fields = Path(f"/proc/{p}/stat").read_text().rsplit(")", 1)[1].split()
        except FileNotFoundError:
            continue
        total += (int(fields[11]) + int(fields[12])) / tick
    return total


def child_pids(pid: int) -> list[int]:
    out = subprocess.run(["pgrep", "-P", str(pid)], capture_output=True, text=True).stdout.split()
    found = [int(p) for p in out]
    for child in list(found):
        found.extend(child_pids(child))
    return found


def rss_mb(pid: int) -> float:
    for line in Path(f"/proc/{pid}/status").read_text().splitlines():
        if line.startswith("VmRSS:"):
            return int(line.split()[1]) / 1024
    return float("nan")


# --- the hub as in production -------------------------------------------------------------------------


def raise_fd_limit(wanted: int = 65536) -> None:
    _soft, hard = resource.getrlimit(resource.RLIMIT_NOFILE)
    resource.setrlimit(resource.RLIMIT_NOFILE, (min(wanted, hard), hard))


def hub_env(port: int, database: str = DATABASE, **extra: str) -> dict[str, str]:
    env = {k: v for k, v in os.environ.items() if not k.startswith(("DJANGO_", "PYTEST_"))}
    env.update(
        DATABASE_URL=database,
        REDIS_URL=REDIS,
        PUBLIC_BASE_URL=f"http://127.0.0.1:{port}",
        TWILIO_ACCOUNT_SID=ACCOUNT_SID,
        TWILIO_AUTH_TOKEN=AUTH_TOKEN,
        LOG_LEVEL="WARNING",
        HUB_VAR_DIR="/tmp/hub-bench-var",
        SECRET_KEY="bench-" + "x" * 40,
        PYTHONUNBUFFERED="1",
    )
    env.update(extra)
    return env


def psql(database_url: str, sql: str) -> str:
    return subprocess.run(
        ["psql", database_url, "-qAtX", "-v", "ON_ERROR_STOP=1", "-c", sql],
        check=True,
        capture_output=True,
        text=True,
    ).stdout


def database_recreate(database_url: str) -> None:
    name = database_url.rsplit("/", 1)[1]
    admin = database_url.rsplit("/", 1)[0] + "/postgres"
    psql(admin, f"DROP DATABASE IF EXISTS {name} WITH (FORCE)")
    psql(admin, f"CREATE DATABASE {name}")


def data_set_build(
    *, database: str, marker: str, table: str, port: int, setup: str, sql: list[str], what: str, rebuild: bool
) -> None:
    """Build a data set once in its own database and keep it while its marker (what it holds) is the same.

    A kept data set is migrated to the code as it is now; a new one is migrated, set up (`setup`, Python run
    by `manage.py shell`), filled (`sql`), analyzed and marked.
    """
    admin = database.rsplit("/", 1)[0] + "/postgres"
    name = database.rsplit("/", 1)[1]
    exists = psql(admin, f"SELECT 1 FROM pg_database WHERE datname = '{name}'").strip() == "1"
    if exists and not rebuild:
        try:
            if psql(database, f"SELECT marker FROM {table}").strip() == marker:
                manage(hub_env(port, database=database), "migrate", "-v0")  # the code moved on since
                return
        except subprocess.CalledProcessError:
            pass
    print(f"building {what}...", flush=True)
    started = time.perf_counter()
    psql(admin, f"DROP DATABASE IF EXISTS {name} WITH (FORCE)")
    psql(admin, f"CREATE DATABASE {name}")
    env = hub_env(port, database=database)
    manage(env, "migrate", "-v0")
    manage(env, "shell", "-c", setup)
    for statement in sql:
        psql(database, statement)
    psql(database, "VACUUM ANALYZE")
    psql(database, f"CREATE TABLE {table} (marker text); INSERT INTO {table} VALUES ('{marker}')")
    print(f"built in {time.perf_counter() - started:.0f} s", flush=True)


def measured_in_django(
    script: str, database: str, port: int, repeat: int, flag: str = "--measure"
) -> dict[str, dict[str, float]]:
    """Run `script <flag> <repeat>` in a Django process set up on `database`; its last line is the JSON."""
    env = hub_env(port, database=database, DJANGO_SETTINGS_MODULE="config.settings", DB_POOL="0")
    out = subprocess.run(
        [sys.executable, script, flag, str(repeat)],
        cwd=ROOT,
        env=env,
        check=True,
        capture_output=True,
        text=True,
    ).stdout
    found: dict[str, dict[str, float]] = json.loads(out.strip().splitlines()[-1])
    return found


def requests_time(
    client: Any, urls: dict[str, str], repeat: int, warm: int = 3
) -> dict[str, dict[str, float]]:
    """Each URL's server time through Django's test client (median and p95, ms), after `warm` untimed calls."""
    import statistics

    out: dict[str, dict[str, float]] = {}
    for name, url in urls.items():
        times = []
        for n in range(repeat + warm):
            began = time.perf_counter()
            response = client.get(url)
            elapsed = (time.perf_counter() - began) * 1000
            assert response.status_code == 200, (url, response.status_code)
            if n >= warm:
                times.append(elapsed)
        out[name] = {"median": statistics.median(times), "p95": percentile(times, 0.95)}
    return out


def manage(env: dict[str, str], *args: str) -> str:
    return subprocess.run(
        [sys.executable, "manage.py", *args], cwd=ROOT, env=env, check=True, capture_output=True, text=True
    ).stdout


SETUP = """
from conversations.models import AgentProfile, Inbox, Team
from django.contrib.auth.models import User
team = Team.objects.create(name="Support")
inbox = Inbox.objects.create(name="Support line", kind="phone", address="{business}", team=team)
user = User.objects.create_user("bench_agent", password="{password}")
AgentProfile.objects.create(user=user, role="agent").teams.set([team])
print(inbox.pk)
"""


@dataclass
class Hub:
    base: str
    env: dict[str, str]
    running: Processes
    inbox_id: int
    username: str
    password: str

    def worker(self, name: str, queues: str, concurrency: int) -> None:
        self.running.worker(self.env, name=name, queues=queues, concurrency=concurrency)

    def pid(self, name: str) -> int:
        return self.running.running[name].pid


@contextmanager
def hub_running(port: int, *, workers: bool = True, web_processes: int = 1, **extra: str) -> Iterator[Hub]:
    """A fresh database and Redis db, the migrations, one team, inbox and agent; uvicorn and Celery workers."""
    env = hub_env(port, **extra)
    database_recreate(DATABASE)
    subprocess.run(
        [sys.executable, "-c", "import redis,sys; redis.Redis.from_url(sys.argv[1]).flushdb()", REDIS],
        check=True,
    )
    manage(env, "migrate", "-v0")
    password = secrets.token_urlsafe(12)
    inbox_id = int(manage(env, "shell", "-c", SETUP.format(business=BUSINESS, password=password)).split()[-1])
    logs = RESULTS / "logs"
    logs.mkdir(parents=True, exist_ok=True)
    with processes(logs) as running:
        for n in range(web_processes):
            running.web(env, port, name=f"web{n}")
        hub = Hub(f"http://127.0.0.1:{port}", env, running, inbox_id, "bench_agent", password)
        if workers:
            hub.worker("inbound", "inbound", 2)
            hub.worker("default", "outbound,default", 1)
        wait_http(f"{hub.base}/readyz")
        time.sleep(2 if workers else 0.5)  # the workers connect to the broker
        yield hub


async def login(base: str, username: str, password: str) -> str:
    async with httpx.AsyncClient(base_url=base) as client:
        page = await client.get("/accounts/login/")
        token = page.cookies["csrftoken"]
        response = await client.post(
            "/accounts/login/",
            data={"username": username, "password": password, "csrfmiddlewaretoken": token},
            headers={"Referer": f"{base}/accounts/login/"},
        )
        assert response.status_code == 302, response.text
        return str(client.cookies["sessionid"])


# --- a light load generator: pre-signed requests over raw keep-alive connections ------------------------


def signed_sms_request(base: str, n: int, token: str, *, sid: str | None = None) -> bytes:
    """The raw HTTP request of Twilio's webhook for message `n`, signed for the hub's public URL."""
    url = f"{base}/webhooks/twilio/messaging/"
    params = {
        "MessageSid": sid or f"SM{secrets.token_hex(16)}",
        "AccountSid": ACCOUNT_SID,
        "From": f"+1415555{n % 9000 + 1000:04d}",
        "To": BUSINESS,
        "Body": f"{token} hello, is the blue trail runner in stock in a size 10?",
        "NumMedia": "0",
        "SmsStatus": "received",
        "ApiVersion": "2010-04-01",
    }
    signature = RequestValidator(AUTH_TOKEN).compute_signature(url, params)
    body = urlencode(params).encode()
    host = urlsplit(base).netloc
    head = (
        f"POST /webhooks/twilio/messaging/ HTTP/1.1\r\nHost: {host}\r\n"
        "Content-Type: application/x-www-form-urlencoded\r\n"
        f"X-Twilio-Signature: {signature}\r\nContent-Length: {len(body)}\r\n\r\n"
    )
    return head.encode() + body


class Connection:
    """One keep-alive HTTP/1.1 connection that sends prepared requests and reads the status of each answer."""

    def __init__(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        self.reader, self.writer = reader, writer

    @classmethod
    async def open(cls, base: str) -> Connection:
        parts = urlsplit(base)
        reader, writer = await asyncio.open_connection(parts.hostname, parts.port)
        return cls(reader, writer)

    async def request(self, raw: bytes) -> int:
        self.writer.write(raw)
        head = await self.reader.readuntil(b"\r\n\r\n")
        status = int(head[9:12])
        length = 0
        for line in head.split(b"\r\n"):
            if line[:15].lower() == b"content-length:":
                length = int(line[15:])
        if length:
            await self.reader.readexactly(length)
        return status

    def close(self) -> None:
        self.writer.close()

"""Private PostgreSQL and Redis servers for fault drills and benchmarks, on spare ports in a temporary directory.

Never the machine's shared servers: a drill stops, kills and restarts these, which nobody else uses.

    with private_services() as (postgres, redis):
        url = postgres.create_database("drill", template=TEMPLATE_DATABASE)
        redis.kill(); redis.start()
        postgres.stop(mode="immediate"); postgres.start()

PostgreSQL is tuned for a test: fsync off, so data survives a server crash (the operating system keeps its
cache) but not a machine crash, which no drill simulates. Commits stay synchronous: a commit the hub was told
about is in the WAL that crash recovery replays, as in production. Redis keeps nothing on disk, so a broker
restarted after a crash comes back empty, the worst case.
"""

from __future__ import annotations

import os
import pwd
import shutil
import signal
import subprocess
import sys
import tempfile
import time
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

import psycopg
import redis as redis_lib

ROOT = Path(__file__).resolve().parents[2]
PG_BIN = Path(os.environ.get("PG_BIN", "/usr/lib/postgresql/15/bin"))
REDIS_SERVER = shutil.which("redis-server") or "/usr/bin/redis-server"
TEMPLATE_DATABASE = "hub_template"


def spare_port() -> int:
    import socket

    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return int(probe.getsockname()[1])


def _as_postgres_user(command: list[str]) -> list[str]:
    """PostgreSQL refuses to run as root; under root, run its tools as the `postgres` system user."""
    if os.geteuid() != 0:
        return command
    return ["runuser", "-u", "postgres", "--", *command]


class PrivatePostgres:
    def __init__(self, base_dir: Path, port: int | None = None) -> None:
        self.base_dir = base_dir
        self.data_dir = base_dir / "data"
        self.socket_dir = base_dir / "socket"
        self.log_file = base_dir / "postgres.log"
        self.port = port or spare_port()

    # --- lifecycle ---------------------------------------------------------------------------------
    def init(self) -> PrivatePostgres:
        self.socket_dir.mkdir(parents=True, exist_ok=True)
        if os.geteuid() == 0:
            user = pwd.getpwnam("postgres")
            for path in (self.base_dir, self.socket_dir):
                os.chown(path, user.pw_uid, user.pw_gid)
        subprocess.run(
            _as_postgres_user(
                [
                    str(PG_BIN / "initdb"),
                    "-D",
                    str(self.data_dir),
                    "-U",
                    "postgres",
                    "-A",
                    "trust",
                    "-E",
                    "UTF8",
                    "--locale=C.UTF-8",
                    "--no-sync",
                ]
            ),
            check=True,
            capture_output=True,
        )
        settings = {
            "port": str(self.port),
            "listen_addresses": "'127.0.0.1'",
            "unix_socket_directories": f"'{self.socket_dir}'",
            "fsync": "off",
            "full_page_writes": "off",
            "max_connections": "300",
            "shared_buffers": "128MB",
            "log_min_messages": "warning",
            "logging_collector": "off",
        }
        with (self.data_dir / "postgresql.conf").open("a") as conf:
            conf.write("\n# fault drills\n")
            conf.writelines(f"{key} = {value}\n" for key, value in settings.items())
        return self

    def _pg_ctl(self, *args: str, timeout: float = 60) -> None:
        subprocess.run(
            _as_postgres_user([str(PG_BIN / "pg_ctl"), "-D", str(self.data_dir), *args]),
            check=True,
            capture_output=True,
            timeout=timeout,
        )

    def start(self) -> None:
        self._pg_ctl("-l", str(self.log_file), "-w", "-t", "60", "start")
        self.wait_ready()

    def stop(self, mode: str = "fast") -> None:
        """`immediate` is a crash as far as the database is concerned: no checkpoint, recovery at start."""
        self._pg_ctl("-m", mode, "-w", "-t", "60", "stop")

    def is_running(self) -> bool:
        result = subprocess.run(
            _as_postgres_user([str(PG_BIN / "pg_ctl"), "-D", str(self.data_dir), "status"]),
            capture_output=True,
        )
        return result.returncode == 0

    def wait_ready(self, timeout: float = 30) -> None:
        deadline = time.monotonic() + timeout
        while True:
            try:
                with psycopg.connect(self.url("postgres"), connect_timeout=2) as conn:
                    conn.execute("SELECT 1")
                return
            except psycopg.OperationalError:
                if time.monotonic() > deadline:
                    raise
                time.sleep(0.1)

    # --- databases ---------------------------------------------------------------------------------
    def url(self, database: str) -> str:
        return f"postgres://postgres@127.0.0.1:{self.port}/{database}"

    def create_database(self, name: str, template: str | None = None) -> str:
        with psycopg.connect(self.url("postgres"), autocommit=True) as conn:
            conn.execute(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')
            conn.execute(f'CREATE DATABASE "{name}"' + (f' TEMPLATE "{template}"' if template else ""))
        return self.url(name)


class PrivateRedis:
    def __init__(self, base_dir: Path, port: int | None = None) -> None:
        self.base_dir = base_dir
        self.port = port or spare_port()
        self.process: subprocess.Popen[bytes] | None = None

    @property
    def url(self) -> str:
        return f"redis://127.0.0.1:{self.port}/0"

    def start(self) -> None:
        self.base_dir.mkdir(parents=True, exist_ok=True)
        log = (self.base_dir / "redis.log").open("ab")
        self.process = subprocess.Popen(
            [
                REDIS_SERVER,
                "--port",
                str(self.port),
                "--bind",
                "127.0.0.1",
                "--save",
                "",
                "--appendonly",
                "no",
                "--dir",
                str(self.base_dir),
                "--maxmemory-policy",
                "noeviction",
            ],
            stdout=log,
            stderr=subprocess.STDOUT,
            start_new_session=True,
        )
        deadline = time.monotonic() + 15
        while True:
            try:
                if redis_lib.Redis.from_url(self.url, socket_timeout=1).ping():
                    return
            except redis_lib.RedisError:
                if self.process.poll() is not None or time.monotonic() > deadline:
                    raise
                time.sleep(0.05)

    def stop(self) -> None:
        self._signal(signal.SIGTERM)

    def kill(self) -> None:
        """A crash: what the broker held (queued tasks, unacknowledged ones) is gone."""
        self._signal(signal.SIGKILL)

    def _signal(self, sig: int) -> None:
        if self.process is None or self.process.poll() is not None:
            return
        self.process.send_signal(sig)
        self.process.wait(timeout=15)

    def flush(self) -> None:
        redis_lib.Redis.from_url(self.url).flushall()


@contextmanager
def private_services() -> Iterator[tuple[PrivatePostgres, PrivateRedis]]:
    """A private PostgreSQL (with the hub migrated into TEMPLATE_DATABASE) and Redis, removed afterwards."""
    base = Path(tempfile.mkdtemp(prefix="hub-faults-"))
    base.chmod(0o755)
    postgres = PrivatePostgres(base / "postgres")
    postgres.base_dir.mkdir()
    redis = PrivateRedis(base / "redis")
    try:
        postgres.init().start()
        redis.start()
        migrate(postgres)
        yield postgres, redis
    finally:
        redis.kill()
        if postgres.is_running():
            postgres.stop(mode="immediate")
        shutil.rmtree(base, ignore_errors=True)


def migrate(postgres: PrivatePostgres) -> None:
    """Migrate once into the template; each drill clones it (CREATE DATABASE ... TEMPLATE is a file copy)."""
    url = postgres.create_database(TEMPLATE_DATABASE)
    env = {k: v for k, v in os.environ.items() if not k.startswith(("DJANGO_", "PYTEST_"))}
    env.update(
        DATABASE_URL=url,
        REDIS_URL="",
        SECRET_KEY="fault-drills-migrate",
        DB_CONN_MAX_AGE="0",
        HUB_VAR_DIR=str(postgres.base_dir.parent / "var"),
    )
    subprocess.run(
        [sys.executable, "manage.py", "migrate", "--noinput", "-v0"],
        cwd=ROOT,
        env=env,
        check=True,
        capture_output=True,
    )

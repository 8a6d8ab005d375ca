"""`manage.py serve` keeps the hub up: a crashed worker is restarted; one that cannot start stops the hub."""

from __future__ import annotations

import sys
import threading
import time

from config.supervisor import Supervisor

SLEEPER = [sys.executable, "-c", "import time; time.sleep(60)"]


def _run(supervisor: Supervisor) -> threading.Thread:
    supervisor.start()
    thread = threading.Thread(target=supervisor.run, daemon=True)
    thread.start()
    return thread


def _until(condition, timeout: float = 10.0) -> None:
    deadline = time.monotonic() + timeout
    while not condition():
        assert time.monotonic() < deadline, "timed out"
        time.sleep(0.05)


def test_a_worker_killed_is_restarted_and_the_others_keep_running() -> None:
    said: list[str] = []
    supervisor = Supervisor(
        {"web": SLEEPER, "worker": SLEEPER}, say=said.append, backoff_s=0.1, poll_s=0.05, healthy_after_s=0.5
    )
    thread = _run(supervisor)
    try:
        web, worker = supervisor.children["web"], supervisor.children["worker"]
        first_web = web.process
        for kill in range(3):  # killed again and again, as a crash loop under a Redis outage would
            assert worker.process is not None
            worker.process.kill()
            _until(lambda kill=kill: worker.starts == kill + 2 and worker.process.poll() is None)
            time.sleep(0.6)  # it lived: the next crash is not a quick death in a row
        assert web.process is first_web and web.process.poll() is None
        assert not supervisor.stopping
        assert any("worker exited with -9" in line and "restarting" in line for line in said)
    finally:
        supervisor.stop()
        thread.join(timeout=20)
    assert all(child.process.poll() is not None for child in supervisor.children.values())


def test_a_process_that_dies_right_after_starting_stops_everything_with_its_code() -> None:
    said: list[str] = []
    broken = [sys.executable, "-c", "import sys; sys.exit(3)"]
    supervisor = Supervisor(
        {"web": SLEEPER, "beat": broken}, say=said.append, backoff_s=0.01, poll_s=0.02, give_up_after=3
    )
    thread = _run(supervisor)
    thread.join(timeout=20)
    assert not thread.is_alive()
    assert supervisor.exit_code == 3
    assert supervisor.children["beat"].starts == 3
    assert supervisor.children["web"].process.poll() is not None  # stopped with the rest
    assert "stopping everything" in said[-1]

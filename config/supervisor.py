"""Keeps the hub's processes running: a worker that crashes is restarted, not allowed to stop the hub.

A Celery worker can die on its own (seen when Redis goes away mid-acknowledgement); a deployment's
supervisor (systemd, Kubernetes) restarts it, and so does `manage.py serve`. A process that keeps dying
right after it starts is a configuration error, not bad luck: then everything stops, with its exit code.
"""

from __future__ import annotations

import signal
import subprocess
import time
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, field


@dataclass
class Supervised:
    name: str
    command: Sequence[str]
    process: subprocess.Popen[bytes] | None = None
    started_at: float = 0.0
    restart_at: float | None = None
    quick_deaths: int = 0
    starts: int = 0


@dataclass
class Supervisor:
    commands: Mapping[str, Sequence[str]]
    say: Callable[[str], None] = print
    backoff_s: float = 1.0
    backoff_max_s: float = 30.0
    healthy_after_s: float = 30.0  # a process that ran this long had a real life: its next crash starts over
    give_up_after: int = 5  # consecutive deaths within healthy_after_s
    poll_s: float = 0.5
    children: dict[str, Supervised] = field(default_factory=dict)
    stopping: bool = False
    exit_code: int = 0

    def start(self) -> None:
        for name, command in self.commands.items():
            child = self.children[name] = Supervised(name, command)
            self._spawn(child)

    def stop(self, *_: object) -> None:
        self.stopping = True

    def run(self) -> int:
        """Watch the children until stopped (or one cannot stay up), then stop them all."""
        if not self.children:
            self.start()
        while not self.stopping:
            self.tick()
            time.sleep(self.poll_s)
        self._stop_all()
        return self.exit_code

    def tick(self) -> None:
        now = time.monotonic()
        for child in self.children.values():
            if child.restart_at is not None:
                if now >= child.restart_at:
                    self._spawn(child)
                continue
            assert child.process is not None
            code = child.process.poll()
            if code is None:
                continue
            lived = now - child.started_at
            child.quick_deaths = child.quick_deaths + 1 if lived < self.healthy_after_s else 1
            if child.quick_deaths >= self.give_up_after:
                self.say(
                    f"{child.name} exited with {code} {child.quick_deaths} times in a row right after "
                    "starting; stopping everything (check its log above)."
                )
                self.exit_code = code or 1
                self.stopping = True
                return
            delay = min(self.backoff_max_s, self.backoff_s * 2 ** (child.quick_deaths - 1))
            self.say(f"{child.name} exited with {code} after {lived:.0f}s; restarting it in {delay:.0f}s.")
            child.restart_at = now + delay

    def _spawn(self, child: Supervised) -> None:
        child.process = subprocess.Popen(list(child.command))  # noqa: S603 (our own commands)
        child.started_at, child.restart_at = time.monotonic(), None
        child.starts += 1

    def _stop_all(self) -> None:
        running = [c.process for c in self.children.values() if c.process and c.process.poll() is None]
        for process in running:
            process.send_signal(signal.SIGTERM)
        deadline = time.monotonic() + 15
        for process in running:
            try:
                process.wait(timeout=max(0.1, deadline - time.monotonic()))
            except subprocess.TimeoutExpired:
                process.kill()

"""Enqueueing Celery tasks after commit, robustly: a broker that is down is logged, never a 500."""

from __future__ import annotations

import atexit
import logging
import os
import queue
import threading
from functools import partial
from typing import Any

from django.db import transaction
from django.utils.module_loading import import_string

logger = logging.getLogger("hub.enqueue")


def enqueue_on_commit(task: Any, *args: Any, countdown: float | None = None) -> None:
    transaction.on_commit(partial(enqueue_now, task, *args, countdown=countdown))


def enqueue_now(task: Any, *args: Any, countdown: float | None = None) -> bool:
    try:
        task.apply_async(args=args, countdown=countdown)
    except Exception as error:
        # The row is stored; the sweeper (or the reconciler) picks it up once the broker is back.
        logger.warning("Could not enqueue %s%s: %s", task.name, args, error)
        return False
    return True


class Doorbell:
    """Rings a task for stored ids from a sender thread of this process, many ids per message when busy.

    A webhook's answer then waits for its durable row only, not for a broker round trip: the thread sends
    whatever ids piled up since its last send as one task. An id still in memory when the process dies
    is picked up by the sweeper, like any task the broker lost: it costs latency, never data.
    With eager tasks (the embedded mode) it calls the task at once, in the caller's thread.
    """

    def __init__(self, task_path: str, *, most: int = 50) -> None:
        self.task_path, self.most = task_path, most
        self._ids: queue.SimpleQueue[int] = queue.SimpleQueue()
        self._lock = threading.Lock()
        self._pid = 0
        self._unsent = 0
        self._sent = threading.Condition()

    def ring_on_commit(self, item_id: int) -> None:
        transaction.on_commit(partial(self.ring, item_id))

    def ring(self, item_id: int) -> None:
        task = self._task()
        if task.app.conf.task_always_eager:
            enqueue_now(task, item_id)
            return
        self._started()
        with self._sent:
            self._unsent += 1
        self._ids.put(item_id)

    def drain(self, timeout: float = 10.0) -> bool:
        """Wait until every id rung in this process has been handed to the broker (or given up on)."""
        with self._sent:
            return self._sent.wait_for(lambda: self._unsent == 0, timeout)

    def _task(self) -> Any:
        return import_string(self.task_path)

    def _started(self) -> None:
        with self._lock:
            if self._pid != os.getpid():  # first use in this process (or a forked child)
                self._ids = queue.SimpleQueue()
                self._pid, self._unsent = os.getpid(), 0
                threading.Thread(target=self._send_forever, name="inbound-doorbell", daemon=True).start()
                atexit.register(self.drain, 5.0)  # a process stopping cleanly hands over what it holds

    def _send_forever(self) -> None:
        ids = self._ids
        while True:
            batch = [ids.get()]
            while len(batch) < self.most:
                try:
                    batch.append(ids.get_nowait())
                except queue.Empty:
                    break
            try:
                enqueue_now(self._task(), *batch)
            finally:
                with self._sent:
                    self._unsent -= len(batch)
                    self._sent.notify_all()

"""The process workers' watcher: one thread that kills a worker past its request's time limit or
its memory limit.

It wakes at the first deadline of the requests running (every ``_WATCH`` while a memory limit
is watched); when no request runs it parks, and ``began()`` wakes it. Under a steady load it
wakes about once per time limit, not once per request.
"""

from __future__ import annotations

import logging
import threading
import time
from collections.abc import Sequence
from typing import TYPE_CHECKING

import psutil

from genrpc_actors._execution._worker_state import kill

if TYPE_CHECKING:
    from genrpc_actors._execution._worker_state import _Worker

__all__ = ["Watcher"]

logger = logging.getLogger("genrpc_actors")
_WATCH = 0.05  # how often a busy worker's memory is looked at


class Watcher:
    """Watches the workers given to ``start``; ``lock`` is their pool's."""

    def __init__(self, name: str, lock: threading.Lock, memory_limit: int | None) -> None:
        self._name, self._lock = name, lock
        self._memory_limit = memory_limit
        self._workers: Sequence[_Worker] = ()
        self._parked = True
        self._stopping = False
        self._wake = threading.Event()
        self._thread: threading.Thread | None = None

    def __repr__(self) -> str:
        return f"<Watcher {self._name} parked={self._parked}>"

    def start(self, workers: Sequence[_Worker]) -> None:
        self._workers, self._stopping = workers, False
        self._thread = threading.Thread(
            target=self._run, name=f"genrpc-process-watcher-{self._name}", daemon=True
        )
        self._thread.start()

    def stop(self, timeout: float) -> None:
        self._stopping = True
        self._wake.set()
        thread = self._thread
        if thread is not None and thread is not threading.current_thread():
            thread.join(timeout)
        self._thread = None

    def began(self, limited: bool) -> None:
        """A request has begun (``lock`` held); ``limited``: it has a deadline or a memory
        limit, so a parked watcher must wake for it."""
        if limited and self._parked:
            self._parked = False
            self._wake.set()

    def _run(self) -> None:
        wake = self._wake
        while not self._stopping:
            try:
                timeout = self._limits()
            except Exception:  # pragma: no cover - a bug here must not pass unseen
                logger.exception("event=process_watcher_failed node=%s", self._name)
                timeout = _WATCH
            wake.wait(timeout)
            wake.clear()

    def _limits(self) -> float | None:
        """Kill past the limits; how long until the next look (None: parked)."""
        timeout: float | None = None
        memory_limit = self._memory_limit
        with self._lock:
            now = time.monotonic()
            for worker in self._workers:
                ticket, process = worker.ticket, worker.process
                if ticket is None or worker.why is not None or process is None:
                    continue
                if ticket.deadline is not None:
                    if now >= ticket.deadline:
                        _kill(worker, "time_limit")
                        continue
                    left = ticket.deadline - now
                    timeout = left if timeout is None else min(timeout, left)
                if memory_limit is not None:
                    try:
                        if psutil.Process(process.pid).memory_info().rss > memory_limit:
                            _kill(worker, "memory_limit")
                            continue
                    except psutil.Error:
                        continue  # it has ended: its reading thread says so
                    timeout = _WATCH if timeout is None else min(timeout, _WATCH)
            self._parked = timeout is None
        return timeout


def _kill(worker: _Worker, why: str) -> None:
    """Kill the process running a request (the pool's lock held: it is not reaped yet)."""
    worker.why = why
    kill(worker.process)

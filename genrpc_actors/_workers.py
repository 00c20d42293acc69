"""An elastic pool of worker threads: a request never waits behind another one.

Each request runs in a thread of its own for as long as it runs. Threads that finish wait, idle,
for the next request, so a steady load reuses them (starting a thread costs ~50-100 us); when all
are busy, a new one starts at once. Idle threads end after ``idle_timeout`` seconds.
"""

from __future__ import annotations

import logging
import queue
import threading
from collections.abc import Callable
from typing import Any

__all__ = ["WorkerPool"]

logger = logging.getLogger("genrpc_actors")
_STOP = object()


class WorkerPool:
    """Runs each submitted job in a thread that is free, or in a new one."""

    def __init__(self, name: str, idle_timeout: float = 30.0) -> None:
        self._name = name
        self._idle_timeout = idle_timeout
        self._jobs: queue.SimpleQueue[Any] = queue.SimpleQueue()
        self._idle = threading.Semaphore(0)
        self._lock = threading.Lock()
        self._threads: set[threading.Thread] = set()
        self._started = 0
        self._stopped = False
        self.busy = 0

    def __repr__(self) -> str:
        return f"<WorkerPool {self._name} threads={len(self._threads)} busy={self.busy}>"

    @property
    def size(self) -> int:
        return len(self._threads)

    def submit(self, job: Callable[..., Any], *args: Any) -> None:
        if self._stopped:
            raise RuntimeError("worker pool stopped")
        self._jobs.put((job, args))
        if not self._idle.acquire(blocking=False):
            with self._lock:
                self._started += 1
                thread = threading.Thread(
                    target=self._work,
                    name=f"genrpc-worker-{self._name}-{self._started}",
                    daemon=True,
                )
                self._threads.add(thread)
            thread.start()

    def stop(self, timeout: float = 5.0) -> list[str]:
        """Stop idle threads and wait up to ``timeout`` for busy ones; names those still busy."""
        self._stopped = True
        with self._lock:
            threads = list(self._threads)
        for _ in threads:
            self._jobs.put(_STOP)
        stuck = []
        for thread in threads:
            thread.join(timeout)
            if thread.is_alive():
                stuck.append(thread.name)
        return stuck

    def _work(self) -> None:
        jobs, idle = self._jobs, self._idle
        try:
            while True:
                try:
                    item = jobs.get(timeout=self._idle_timeout)
                except queue.Empty:
                    if idle.acquire(blocking=False):
                        return  # this thread's idle token: nobody counts on it any more
                    continue  # a submitter took our token; its job is on the way
                if item is _STOP:
                    return
                job, args = item
                self.busy += 1
                try:
                    job(*args)
                except BaseException:
                    logger.exception("event=worker_job_failed pool=%s", self._name)
                finally:
                    self.busy -= 1
                idle.release()
        finally:
            with self._lock:
                self._threads.discard(threading.current_thread())

"""An elastic pool of worker threads: a request never waits behind another one for long.

Each request runs in a thread of its own for as long as it runs. Threads that finish wait, idle,
for the next request, so a steady load reuses them (starting a thread costs ~50-100 us); when all
are busy, a new one starts at once, up to ``max_threads``; past that, jobs wait in arrival order
for a thread to finish (``queued`` counts them). Idle threads end after ``idle_timeout`` seconds.
A thread that cannot be started (the system's limit) leaves its job to the threads there are.

``run_each`` runs jobs in turn in the calling thread (the one that read the requests: no other
thread needs to wake for them) under one watch of the pool's watcher thread (``run_here``: one
job): a job still running after ``patience`` to two ``patience`` seconds gets the run's
``take_over`` called from the watcher, which hands what the caller would have done next
(reading its connection, the requests read with it) to other workers. A request is never
delayed by another for more than that. The watcher ticks while jobs begin here, and parks
after 50 ticks in which none began.
"""

from __future__ import annotations

import collections
import logging
import queue
import threading
from collections.abc import Callable
from typing import Any

__all__ = ["Job", "NoThread", "WorkerPool"]

logger = logging.getLogger("genrpc_actors")
_STOP = object()
Job = tuple[Callable[..., Any], tuple[Any, ...]]  # a function and its arguments
_PARK_AFTER = 50  # quiet ticks before the watcher parks


class NoThread(Exception):  # noqa: N818 - what the system said: no thread
    """A job could not be given to any thread: none was running and none could start."""


class _Inline:
    """Jobs running in their reader's thread, as the watcher sees them: ``step`` counts the
    jobs begun, ``seen`` is the step the watcher saw at its last tick (the same one at two
    ticks: that job runs long)."""

    __slots__ = ("seen", "step", "take_over", "taken")

    def __init__(self, take_over: Callable[[], None]) -> None:
        self.take_over = take_over
        self.step = 0
        self.seen = -1
        self.taken = False  # take_over has been called


class WorkerPool:
    """Runs each submitted job in a thread that is free, or in a new one."""

    def __init__(
        self,
        name: str,
        idle_timeout: float = 30.0,
        patience: float = 0.001,
        max_threads: int = 256,
    ) -> None:
        self._name = name
        self._max_threads = max_threads
        self._backlog = 0  # jobs queued while every allowed thread was busy
        self._idle_timeout = idle_timeout
        self._patience = patience
        self._watch_lock = threading.Lock()
        self._here: dict[int, _Inline] = {}  # jobs running in their reader's thread, by id
        self._watch_parked = True
        self._runs = 0  # run_each calls so far
        self._watch_wake = threading.Event()
        self._watcher: threading.Thread | None = None
        self._jobs: queue.SimpleQueue[Any] = queue.SimpleQueue()
        self._idle = threading.Semaphore(0)
        self._lock = threading.Lock()
        self._threads: set[threading.Thread] = set()
        self._started = 0
        self._stopped = False
        self.busy = 0

    def __repr__(self) -> str:
        return (
            f"<WorkerPool {self._name} threads={len(self._threads)} busy={self.busy}"
            f" queued={self._backlog}>"
        )

    @property
    def queued(self) -> int:
        """Jobs waiting for a thread (every allowed thread being busy)."""
        return self._backlog

    @property
    def size(self) -> int:
        return len(self._threads)

    def submit(self, job: Callable[..., Any], *args: Any) -> None:
        """Run ``job(*args)`` in a thread; ``NoThread`` if no thread is there to run it and
        none can be started (the job is then not kept: it will never run)."""
        if self._stopped:
            raise RuntimeError("worker pool stopped")
        item = (job, args)
        if self._idle.acquire(blocking=False):
            self._jobs.put(item)
            return  # an idle thread takes it
        with self._lock:
            if len(self._threads) >= self._max_threads:
                self._backlog += 1  # the next thread to finish takes it
                self._jobs.put(item)
                return
            self._started += 1
            thread = threading.Thread(
                target=self._work,
                name=f"genrpc-worker-{self._name}-{self._started}",
                daemon=True,
            )
            self._threads.add(thread)
        try:
            thread.start()
        except RuntimeError as exc:  # can't start new thread: the threads there take the job
            logger.warning("event=worker_thread_not_started pool=%s error=%s", self._name, exc)
            with self._lock:
                self._threads.discard(thread)
                if not self._threads:  # there are none
                    raise NoThread(f"no worker thread could start: {exc}") from None
                self._backlog += 1
                self._jobs.put(item)
            return
        self._jobs.put(item)

    def run_here(
        self, job: Callable[..., Any], args: tuple[Any, ...], take_over: Callable[[], None]
    ) -> bool:
        """Run ``job(*args)`` in this thread; True if it ran so long that ``take_over`` was
        called meanwhile (from the watcher), False if it ended first."""
        return self.run_each(collections.deque(((job, args),)), take_over)

    def run_each(self, jobs: collections.deque[Job], take_over: Callable[[], None]) -> bool:
        """Run the ``(job, args)`` of ``jobs`` in turn in this thread, under one watch: if one
        runs long, ``take_over`` is called (from the watcher; it takes what is left of
        ``jobs``), and this returns True once that job ends; False when all have run."""
        inline = _Inline(take_over)
        key = id(inline)
        with self._watch_lock:
            self._here[key] = inline
            self._runs += 1
            if self._watch_parked:
                self._unpark()
        try:
            while not inline.taken:
                try:
                    job, args = jobs.popleft()
                except IndexError:  # all have run (or the watcher took the rest just now)
                    break
                inline.step += 1
                try:
                    job(*args)
                except BaseException:
                    logger.exception("event=worker_job_failed pool=%s", self._name)
        finally:
            with self._watch_lock:
                del self._here[key]
                taken = inline.taken
        return taken

    def _unpark(self) -> None:
        """Wake the watcher (started on first need); ``_watch_lock`` is held."""
        self._watch_parked = False
        if self._watcher is None and not self._stopped:
            watcher = threading.Thread(
                target=self._watch, name=f"genrpc-watcher-{self._name}", daemon=True
            )
            watcher.start()
            self._watcher = watcher  # only once started: stop() may join it at once
        self._watch_wake.set()

    def _watch(self) -> None:
        quiet = 0  # ticks with no job running here, and none begun since the tick before
        runs = 0
        wake, lock, here = self._watch_wake, self._watch_lock, self._here
        while not self._stopped:
            wake.wait(None if self._watch_parked else self._patience)
            wake.clear()
            late: list[_Inline] = []
            with lock:
                for inline in here.values():
                    step = inline.step
                    if inline.seen == step and not inline.taken:
                        inline.taken = True
                        late.append(inline)
                    inline.seen = step
                # quiet only if no job began since the last tick: a steady flow of short ones
                # (sequential calls) keeps it ticking, instead of waking it for each
                quiet = 0 if here or runs != self._runs else quiet + 1
                runs = self._runs
                if quiet > _PARK_AFTER:
                    self._watch_parked = True
            for inline in late:
                try:
                    inline.take_over()
                except Exception:
                    logger.exception("event=take_over_failed pool=%s", self._name)

    def stop(self, timeout: float = 5.0) -> list[str]:
        """Stop idle threads and wait up to ``timeout`` for busy ones; names those still busy."""
        self._stopped = True
        self._watch_wake.set()
        watcher = self._watcher
        if watcher is not None and watcher is not threading.current_thread():
            watcher.join(timeout)
        with self._lock:
            threads = list(self._threads)
        for _ in threads:
            self._jobs.put(_STOP)
        stuck = []
        for thread in threads:
            if thread.ident is None:  # being started by a submitter right now, or never was
                continue
            thread.join(timeout)
            if thread.is_alive():
                stuck.append(thread.name)
        return stuck

    def _work(self) -> None:
        try:
            self._work_loop()
        finally:
            with self._lock:
                self._threads.discard(threading.current_thread())

    def _work_loop(self) -> None:
        jobs, idle = self._jobs, self._idle
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
            self.busy -= 1
            if not self._take_backlog():
                idle.release()

    def _take_backlog(self) -> bool:
        """Whether a job waits for a thread: this one takes it without going idle."""
        with self._lock:
            if self._backlog:
                self._backlog -= 1
                return True
        return False

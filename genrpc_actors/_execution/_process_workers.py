"""Process workers: OS processes that run requests one at a time, so that CPU-bound requests use
every core and a request that crashes, exhausts memory or never returns harms nobody else.

Theory of operation. Each worker is a process (started by ``forkserver``, never by ``fork`` of
the threaded node) and a thread of the node that tends it. Requests wait in one queue, in
arrival order; a tending thread whose process is free takes the next one, sends its body to the
process as bytes (the node never unpickles it) and waits for the outcome. While it waits it
watches the process: past ``time_limit`` or ``memory_limit`` it kills it; if the process dies
(``os._exit``, a segfault, a signal from outside) the request's outcome is
``BadRpc(("killed", why))``. Either way the tending thread starts a new process in its place and
goes on with the queue: nothing else on the node notices.
"""

from __future__ import annotations

import collections
import logging
import multiprocessing
import queue
import signal
import threading
import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from multiprocessing.connection import Connection as Pipe
from typing import Any

import psutil

from genrpc_actors import _protocol
from genrpc_actors._errors import ConfigError
from genrpc_actors._execution._request import error_body
from genrpc_actors._execution._worker_main import HEADER, serve

__all__ = ["Outcome", "ProcessWorkers", "Ticket", "WorkerStatistics"]

logger = logging.getLogger("genrpc_actors")
Outcome = Callable[[int, int, _protocol.Body], None]  # (kind, flags, body) of the reply
START_TIMEOUT = 30.0
_WATCH = 0.05  # how often a busy worker's memory is looked at
_RETRY = 1.0  # how often a worker that could not be replaced is tried again
_STOP = object()


@dataclass(frozen=True, slots=True)
class WorkerStatistics:
    """One process worker at one moment."""

    pid: int | None
    busy: bool
    requests: int
    rss: int  # bytes
    cpu_s: float
    kills: dict[str, int] = field(default_factory=dict)  # by reason: time_limit, exit 3, ...


class Ticket:
    """A request given to the pool; ``cancel()`` it when its caller stops waiting: it is
    dropped if it has not started, and the process running it is killed if it has."""

    __slots__ = ("cancelled",)

    def __init__(self) -> None:
        self.cancelled = False

    def cancel(self) -> None:
        self.cancelled = True


class _Worker:
    """A process and what the node knows of it."""

    __slots__ = ("broken", "busy", "kills", "pipe", "process", "requests")

    def __init__(self) -> None:
        self.process: Any = None
        self.pipe: Pipe | None = None
        self.broken: str | None = None  # why it could not be replaced, until it is
        self.busy = False
        self.requests = 0
        self.kills: collections.Counter[str] = collections.Counter()


class ProcessWorkers:
    """``count`` process workers for the requests of ``modules`` (``["*"]``: every request)."""

    def __init__(
        self,
        name: str,
        count: int,
        modules: Sequence[str],
        control: tuple[str, Sequence[str]],
        *,
        time_limit: float | None = None,
        memory_limit: int | None = None,
    ) -> None:
        self._name, self._count = name, count
        self._modules = tuple(modules)
        self._every = "*" in self._modules
        self._routed = frozenset(m for m in self._modules if m != "*")
        self._control = (control[0], tuple(control[1]))
        self._time_limit, self._memory_limit = time_limit, memory_limit
        self._jobs: queue.SimpleQueue[Any] = queue.SimpleQueue()
        self._workers: list[_Worker] = []
        self._threads: list[threading.Thread] = []
        self._context = multiprocessing.get_context("forkserver")
        self._stopping = threading.Event()  # set by stop(); also ends a wait to retry

    def __repr__(self) -> str:
        busy = sum(w.busy for w in self._workers)
        return f"<ProcessWorkers {self._name} workers={len(self._workers)} busy={busy}>"

    # -- routing -------------------------------------------------------------------------------

    def takes(self, flags: int, body: _protocol.Body | memoryview) -> bool:
        """Whether a request runs in a process worker: its module is one of ``modules``, or
        ``modules`` is ``["*"]`` (shipped callables too). Read without unpickling the body."""
        if self._every:
            return True
        return _protocol.peek_module(body, flags) in self._routed

    def submit(self, flags: int, body: bytes, done: Outcome | None) -> Ticket:
        """Queue a request (``done=None``: a CAST, whose outcome nobody reads)."""
        ticket = Ticket()
        refusal = (
            error_body(("not_running", "process_workers")) if self.stopped else self._unavailable()
        )
        if refusal is None:
            self._jobs.put((flags, body, done, ticket))
        elif done is not None:  # stopped, or every worker failed to restart: say so now
            done(_protocol.ERROR, 0, refusal)
        return ticket

    # -- life ----------------------------------------------------------------------------------

    def start(self) -> None:
        """Start every worker and wait until each has imported ``modules``; ``ConfigError``
        naming ``process_modules`` if one cannot (no restart loop)."""
        self._stopping.clear()
        workers = [_Worker() for _ in range(self._count)]
        try:
            for worker in workers:
                self._spawn(worker)
        except BaseException:
            for worker in workers:
                _end(worker)
            raise
        self._workers = workers
        self._threads = [
            threading.Thread(
                target=self._tend,
                args=(worker,),
                name=f"genrpc-process-{self._name}-{i}",
                daemon=True,
            )
            for i, worker in enumerate(workers, 1)
        ]
        for thread in self._threads:
            thread.start()

    def stop(self, timeout: float = 5.0) -> None:
        """Kill every worker (a request still running gets no reply) and join the threads."""
        self._stopping.set()
        for _ in self._threads:
            self._jobs.put(_STOP)
        for worker in self._workers:  # a tending thread sees its process die and says why
            process = worker.process
            if process is not None and process.is_alive():
                process.kill()
        for thread in self._threads:
            if thread is not threading.current_thread():
                thread.join(timeout)
        for worker in self._workers:  # only now: two threads must not reap one process
            _end(worker)
        self._threads = []
        while True:  # requests that never ran: their callers are told
            try:
                job = self._jobs.get_nowait()
            except queue.Empty:
                break
            if job is not _STOP and job[2] is not None and not job[3].cancelled:
                job[2](_protocol.ERROR, 0, error_body(("not_running", "process_workers")))

    def statistics(self) -> list[WorkerStatistics]:
        found = []
        for worker in list(self._workers):
            process = worker.process
            pid = process.pid if process is not None else None
            rss, cpu = 0, 0.0
            if pid is not None:
                try:
                    info = psutil.Process(pid)
                    rss = info.memory_info().rss
                    times = info.cpu_times()
                    cpu = times.user + times.system
                except psutil.Error:
                    pass
            found.append(
                WorkerStatistics(
                    pid, worker.busy, worker.requests, rss, round(cpu, 3), dict(worker.kills)
                )
            )
        return found

    @property
    def queued(self) -> int:
        """Requests waiting for a free worker (cancelled ones until a worker skips them)."""
        return self._jobs.qsize()

    @property
    def size(self) -> int:
        """Worker processes kept (running or being replaced)."""
        return len(self._workers)

    @property
    def stopped(self) -> bool:
        return self._stopping.is_set()

    @property
    def busy(self) -> int:
        return sum(worker.busy for worker in self._workers)

    # -- a worker's thread ---------------------------------------------------------------------

    def _spawn(self, worker: _Worker) -> None:
        ours, theirs = self._context.Pipe()
        mode, listed = self._control
        process = self._context.Process(
            target=serve,
            args=(theirs, self._modules, mode, listed),
            name=f"genrpc-worker-{self._name}",
            daemon=True,
        )
        process.start()
        theirs.close()
        worker.process, worker.pipe = process, ours
        if not ours.poll(START_TIMEOUT):
            _end(worker)
            raise ConfigError(
                "process_modules", f"a process worker did not start in {START_TIMEOUT} s"
            )
        try:
            said = ours.recv_bytes()
        except (EOFError, OSError):
            _end(worker)
            raise ConfigError("process_modules", "a process worker died while starting") from None
        if said != b"ready":
            _end(worker)
            raise ConfigError(
                "process_modules", said.decode(errors="replace").removeprefix("failed ")
            )

    def _tend(self, worker: _Worker) -> None:
        while True:
            job = self._jobs.get()
            if job is _STOP or self.stopped:
                return
            flags, body, done, ticket = job
            if ticket.cancelled:
                continue  # its caller stopped waiting before it started: dropped
            worker.busy = True
            worker.requests += 1
            try:
                outcome, why = self._run(worker, flags, body, ticket, reply=done is not None)
            finally:
                worker.busy = False
            replace = False
            if why is not None:
                worker.kills[why] += 1
                logger.warning("event=process_worker_killed node=%s why=%s", self._name, why)
                outcome = (_protocol.ERROR, 0, error_body(("killed", why)))
                _end(worker)
                replace = not self.stopped
            if done is not None and outcome is not None:
                try:
                    done(*outcome)
                except Exception:
                    logger.exception("event=process_reply_failed node=%s", self._name)
            if why is not None and not replace:
                return  # the pool is stopping
            if replace and not self._replace(worker):
                return  # the pool is stopping

    def _replace(self, worker: _Worker) -> bool:
        """Start a new process for ``worker``; while that fails, this thread takes no request
        (the other workers serve them) and tries again every second. If no worker is left,
        the requests waiting and those to come are refused at once, not left to wait. False
        if the pool stops meanwhile."""
        stopping = self._stopping
        while not stopping.is_set():
            try:
                self._spawn(worker)
            except Exception as exc:
                if stopping.is_set():  # the pool is stopping: that is why
                    return False
                if worker.broken is None:
                    logger.exception("event=process_worker_not_replaced node=%s", self._name)
                worker.broken = str(exc)
                if all(w.broken is not None for w in self._workers):
                    self._refuse_waiting()
                stopping.wait(_RETRY)
                continue
            if worker.broken is not None:
                logger.warning("event=process_worker_replaced node=%s", self._name)
            worker.broken = None
            return True
        return False

    def _unavailable(self) -> bytes | None:
        """The ERROR body for a request no worker can take (all broken), or None."""
        broken = [w.broken for w in self._workers]
        if broken and all(why is not None for why in broken):
            return error_body(("not_running", f"process_workers: {broken[0]}"))
        return None

    def _refuse_waiting(self) -> None:
        refusal = self._unavailable()
        if refusal is None:
            return
        taken = []
        while True:
            try:
                taken.append(self._jobs.get_nowait())
            except queue.Empty:
                break
        for job in taken:
            if job is _STOP:
                self._jobs.put(job)
            elif job[2] is not None and not job[3].cancelled:
                job[2](_protocol.ERROR, 0, refusal)

    def _run(
        self, worker: _Worker, flags: int, body: bytes, ticket: Ticket, *, reply: bool
    ) -> tuple[tuple[int, int, bytes] | None, str | None]:
        """Run one request in ``worker``'s process: ``(outcome, None)``, or ``(None, why)`` when
        the process died or was killed."""
        pipe, process = worker.pipe, worker.process
        assert pipe is not None
        try:
            pipe.send_bytes(HEADER.pack(flags, int(reply)) + body)
        except (OSError, EOFError):
            return None, _died(process)
        deadline = None if self._time_limit is None else time.monotonic() + self._time_limit
        watched = psutil.Process(process.pid) if self._memory_limit is not None else None
        while True:
            wait = _WATCH if watched is not None or reply else None  # reply: may be cancelled
            if ticket.cancelled:
                return None, _kill(process, "cancelled")
            if deadline is not None:
                left = deadline - time.monotonic()
                if left <= 0:
                    return None, _kill(process, "time_limit")
                wait = left if wait is None else min(wait, left)
            if pipe.poll(wait):
                try:
                    data = pipe.recv_bytes()
                except (EOFError, OSError):
                    return None, _died(process)
                kind, out_flags = HEADER.unpack_from(data)
                return (kind, out_flags, data[HEADER.size :]), None
            if watched is not None and self._memory_limit is not None:
                try:
                    if watched.memory_info().rss > self._memory_limit:
                        return None, _kill(process, "memory_limit")
                except psutil.Error:
                    return None, _died(process)


def _kill(process: Any, why: str) -> str:
    if process.is_alive():
        process.kill()
    process.join(5.0)
    return why


def _died(process: Any) -> str:
    process.join(5.0)
    code = process.exitcode
    if code is None:
        process.kill()
        process.join(5.0)
        return "exit unknown"
    if code < 0:
        return f"signal {signal.Signals(-code).name}"
    return f"exit {code}"


def _end(worker: _Worker) -> None:
    process, pipe = worker.process, worker.pipe
    if pipe is not None:
        pipe.close()
    if process is not None and process.is_alive():
        process.kill()
    if process is not None:
        process.join(5.0)
    worker.process = worker.pipe = None

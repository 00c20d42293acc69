"""Process workers: OS processes that run requests one at a time, so that CPU-bound requests use
every core and a request that crashes, exhausts memory or never returns harms nobody else.

Theory of operation. Each worker is a process (started by ``forkserver``, never by ``fork`` of
the threaded node), a ``Channel`` to it, and a thread of the node that reads what the process
says. A request is submitted as it is read: it goes straight down the channel of an idle worker,
from the reader's thread, or waits in one line, in arrival order, until a worker is free. The
node never unpickles its body. The worker's reading thread wakes for the outcome, hands the
worker the next request in line, and sends the outcome on as the worker encoded it. So a request
costs the node one thread wake more than one run in the reader's thread, and no thread waits
for a request in line.

A kill (by the watcher, past ``time_limit`` or ``memory_limit``; by a cancel; or from outside:
``os._exit``, a segfault, a signal) ends the channel, and the request's outcome is
``BadRpc(("killed", why))``; the reading thread then starts a new process in its place, while
the other workers serve the line: nothing else on the node notices. The reading thread owns its
worker: it alone reaps the process, so no two threads ever wait for one process.
"""

from __future__ import annotations

import collections
import logging
import multiprocessing
import select
import signal
import threading
import time
from collections.abc import Sequence
from typing import Any

from genrpc_actors import _protocol
from genrpc_actors._errors import ConfigError
from genrpc_actors._execution._process_watcher import Watcher
from genrpc_actors._execution._request import error_body
from genrpc_actors._execution._worker_channel import FAILED, READY, Channel, socket_pair
from genrpc_actors._execution._worker_launch import WorkerProcess
from genrpc_actors._execution._worker_main import serve
from genrpc_actors._execution._worker_state import (
    Outcome,
    Ticket,
    WorkerStatistics,
    _Worker,
    kill,
)

__all__ = ["Outcome", "ProcessWorkers", "Ticket", "WorkerStatistics"]

logger = logging.getLogger("genrpc_actors")
START_TIMEOUT = 30.0
_RETRY = 1.0  # how often a worker that could not be replaced is tried again
_CANCELLED = (_protocol.ERROR, 0, error_body(("killed", "cancelled")))  # for nobody to read
_STOPPED = (_protocol.ERROR, 0, error_body(("not_running", "process_workers")))


class ProcessWorkers:
    """``count`` process workers for the requests of ``modules`` (``["*"]``: every request)."""

    def __init__(
        self,
        name: str,
        count: int,
        modules: Sequence[str],
        control: tuple[str, Sequence[str], int],
        *,
        time_limit: float | None = None,
        memory_limit: int | None = None,
    ) -> None:
        self._name, self._count = name, count
        self._modules = tuple(modules)
        self._every = "*" in self._modules
        self._routed = frozenset(m for m in self._modules if m != "*")
        self._control = (control[0], tuple(control[1]), control[2])
        self._time_limit = time_limit
        self._limited = time_limit is not None or memory_limit is not None
        self._lock = threading.Lock()  # the queue, the idle list, and who runs what
        self._waiting: collections.deque[Ticket] = collections.deque()
        self._idle: list[_Worker] = []
        self._workers: list[_Worker] = []
        self._context = multiprocessing.get_context("forkserver")
        # the forkserver (one per node process, started with the first worker) imports the
        # worker's own code once, so that a worker, and a replacement, starts in milliseconds
        self._context.set_forkserver_preload([serve.__module__])
        self._stopping = threading.Event()  # set by stop(); also ends a wait to retry
        self._threads: list[threading.Thread] = []
        self._watcher = Watcher(name, self._lock, memory_limit)

    def __repr__(self) -> str:
        return (
            f"<ProcessWorkers {self._name} workers={len(self._workers)} busy={self.busy}"
            f" queued={self.queued}>"
        )

    # -- routing -------------------------------------------------------------------------------

    def takes(self, flags: int, body: _protocol.Body | memoryview) -> bool:
        """Whether a request runs in a process worker: its module is one of ``modules``, or
        ``modules`` is ``["*"]`` (shipped callables too). Read without unpickling the body."""
        if self._every:
            return True
        return _protocol.peek_module(body, flags) in self._routed

    def ticket(self, flags: int, body: bytes | memoryview, done: Outcome | None) -> Ticket:
        """A request to ``submit``; ``done(kind, flags, body)`` is called once with its outcome
        (``None``: a CAST, whose outcome nobody reads), also when it is cancelled."""
        return Ticket(self._cancel, flags, body, done)

    def submit(self, ticket: Ticket) -> None:
        """Give a request to an idle worker, or put it in line. Its body is read before this
        returns: the caller may reuse its buffer."""
        with self._lock:
            refusal = _CANCELLED if ticket.cancelled else self._unavailable()
            worker = channel = None
            if refusal is None:
                if self._idle and not self._waiting:
                    worker = self._idle.pop()
                    self._begin(worker, ticket)
                    channel = worker.channel  # this process's: not one that replaces it
                else:
                    ticket.body = bytes(ticket.body)  # the caller's buffer is not ours to keep
                    self._waiting.append(ticket)
                    return
        if worker is None:
            assert refusal is not None
            _deliver(ticket, refusal)
            return
        self._hand(channel, ticket)

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
        with self._lock:
            self._workers, self._idle = workers, list(workers)
        self._threads = [
            threading.Thread(
                target=self._read,
                args=(worker,),
                name=f"genrpc-process-{self._name}-{i}",
                daemon=True,
            )
            for i, worker in enumerate(workers, 1)
        ]
        for thread in self._threads:
            thread.start()
        self._watcher.start(workers)

    def stop(self, timeout: float = 5.0) -> None:
        """Kill every worker (a request running is told ``killed``, one in line
        ``not_running``) and join the threads, which reap the processes."""
        self._stopping.set()
        with self._lock:
            waiting = list(self._waiting)
            self._waiting.clear()
            self._idle.clear()
            for worker in self._workers:  # its reading thread sees it die and reaps it
                kill(worker.process)
        for ticket in waiting:
            _deliver(ticket, _STOPPED)
        self._watcher.stop(timeout)
        for thread in self._threads:
            if thread is not threading.current_thread():
                thread.join(timeout)
        self._threads = []

    def statistics(self) -> list[WorkerStatistics]:
        return [worker.statistics() for worker in list(self._workers)]

    @property
    def queued(self) -> int:
        """Requests waiting in line for a free worker."""
        return len(self._waiting)

    @property
    def size(self) -> int:
        """Worker processes kept (running or being replaced)."""
        return len(self._workers)

    @property
    def stopped(self) -> bool:
        return self._stopping.is_set()

    @property
    def busy(self) -> int:
        return sum(worker.ticket is not None for worker in self._workers)

    # -- handing requests over -----------------------------------------------------------------

    def _unavailable(self) -> tuple[int, int, bytes] | None:
        """Why no request can run now (stopped, or no worker can start), or None."""
        if self.stopped:
            return _STOPPED
        if self._idle:
            return None
        broken = [w.broken for w in self._workers]
        if broken and all(why is not None for why in broken):  # none can start: say so now
            return _protocol.ERROR, 0, error_body(("not_running", f"process_workers: {broken[0]}"))
        return None

    def _begin(self, worker: _Worker, ticket: Ticket) -> None:
        """``worker`` takes ``ticket`` (``_lock`` held)."""
        worker.ticket, ticket.worker = ticket, worker
        worker.requests += 1
        if self._time_limit is not None:
            ticket.deadline = time.monotonic() + self._time_limit
        self._watcher.began(self._limited)

    def _hand(self, channel: Channel | None, ticket: Ticket) -> None:
        """Send a request down its worker's channel (no lock held: a large body is copied). If
        the process has died meanwhile, its reading thread says so."""
        if channel is not None:
            try:  # noqa: SIM105 - contextlib.suppress costs a context manager per request
                channel.send(ticket.flags, ticket.done is not None, (ticket.body,))
            except OSError:
                pass  # its reading thread sees the process gone and says so
        ticket.body = None

    def _next(self, worker: _Worker) -> None:
        """``worker`` is free: the first request in line goes to it, or it goes idle."""
        with self._lock:
            if self.stopped:
                return
            if not self._waiting:
                self._idle.append(worker)
                return
            ticket = self._waiting.popleft()
            self._begin(worker, ticket)
            channel = worker.channel
        self._hand(channel, ticket)

    def _cancel(self, ticket: Ticket) -> None:
        with self._lock:
            ticket.cancelled = True
            worker = ticket.worker
            if worker is not None and worker.ticket is ticket:
                worker.why = "cancelled"
                kill(worker.process)
                return
            try:
                self._waiting.remove(ticket)
            except ValueError:
                return  # not submitted yet, or over
        _deliver(ticket, _CANCELLED)

    # -- a worker's reading thread -------------------------------------------------------------

    def _read(self, worker: _Worker) -> None:
        while True:
            channel = worker.channel
            message = channel.receive() if channel is not None else None
            with self._lock:
                ticket, why = worker.ticket, worker.why
                worker.ticket = worker.why = None
                if ticket is not None:
                    ticket.worker = None
                if (message is None or why is not None) and worker in self._idle:
                    self._idle.remove(worker)  # it died idle: nobody may hand it a request
            if message is not None and why is None:
                kind, flags, body = message
                outcome = (kind, flags, bytes(body))  # out of the region before the next one
                del message, body
                self._next(worker)
                if ticket is not None:
                    _deliver(ticket, outcome)
                continue
            # its process has ended, or is being killed: reap it, say why, replace it
            if ticket is None and self.stopped:
                _end(worker)  # the pool's own kill
                return
            why = why or _died(worker.process)
            worker.kills[why] += 1
            logger.warning("event=process_worker_killed node=%s why=%s", self._name, why)
            _end(worker)
            if ticket is not None:
                _deliver(ticket, (_protocol.ERROR, 0, error_body(("killed", why))))
            if not self._replace(worker):
                return  # the pool is stopping
            self._next(worker)

    def _replace(self, worker: _Worker) -> bool:
        """Start a new process for ``worker``; while that fails, this thread takes no request
        (the other workers serve the line) and tries again every second. If no worker is
        left, the requests in line and those to come are refused at once. False if the pool
        stops meanwhile."""
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
                self._refuse_waiting()
                stopping.wait(_RETRY)
                continue
            if worker.broken is not None:
                logger.warning("event=process_worker_replaced node=%s", self._name)
            worker.broken = None
            if stopping.is_set():  # a process started as the pool began to stop
                _end(worker)
                return False
            return True
        return False

    def _refuse_waiting(self) -> None:
        with self._lock:
            refusal = self._unavailable()
            if refusal is None:
                return
            taken = list(self._waiting)
            self._waiting.clear()
        for ticket in taken:
            _deliver(ticket, refusal)

    def _spawn(self, worker: _Worker) -> None:
        worker.starting = True
        try:
            self._start_process(worker)
        finally:
            worker.starting = False

    def _start_process(self, worker: _Worker) -> None:
        begin = time.monotonic()
        ours, theirs = socket_pair()
        process = WorkerProcess(
            target=serve,
            args=(theirs, self._modules, *self._control),
            name=f"genrpc-worker-{self._name}",
            daemon=True,
        )
        try:
            process.start()
        finally:
            theirs.close()
        channel = Channel(ours)
        worker.process, worker.channel = process, channel
        poller = select.poll()
        poller.register(ours, select.POLLIN)
        if not poller.poll(START_TIMEOUT * 1000):
            _end(worker)
            raise ConfigError(
                "process_modules", f"a process worker did not start in {START_TIMEOUT} s"
            )
        said = channel.receive()
        if said is None:
            _end(worker)
            raise ConfigError("process_modules", "a process worker died while starting")
        if said[0] != READY:
            text = bytes(said[2]).decode(errors="replace") if said[0] == FAILED else repr(said)
            _end(worker)
            raise ConfigError("process_modules", text)
        worker.started_s = time.monotonic() - begin


def _deliver(ticket: Ticket, outcome: tuple[int, int, bytes]) -> None:
    done = ticket.done
    if done is None:
        return
    try:
        done(*outcome)
    except Exception:
        logger.exception("event=process_reply_failed")


def _died(process: Any) -> str:
    if process is None:
        return "exit unknown"
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
    process, channel = worker.process, worker.channel
    if channel is not None:
        channel.close()
    if process is not None and process.is_alive():
        process.kill()
    if process is not None:
        process.join(5.0)
    worker.process = worker.channel = None

"""The server end of one accepted connection: once authenticated, read requests and answer them.

Its listener's handshake loop (``_handshakes``) authenticates the peer (nothing it sends is
unpickled before that, and every pre-authentication frame is at most 1024 bytes) and hands the
connection to its acceptor, which gives the reading to the worker pool (``start``).
Reading is a role held by one worker at a time: it reads what has arrived and runs the requests
itself, in turn (no thread wakes for a request), their replies held until the last of them and
written together. If one runs long (``WorkerPool.run_each``: a millisecond or two), the pool's
watcher hands the rest, the reading and the held replies to other threads, so a slow request
never holds up the next for longer. Any protocol violation closes this connection only.
"""

from __future__ import annotations

import collections
import functools
import logging
import math
import select
import socket
import threading
import time
from collections.abc import Awaitable, Callable
from typing import Any

from genrpc_actors import _protocol
from genrpc_actors._errors import RpcError
from genrpc_actors._execution._event_loop import EventLoop, LoopTask, close_awaitable
from genrpc_actors._execution._process_workers import ProcessWorkers, Ticket
from genrpc_actors._execution._request import (
    AWAITED_KIND,
    Finish,
    ModuleControl,
    error_body,
    run_request,
)
from genrpc_actors._execution._thread_pool import NoThread, WorkerPool
from genrpc_actors._protocol._messages import (
    ABCAST,
    ASK,
    CALL,
    CANCEL,
    CAST,
    DILL,
    ERROR,
    PING,
    PONG,
    SBCAST,
    SBCAST_REPLY,
    SPAWN,
    SUPERVISE,
    Body,
    decode_body,
    encode_body,
    message,
    message_parts,
    parse_message,
)
from genrpc_actors._server._asks import Lookup, ask_here
from genrpc_actors._server._supervising import Watch, Watching, supervise_here
from genrpc_actors._transport import _tcp
from genrpc_actors._transport._outbox import Frame, Outbox
from genrpc_actors._transport._reader import Reader
from genrpc_actors._transport._tls import TlsTransport

__all__ = ["ServerConnection", "ServerSettings", "closing_reason"]

logger = logging.getLogger("genrpc_actors")
REPLY_BACKLOG = 8 * 1024 * 1024  # bytes of replies waiting to go out before reading stops
_Job = tuple[Callable[..., None], tuple[Any, ...]]  # a request to run, and its arguments


class ServerSettings:
    """What every accepted connection of a node shares."""

    __slots__ = (
        "auth_timeout",
        "control",
        "cookie",
        "deliver",
        "inactivity",
        "keepalive",
        "lookup",
        "loop",
        "max_frame",
        "max_pending",
        "name",
        "peer_gone",
        "processes",
        "send_timeout",
        "spawn",
        "watch",
        "workers",
    )

    def __init__(
        self,
        *,
        name: str,
        cookie: bytes,
        control: ModuleControl,
        workers: WorkerPool,
        auth_timeout: float,
        send_timeout: float,
        inactivity: float | None,
        keepalive: tuple[int, int, int],
        max_frame: int,
        deliver: Callable[[str, Any], bool],
        processes: ProcessWorkers | None = None,
        max_pending: int = 1000,
        loop: EventLoop | None = None,
        lookup: Lookup | None = None,
        spawn: Spawn | None = None,
        peer_gone: Callable[[str], None] | None = None,
        watch: Watch | None = None,
    ) -> None:
        self.name, self.cookie, self.control, self.workers = name, cookie, control, workers
        self.processes = processes  # where requests of process_modules run, if anywhere
        self.auth_timeout, self.send_timeout, self.inactivity = (
            auth_timeout,
            send_timeout,
            inactivity,
        )
        self.keepalive, self.max_frame, self.deliver = keepalive, max_frame, deliver
        self.max_pending = max_pending  # connections in their handshake at once, node-wide
        self.loop = loop  # where awaitables that functions return are awaited
        self.lookup: Lookup = lookup or _nobody  # a live actor by its registered name (ASK)
        self.spawn: Spawn = spawn or _no_spawn  # (peer, flags, body) -> the reply (SPAWN)
        self.peer_gone: Callable[[str], None] = peer_gone or _told  # its last connection ended
        self.watch: Watch = watch or _no_watch  # (ref, on_exit) -> cancel (SUPERVISE "watch")


class ServerConnection:
    """One accepted socket: its handshake's outcome, its reading role and its outbox.

    ``on_closed(reason)`` is told once when it ends; its owner (the acceptor) sets it."""

    def __init__(
        self, settings: ServerSettings, sock: socket.socket, peer: tuple[Any, ...]
    ) -> None:
        self.settings, self.sock, self.peer = settings, sock, peer
        self._io: socket.socket | TlsTransport = sock
        self.on_closed: Callable[[str], None] = _told
        self._reader = Reader(sock, _protocol.FrameDecoder())  # replaced once authenticated
        self._lock = threading.Lock()
        self._closed = False
        self._done = threading.Event()  # set once reading has ended, whoever read last
        self._authenticated = threading.Event()  # set once the peer has proved the cookie
        self._outbox = Outbox(f"{peer[0]}:{peer[1]}", settings.send_timeout, self._send_failed)
        self.peer_name = ""
        # calls read and not yet answered (with their process worker's ticket, if any), and
        # those of them whose caller has stopped waiting (CANCEL)
        self._open: dict[int, Ticket | LoopTask | Watching | None] = {}
        self._cancelled: set[int] = set()
        self.requests = 0
        self.replies = 0  # to calls, asks and spawns (heartbeats and sbcasts not counted)
        self.served = 0  # calls run to an outcome here, and of them ...
        self.failed = 0  # ... those whose outcome was an error
        self.last_activity = self.last_heard = time.monotonic()
        # the seconds of silence after which the peer's node is down, as its PINGs say (its
        # keepalive bound, which its heartbeat keeps); None: it said nothing of it
        self.peer_bound: float | None = None

    def describe(self) -> dict[str, Any]:
        """This connection's counters, as plain data (for ``genrpc stats``)."""
        return {
            "peer": f"{self.peer[0]}:{self.peer[1]}",
            "node": self.peer_name or None,
            "requests": self.requests,
            "receives": self._reader.receives,
            "sends": self._outbox.writes,
            "bytes_sent": self._outbox.bytes,
            "bytes_received": self._reader.bytes,
            "calls_served": self.served,
            "calls_failed": self.failed,
            "idle_s": round(time.monotonic() - self.last_activity, 3),
        }

    def traffic(self) -> tuple[int, int, int, int, int, int]:
        """Frames sent (replies) and received (requests), bytes sent and received (since
        authentication), calls served and of them failed."""
        return (
            self.replies,
            self.requests,
            self._outbox.bytes,
            self._reader.bytes,
            self.served,
            self.failed,
        )

    def __repr__(self) -> str:
        who = self.peer_name or "unauthenticated"
        return f"<ServerConnection {self.peer[0]}:{self.peer[1]} {who} requests={self.requests}>"

    def authenticated(self, stream: socket.socket | TlsTransport, peer_name: str) -> None:
        """The handshake is over (its loop says so): ``stream`` carries the frames now, over
        the socket, made blocking again."""
        self.sock.setblocking(True)
        if isinstance(stream, TlsTransport):
            stream.on_outgoing = self._outbox.flush_tls
        self._io, self.peer_name = stream, peer_name
        self._authenticated.set()
        logger.debug("event=authenticated peer=%s node=%s", self.peer, self.peer_name)

    def start(self) -> None:
        """Begin reading, in the worker pool (authenticated: see ``authenticated``)."""
        try:
            self.settings.workers.submit(self._begin)
        except NoThread:  # no thread runs, and none can start: say so to the peer's node
            self._finish("no_thread")
        except RuntimeError:  # the pool has stopped: the node is stopping
            self._finish("stopping")

    def end(self, reason: str) -> None:
        """End it now, for ``reason`` (before it reads: its handshake failed or timed out)."""
        self._finish(reason)

    def close(self) -> None:
        with self._lock:
            if self._closed:
                return
            self._closed = True
        self._outbox.close()
        _tcp.shutdown(self.sock)

    def heartbeat(self, now: float) -> None:
        """The node's heartbeat (about every second): a peer that has said nothing for a
        second past its bound (its PINGs say it) is frozen or cut off, and this connection is
        closed, as it would be by TCP keepalive for one cut off (what was linked to it, the
        actors it spawned here, stop)."""
        bound = self.peer_bound
        if bound is not None and now - self.last_heard >= bound + 1 and not self._closed:
            silent = now - self.last_heard
            logger.info("event=peer_silent node=%s seconds=%.1f", self.peer_name, silent)
            self.close()

    def wait_authenticated(self, timeout: float | None = None) -> bool:
        """Wait until the peer has authenticated; False if it did not within ``timeout``."""
        return self._authenticated.wait(timeout)

    def join(self, timeout: float | None = None) -> None:
        """Wait until reading has ended (requests still running finish in their workers)."""
        self._done.wait(timeout)

    # -- reading -------------------------------------------------------------------------------

    def _begin(self) -> None:
        """The first reading turn: what was sent before this is written, then reading starts."""
        try:
            tls = self._io if isinstance(self._io, TlsTransport) else None
            failure = self._outbox.attach(self.sock, tls)
            if failure is not None:
                raise _Closed(str(failure.reason))
            self._reader = Reader(self._io, _protocol.FrameDecoder(self.settings.max_frame))
        except Exception as exc:  # noqa: BLE001 - every end of a connection has a reason
            self._finish(closing_reason(exc, self.peer))
            return
        self._read_turn()

    def _read_turn(self) -> None:
        """Reading, in a worker: the requests read are run here in turn, their replies held and
        written together after the last, unless one runs long, in which case the rest and the
        reading go to other workers (``WorkerPool.run_each``)."""
        run_each = self.settings.workers.run_each
        while True:
            try:
                jobs = self._read()
            except Exception as exc:  # noqa: BLE001 - every end of a connection has a reason
                self._finish(closing_reason(exc, self.peer))
                return
            taken = run_each(jobs, functools.partial(self._hand_over, jobs))
            self._outbox.flush()  # the replies held (after the one that ran long, if taken)
            if taken:
                return

    def _hand_over(self, jobs: collections.deque[_Job], reading: bool = True) -> None:
        """A request runs long (called from the pool's watcher): the requests read with it go
        to other workers, in at most ``HAND_OVER_SPLIT`` groups, each run in turn by one of
        them and split again if one of its requests runs long (a thousand quick requests cost a
        few threads, not hundreds); and the reading too, unless ``reading`` is False."""
        submit = self.settings.workers.submit
        try:
            for group in _split(jobs, HAND_OVER_SPLIT):
                submit(self._run_jobs, group)
            if reading:
                submit(self._read_turn)
        except RuntimeError:  # the pool has stopped: the node is stopping (never NoThread:
            # this request's own thread is the pool's, and takes what none else can)
            self._finish("stopping")
        self._outbox.flush_later()  # the replies held for the requests handed over

    def _run_jobs(self, jobs: collections.deque[_Job]) -> None:
        """Requests handed over together, run in turn in this worker, each reply written as
        soon as it is there."""
        run_here = self.settings.workers.run_here
        while jobs:
            job, args = jobs.popleft()
            taken = run_here(job, args, functools.partial(self._hand_over, jobs, False))
            self._outbox.flush()
            if taken:
                return

    def _finish(self, reason: str) -> None:
        """Reading has ended: close, and tell the owner (once, whoever ends it)."""
        with self._lock:
            if self._done.is_set():
                return
            self._done.set()
        logger.debug("event=acceptor_closed peer=%s reason=%s", self.peer, reason)
        self.close()
        for entry in list(self._open.values()):
            if isinstance(entry, Watching):  # the watching node is gone for this connection
                entry.cancel()
        # told once; the owner (which holds this connection) is not held past that
        on_closed, self.on_closed = self.on_closed, _told
        on_closed(reason)

    def _read(self) -> collections.deque[_Job]:
        """Read until requests arrive; broadcasts are delivered on the way."""
        reader = self._reader
        inactivity = self.settings.inactivity
        poller = None
        if inactivity is not None:
            poller = select.poll()
            poller.register(self.sock, select.POLLIN)
        io = self._io
        jobs: collections.deque[_Job] = collections.deque()
        if not self._outbox.wait_for_room(REPLY_BACKLOG):  # a peer that does not read its
            raise _Closed("closed")  # replies gets no more of its requests read until it does
        while not jobs:
            buffered = isinstance(io, TlsTransport) and io.pending()
            if poller is not None and inactivity is not None and not buffered:
                idle = time.monotonic() - self.last_activity
                if not poller.poll(max(0.0, inactivity - idle) * 1000 + 1):
                    if time.monotonic() - self.last_activity >= inactivity:
                        raise _Closed("inactivity")
                    continue
            payloads = reader.receive()
            if payloads is None:
                raise _Closed("closed")
            active = False
            for payload in payloads:
                active = self._take(payload, jobs) or active
            self.last_heard = now = time.monotonic()
            if active:  # a PING alone is no activity (server_inactivity_timeout)
                self.last_activity = now
        return jobs

    def _take(self, payload: _protocol.Payload, jobs: collections.deque[_Job]) -> bool:
        """One received message: a request becomes a job, a broadcast is delivered now, a PING
        is answered now (False: it was only a PING)."""
        kind, flags, request_id, body = parse_message(payload)
        if kind == PING:
            if body:
                self.peer_bound = _bound(body)
            pong = message(PONG, 0, request_id, b"")
            self._outbox.put(pong, block=False, now=True)
            return False
        self.requests += 1
        processes = self.settings.processes
        if kind == CALL:
            if processes is not None and processes.takes(flags, body):
                done = functools.partial(self._send_reply, request_id)
                ticket = processes.ticket(flags, body, done)
                self._open[request_id] = ticket  # a CANCEL finds it there
                processes.submit(ticket)  # now: the line is in the order requests arrive
            else:
                self._open[request_id] = None
                jobs.append((self._call, (request_id, flags, body, True)))  # reply held
        elif kind == CANCEL:
            self._cancel(request_id)
        elif kind == ASK or kind == SUPERVISE:  # noqa: PLR1714, SIM109 - ints, fast
            self._ask(kind, request_id, flags, body)
        elif kind == CAST:
            if processes is not None and processes.takes(flags, body):
                processes.submit(processes.ticket(flags, body, None))
            else:
                jobs.append((self._cast, (flags, body)))
        elif kind in (ABCAST, SBCAST):
            self._broadcast(kind, request_id, flags, body)
        else:
            raise _Closed("invalid_message")
        return True

    def _ask(self, kind: int, request_id: int, flags: int, body: Any) -> None:
        """An ASK for a named actor (answered from its thread), a SPAWN (answered now), or a
        SUPERVISE."""
        if kind == SUPERVISE:
            self._supervise(request_id, flags, body)
            return
        self._open[request_id] = None
        if flags & SPAWN:
            self._reply_later(request_id, *self.settings.spawn(self.peer_name, flags, body))
        else:
            send = functools.partial(self._reply_later, request_id)
            ask_here(self.settings.control, self.settings.lookup, flags, body, send)

    def _supervise(self, request_id: int, flags: int, body: Any) -> None:
        """A SUPERVISE: answered now, or at an actor's death for a watch, filed until then (a
        CANCEL, or the connection's end, cancels it)."""
        watching = Watching()
        self._open[request_id] = watching
        settings = self.settings
        send = functools.partial(self._reply_later, request_id)
        supervise_here(
            settings.control, settings.lookup, settings.watch, flags, body, send, watching
        )
        if not watching.open:  # answered already, or nothing to answer (an exit, a signal)
            self._open.pop(request_id, None)

    # -- workers ------------------------------------------------------------------------------

    def _call(self, request_id: int, flags: int, body: Any, hold: bool = False) -> None:
        """Run a CALL and send its reply (``hold``: queue it for a later write)."""
        if request_id in self._cancelled:  # its caller stopped waiting before it started
            self._answered(request_id)
            return
        awaiting = functools.partial(self._await, request_id)
        kind, out_flags, out = run_request(self.settings.control, flags, body, awaiting=awaiting)
        if kind == AWAITED_KIND:
            return  # its reply comes from the event loop
        self._count(kind)
        if not self._answered(request_id):
            return  # nobody waits for this reply any more
        frame = message_parts(kind, out_flags, request_id, out)
        if hold:
            self._outbox.hold(frame)
        else:
            self.send(frame)

    def _count(self, kind: int) -> None:
        """A call served here has its outcome (an ``ERROR`` counts as failed too)."""
        self.served += 1
        if kind == ERROR:
            self.failed += 1

    def _send_reply(self, request_id: int, kind: int, flags: int, out: Body) -> None:
        """A process worker's outcome, from its reading thread."""
        self._count(kind)
        if self._answered(request_id):
            self.send(message_parts(kind, flags, request_id, out))

    def _await(self, request_id: int | None, awaitable: Awaitable[Any], finish: Finish) -> None:
        """A function returned an awaitable: await it on the node's event loop; its reply (a
        CALL's, ``request_id`` not ``None``) is queued from there, never blocking the loop."""
        loop = self.settings.loop
        handle = loop.task() if loop is not None else None
        if handle is None:  # the node stops
            close_awaitable(awaitable)
            if request_id is not None and self._answered(request_id):
                out = error_body(("not_running", "event_loop"))
                self._outbox.put(message(ERROR, 0, request_id, out), block=False)
            return
        if request_id is not None:
            self._open[request_id] = handle  # a CANCEL finds it there
            if request_id in self._cancelled:  # it came before the handle was filed
                handle.cancel()
        assert loop is not None
        loop.start(handle, awaitable, functools.partial(self._awaited, request_id, finish))

    def _awaited(self, request_id: int | None, finish: Finish, ok: bool, value: Any) -> None:
        kind, flags, out = finish(ok, value)
        if request_id is None:
            if kind == ERROR:
                logger.debug("event=cast_failed peer=%s error=%r", self.peer_name, value)
        else:
            self._count(kind)
            self._reply_later(request_id, kind, flags, out)

    def _reply_later(self, request_id: int, kind: int, flags: int, out: Body) -> None:
        """A reply from a thread that must not block (the event loop's, an actor's)."""
        if self._answered(request_id):
            frame = message_parts(kind, flags, request_id, out)
            self._outbox.put(frame, block=False, now=True)

    def _answered(self, request_id: int) -> bool:
        """The call is over: True if its caller still waits for the reply."""
        self._open.pop(request_id, None)
        if request_id in self._cancelled:
            self._cancelled.discard(request_id)
            return False
        self.replies += 1
        return True

    def _cancel(self, request_id: int) -> None:
        """CANCEL: the caller stopped waiting. Not started: dropped; in a process worker: the
        worker is killed; in a thread: it runs on, and its reply is not sent."""
        if request_id not in self._open:
            return  # answered already (the reply crossed the cancel), or never ours
        self._cancelled.add(request_id)
        ticket = self._open.get(request_id)
        if ticket is not None:
            ticket.cancel()

    def _cast(self, flags: int, body: Any) -> None:
        awaiting = functools.partial(self._await, None)
        control = self.settings.control
        kind, _, out = run_request(control, flags, body, reply=False, awaiting=awaiting)
        if kind == ERROR and logger.isEnabledFor(logging.DEBUG):
            reason, _, trace, *_ = decode_body(out, 0)
            logger.debug("event=cast_failed peer=%s reason=%r\n%s", self.peer_name, reason, trace)

    def _broadcast(self, kind: int, request_id: int, flags: int, body: Any) -> None:
        delivered = False
        control = self.settings.control
        if control.allows("pykka") and not (flags & DILL and control.enabled):
            try:
                name, msg = decode_body(
                    body, flags, control.unpickling, max_nesting=control.max_nesting
                )
                delivered = self.settings.deliver(name, msg)
            except Exception:  # noqa: BLE001 - a bad broadcast drops, the connection lives on
                delivered = False
        if kind == SBCAST:
            encoded, out_flags = encode_body(delivered)
            self.send(message(SBCAST_REPLY, out_flags, request_id, encoded))

    def send(self, data: Frame) -> None:
        """Write one reply (from a worker); a failure closes this connection only."""
        self._outbox.put(data, block=True)

    def _send_failed(self, error: RpcError) -> None:
        logger.info("event=reply_failed peer=%s reason=%s", self.peer, error.reason)
        self.close()


def _nobody(_name: str) -> None:
    return None


Spawn = Callable[[str, int, Any], tuple[int, int, Body]]


def _no_spawn(_peer: str, _flags: int, _body: Any) -> tuple[int, int, Body]:
    return ERROR, 0, error_body("unauthorized")


HAND_OVER_SPLIT = 4  # groups the requests read with one that runs long are handed over in


def _split(jobs: collections.deque[_Job], parts: int) -> list[collections.deque[_Job]]:
    """``jobs`` (emptied) in at most ``parts`` groups of consecutive jobs, in order."""
    count = len(jobs)
    size = -(-count // parts) if count else 0
    groups = []
    while jobs:
        group: collections.deque[_Job] = collections.deque()
        while jobs and len(group) < size:
            group.append(jobs.popleft())
        groups.append(group)
    return groups


def closing_reason(exc: Exception, peer: object) -> str:
    """Why a connection ends, in a word, for ``exc`` (an unexpected one is logged)."""
    if isinstance(exc, _protocol.HandshakeError):
        return exc.reason
    if isinstance(exc, _protocol.FrameTooLarge):
        return "frame_too_large"
    if isinstance(exc, ValueError):
        return "invalid_message"
    if isinstance(exc, RpcError):  # from the transport: a socket or TLS error
        found = exc.reason
        return found if isinstance(found, str) else ":".join(map(str, found))
    if isinstance(exc, _Closed):
        return str(exc)
    logger.error("event=acceptor_failed peer=%s", peer, exc_info=exc)
    return "internal_error"


def _no_watch(_ref: Any, _on_exit: Callable[[Any], None]) -> Callable[[], None]:
    raise TypeError("this node watches no actor for others")


def _told(_reason: str) -> None:
    pass


class _Closed(Exception):  # noqa: N818 - a reason to close, carried to the reader's exit
    pass


def _bound(body: memoryview) -> float | None:
    """The seconds a PING's body names (None if it names none: a peer's PING is no reason to
    close its connection)."""
    try:
        bound = float(bytes(body[:32]))
    except ValueError:
        return None
    return bound if math.isfinite(bound) and bound > 0 else None

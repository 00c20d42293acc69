"""Connections that have not authenticated yet: one thread per listener serves all of them.

Theory of operation. A listener's thread runs a ``selectors`` loop over its listening socket
and every connection it accepted that is still in its handshake (TLS first, for the ``ssl``
driver). Each such connection is a non-blocking socket and an ``AcceptedHandshake`` (the
sans-IO machines' driver): when the socket is readable the loop lets it take what arrived and
send what that completes; when the bytes to send do not all fit, the socket is watched for
writing too. Nothing is unpickled here, frames are at most ``PREAUTH_MAX`` bytes, and nothing
waits: a silent or trickling peer costs a socket and a few hundred bytes, not a thread.

- Deadlines: every connection gets ``authentication_timeout`` from its accept for the whole
  of it (TLS included). They are kept in a heap; the loop sleeps until the first one and
  closes whoever is past theirs.
- Admission: at most ``max_pending_handshakes`` connections of the node (both listeners) are
  in their handshake at once (``HandshakeGate``). Past that, a new connection is closed at
  once, and the burst of refusals is logged once, so a flood leaves the node's threads and
  memory where they were.
- Hand-over: once authenticated and its last frame sent, a connection leaves the loop: its
  socket is made blocking again and ``authenticated(connection)`` is called, which gives it
  what every authenticated connection has (its acceptor actor, its reading role in the pool).
"""

from __future__ import annotations

import collections
import contextlib
import errno
import heapq
import itertools
import logging
import os
import selectors
import socket
import ssl
import threading
import time
from collections.abc import Callable
from typing import Any

from genrpc_actors import _protocol
from genrpc_actors._server._connection import ServerConnection, ServerSettings, closing_reason
from genrpc_actors._transport import _tcp
from genrpc_actors._transport._handshake_driver import AcceptedHandshake

__all__ = ["HandshakeGate", "HandshakeLoop"]

logger = logging.getLogger("genrpc_actors")
ACCEPT_BATCH = 64  # connections accepted in a row before the others' bytes are looked at
ACCEPT_PAUSE = 0.05  # seconds without accepting after the process ran out of descriptors
_TRANSIENT_ACCEPT_ERRORS = frozenset(
    {errno.EMFILE, errno.ENFILE, errno.ENOBUFS, errno.ENOMEM, errno.ECONNABORTED, errno.EPROTO}
)
_ACCEPT, _WAKE = "accept", "wake"  # the selector keys' data that are not a connection


class HandshakeGate:
    """How many connections of a node may be in their handshake at once (``limit``); past it
    ``enter`` refuses, and each burst of refusals is logged once (a burst ends when the
    handshakes in progress have fallen to half the limit)."""

    __slots__ = ("_burst", "_lock", "limit", "name", "pending", "refused")

    def __init__(self, name: str, limit: int) -> None:
        self.name, self.limit = name, limit
        self.pending = 0  # connections in their handshake now
        self.refused = 0  # connections closed at once since the node started
        self._burst = False
        self._lock = threading.Lock()

    def __repr__(self) -> str:
        return f"<HandshakeGate {self.name} pending={self.pending}/{self.limit}>"

    def enter(self) -> bool:
        """One more handshake may begin (True), or the limit is reached (False)."""
        with self._lock:
            if self.pending < self.limit:
                self.pending += 1
                return True
            self.refused += 1
            first, self._burst = not self._burst, True
        if first:
            logger.warning(
                "event=handshake_refused reason=max_pending_handshakes node=%s limit=%d",
                self.name,
                self.limit,
            )
        return False

    def leave(self) -> None:
        """A handshake has ended, whichever way."""
        with self._lock:
            self.pending -= 1
            if self.pending <= self.limit // 2:
                self._burst = False


class _Pending:
    """One connection in its handshake, as the loop keeps it."""

    __slots__ = ("connection", "deadline", "handshake", "number", "writing")

    def __init__(
        self,
        number: int,
        connection: ServerConnection,
        handshake: AcceptedHandshake[_protocol.ServerHandshake],
        deadline: float,
    ) -> None:
        self.number, self.connection, self.handshake = number, connection, handshake
        self.deadline = deadline
        self.writing = False  # the selector watches the socket for writing too


class HandshakeLoop:
    """The thread that accepts a listener's connections and runs their handshakes (see the
    module docstring). Without a ``listener`` it only serves connections given to ``add``."""

    def __init__(
        self,
        settings: ServerSettings,
        gate: HandshakeGate,
        connections: set[ServerConnection],
        authenticated: Callable[[ServerConnection], None],
        *,
        listener: socket.socket | None = None,
        tls: ssl.SSLContext | None = None,
        failed: Callable[[BaseException], None] | None = None,
        name: str = "genrpc-handshakes",
        clock: Callable[[], float] = time.monotonic,
    ) -> None:
        self.settings, self._gate, self._connections = settings, gate, connections
        self._authenticated, self._failed = authenticated, failed
        self._listener, self._tls, self._clock = listener, tls, clock
        self._selector = selectors.DefaultSelector()
        self._waker, self._wakeup = socket.socketpair()
        self._waker.setblocking(False)
        self._wakeup.setblocking(False)
        self._selector.register(self._wakeup, selectors.EVENT_READ, _WAKE)
        if listener is not None:
            listener.setblocking(False)
            self._selector.register(listener, selectors.EVENT_READ, _ACCEPT)
        self._pending: dict[int, _Pending] = {}
        self._deadlines: list[tuple[float, int]] = []  # (deadline, number): a heap
        self._numbers = itertools.count()
        self._added: collections.deque[ServerConnection] = collections.deque()
        self._paused_until: float | None = None  # accepting paused (out of descriptors)
        self._stopping = False
        self._thread = threading.Thread(target=self._run, name=name, daemon=True)

    def __repr__(self) -> str:
        return f"<HandshakeLoop {self._thread.name} pending={len(self._pending)}>"

    @property
    def pending(self) -> int:
        """Connections of this loop in their handshake now."""
        return len(self._pending)

    def start(self) -> None:
        self._thread.start()

    def stop(self) -> None:
        """End the loop and every handshake in progress (from any other thread)."""
        self._stopping = True
        self._wake()
        if self._thread.is_alive():
            self._thread.join()
        self._close()

    def add(self, connection: ServerConnection) -> None:
        """Run the handshake of ``connection``, accepted elsewhere (from any thread)."""
        self._added.append(connection)
        self._wake()

    def _wake(self) -> None:
        # full (the loop has been woken already) or closed (it has ended): either will do
        with contextlib.suppress(OSError):
            self._waker.send(b"\0")

    # -- the loop ----------------------------------------------------------------------------

    def _run(self) -> None:
        try:
            while not self._stopping:
                for key, events in self._selector.select(self._timeout()):
                    if key.data is _ACCEPT:
                        self._accept()
                    elif key.data is _WAKE:
                        self._woken()
                    else:
                        self._step(key.data, events)
                self._expire()
        except Exception as exc:
            if not self._stopping:
                logger.exception("event=accept_failed node=%s", self.settings.name)
                if self._failed is not None:
                    self._failed(exc)
        finally:
            self._close()

    def _timeout(self) -> float | None:
        """Until the first deadline, or the end of a pause in accepting."""
        first = self._deadlines[0][0] if self._deadlines else None
        if self._paused_until is not None:
            first = self._paused_until if first is None else min(first, self._paused_until)
        return None if first is None else max(0.0, first - self._clock())

    def _woken(self) -> None:
        with contextlib.suppress(BlockingIOError, InterruptedError):
            while self._wakeup.recv(4096):
                pass
        while self._added:
            connection = self._added.popleft()
            if self._gate.enter():
                self._begin(connection)
            else:
                connection.end("max_pending_handshakes")

    def _accept(self) -> None:
        assert self._listener is not None
        for _ in range(ACCEPT_BATCH):
            try:
                sock, peer = self._listener.accept()
            except (BlockingIOError, InterruptedError):
                return
            except OSError as exc:
                if exc.errno not in _TRANSIENT_ACCEPT_ERRORS:
                    raise
                # out of descriptors or buffers, or a peer gone before accept: wait and go on
                # (a restart would fail the same way and exhaust the supervisor's intensity)
                logger.warning("event=accept_paused node=%s reason=%r", self.settings.name, exc)
                self._selector.unregister(self._listener)
                self._paused_until = self._clock() + ACCEPT_PAUSE
                return
            self._admit(sock, peer)

    def _admit(self, sock: socket.socket, peer: Any) -> None:
        if self._gate.enter():
            self._begin(ServerConnection(self.settings, sock, peer))
        else:
            _tcp.shutdown(sock)

    def _begin(self, connection: ServerConnection) -> None:
        """A connection the gate let in: its handshake begins (its socket made non-blocking)."""
        sock = connection.sock
        try:
            _tcp.configure(sock, self.settings.keepalive)
            sock.setblocking(False)
            handshake = AcceptedHandshake(sock, self._tls, self._machine)
        except Exception as exc:  # noqa: BLE001 - one connection refused, the loop goes on
            self._gate.leave()
            connection.end(closing_reason(exc, connection.peer))
            return
        pending = _Pending(
            next(self._numbers),
            connection,
            handshake,
            self._clock() + self.settings.auth_timeout,
        )
        self._pending[pending.number] = pending
        heapq.heappush(self._deadlines, (pending.deadline, pending.number))
        self._connections.add(connection)
        self._selector.register(sock, selectors.EVENT_READ, pending)

    def _machine(self, certified: set[str] | None) -> _protocol.ServerHandshake:
        settings = self.settings
        return _protocol.ServerHandshake(settings.cookie, settings.name, os.urandom(32), certified)

    def _step(self, pending: _Pending, events: int) -> None:
        """The socket is ready: let the handshake move on; hand it over once it is done."""
        handshake = pending.handshake
        try:
            if events & selectors.EVENT_READ:
                handshake.received()
            if events & selectors.EVENT_WRITE:
                handshake.send_pending()
        except Exception as exc:  # noqa: BLE001 - every end of a connection has a reason
            self._end(pending, closing_reason(exc, pending.connection.peer))
            return
        if handshake.finished:
            self._hand_over(pending)
        elif handshake.wants_write != pending.writing:
            pending.writing = handshake.wants_write
            watch = selectors.EVENT_READ | (selectors.EVENT_WRITE if pending.writing else 0)
            self._selector.modify(pending.connection.sock, watch, pending)

    def _expire(self) -> None:
        now, deadlines = self._clock(), self._deadlines
        while deadlines and deadlines[0][0] <= now:
            _, number = heapq.heappop(deadlines)
            pending = self._pending.get(number)
            if pending is not None:
                self._end(pending, "authentication_timeout")
        if len(deadlines) > 2 * len(self._pending) + 64:  # the handshakes that ended early
            self._deadlines = [entry for entry in deadlines if entry[1] in self._pending]
            heapq.heapify(self._deadlines)
        if self._paused_until is not None and self._paused_until <= now:
            self._paused_until = None
            assert self._listener is not None
            self._selector.register(self._listener, selectors.EVENT_READ, _ACCEPT)

    def _forget(self, pending: _Pending) -> None:
        """It leaves the loop (its deadline stays in the heap until it is popped or pruned)."""
        del self._pending[pending.number]
        self._gate.leave()
        self._selector.unregister(pending.connection.sock)

    def _end(self, pending: _Pending, reason: str) -> None:
        self._forget(pending)
        pending.connection.end(reason)
        self._connections.discard(pending.connection)

    def _hand_over(self, pending: _Pending) -> None:
        self._forget(pending)
        connection, handshake = pending.connection, pending.handshake
        assert handshake.machine is not None
        connection.authenticated(handshake.stream, handshake.machine.peer_name)
        try:
            self._authenticated(connection)
        except Exception as exc:  # noqa: BLE001 - one connection refused, the loop goes on
            logger.warning("event=acceptor_not_started peer=%s reason=%r", connection.peer, exc)
            connection.end("not_started")
            self._connections.discard(connection)

    def _close(self) -> None:
        """The loop has ended: every handshake in progress ends with it (idempotent). What
        points back to the owner goes, or it would be a cycle for the collector to free."""
        self._failed = None
        for pending in list(self._pending.values()):
            self._end(pending, "stopping")
        while self._added:
            self._added.popleft().end("stopping")
        self._deadlines.clear()
        self._selector.close()
        self._waker.close()
        self._wakeup.close()

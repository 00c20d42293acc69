"""The client end of one connection (one per ``(node, key)``): callers send on it directly.

A caller encodes its request and writes it to the socket under the connection's send lock, with
no actor in between; the reader thread routes each reply to its caller's ``Reply``. So one call
costs two thread hand-offs: the acceptor's reader to a worker on the remote node, and this reader
back to the caller. Requests made while connecting wait in a backlog, so ``cast`` and
``async_call`` never block on a connect.

The reader thread connects, authenticates, then reads until the socket closes; however it ends,
every pending caller gets the error at once and the owner is told (the ``Client`` actor, which
then stops: the connection and the actor live and die together).
"""

from __future__ import annotations

import itertools
import logging
import os
import select
import socket
import ssl
import threading
import time
from collections.abc import Callable
from typing import Any

from genrpc_actors import _tcp, _wire
from genrpc_actors._errors import BadRpc, BadTcp, RpcError, reason_of_oserror
from genrpc_actors._outbox import Outbox
from genrpc_actors._reply import Reply
from genrpc_actors._tls import TlsTransport

__all__ = ["Connection", "Endpoint"]

logger = logging.getLogger("genrpc_actors")
RECV_SIZE = 256 * 1024


class Endpoint:
    """Where and how to reach a node: host, port, and the settings of the connection."""

    __slots__ = (
        "cookie",
        "host",
        "keepalive",
        "local_name",
        "max_frame",
        "port",
        "target",
        "timeouts",
        "tls",
    )

    def __init__(
        self,
        *,
        target: str,
        host: str,
        port: int,
        local_name: str,
        cookie: bytes,
        connect_timeout: float,
        auth_timeout: float,
        send_timeout: float,
        inactivity: float | None,
        keepalive: tuple[int, int, int],
        max_frame: int,
        tls: ssl.SSLContext | None = None,
    ) -> None:
        self.target, self.host, self.port, self.tls = target, host, port, tls
        self.local_name, self.cookie = local_name, cookie
        self.timeouts = (connect_timeout, auth_timeout, send_timeout, inactivity)
        self.keepalive, self.max_frame = keepalive, max_frame


class Connection:
    """Pending requests, a send lock, and the reader thread of one outgoing connection."""

    def __init__(self, endpoint: Endpoint) -> None:
        self.endpoint = endpoint
        self.on_closed: Callable[[Connection, RpcError], None] | None = None  # set by the owner
        self._lock = threading.Lock()  # guards error, _pending swaps and _sock
        self._pending: dict[int, Reply] = {}
        self._ids = itertools.count(1)
        self._sock: socket.socket | None = None  # from the moment it is connected
        self._outbox = Outbox(endpoint.target, endpoint.timeouts[2], self.close)
        self.error: RpcError | None = None
        self.created = self.last_activity = time.monotonic()
        self.sent = self.received = 0  # frames
        self.bytes_received = 0
        self._thread = threading.Thread(
            target=self._run, name=f"genrpc-client-{endpoint.target}", daemon=True
        )

    def __repr__(self) -> str:
        state = "closed" if self.error else ("connected" if self._sock else "connecting")
        return f"<Connection {self.endpoint.target} {state} pending={len(self._pending)}>"

    def start(self) -> None:
        self._thread.start()

    @property
    def closed(self) -> bool:
        return self.error is not None

    @property
    def pending(self) -> int:
        return len(self._pending)

    def describe(self) -> dict[str, Any]:
        """This connection's counters, as plain data (for ``genrpc stats``)."""
        now = time.monotonic()
        return {
            "state": "closed" if self.error else ("connected" if self._sock else "connecting"),
            "pending_calls": len(self._pending),
            "frames_sent": self.sent,
            "frames_received": self.received,
            "bytes_sent": self._outbox.bytes,
            "bytes_received": self.bytes_received,
            "queued_bytes": self._outbox.queued,
            "age_s": round(now - self.created, 3),
            "idle_s": round(now - self.last_activity, 3),
        }

    # -- callers -------------------------------------------------------------------------------

    def request(
        self, kind: int, flags: int, body: bytes, send_timeout: float | None, *, reply: bool
    ) -> tuple[int, Reply | None]:
        """Send one request; with ``reply=True`` its ``Reply`` will receive the answer."""
        request_id = next(self._ids)
        data = _wire.message(kind, flags, request_id, body)
        self.sent += 1
        if not reply:
            if self.error is None:
                self._outbox.put(data, block=False)
            return request_id, None
        slot = Reply()
        error = self.error
        if error is None:
            self._pending[request_id] = slot
            error = self.error  # close() may have swapped _pending away meanwhile
        if error is not None:
            slot.set_error(error)
            return request_id, slot
        self._outbox.put(data, block=True, send_timeout=send_timeout)
        return request_id, slot

    def forget(self, request_id: int) -> None:
        """The caller gave up (timeout): a late reply will be dropped."""
        self._pending.pop(request_id, None)

    def close(self, error: RpcError) -> None:
        """Fail every pending request with ``error`` and close the socket (idempotent)."""
        with self._lock:
            if self.error is not None:
                return
            self.error = error
            pending, self._pending = self._pending, {}
            sock = self._sock
        self._outbox.close()
        for slot in pending.values():
            slot.set_error(error)
        if sock is not None:
            _tcp.shutdown(sock)

    def join(self, timeout: float | None = None) -> None:
        if self._thread.is_alive() and self._thread is not threading.current_thread():
            self._thread.join(timeout)
        self._outbox.join(timeout)

    # -- the reader thread -----------------------------------------------------------------------

    def _run(self) -> None:
        error: RpcError = BadTcp("closed")
        try:
            sock, io = self._connect()
            decoder = _wire.FrameDecoder(self.endpoint.max_frame)
            tls = io if isinstance(io, TlsTransport) else None
            if tls is not None:
                tls.on_outgoing = self._outbox.flush_tls
            failure = self._outbox.attach(sock, tls)
            if failure is not None:
                raise failure
            self._read(sock, io, decoder)
        except RpcError as exc:
            error = exc
        except _wire.FrameTooLarge as exc:
            error = BadTcp("frame_too_large", str(exc))
        except ValueError:  # a message shorter than its header: the peer broke the protocol
            error = BadTcp("invalid_message")
        except OSError as exc:
            error = BadTcp(reason_of_oserror(exc))
        except Exception as exc:
            logger.exception("event=client_reader_failed target=%s", self.endpoint.target)
            error = BadTcp(("internal_error", repr(exc)))
        finally:
            self.close(error)
            if self.on_closed is not None:
                self.on_closed(self, error)

    def _connect(self) -> tuple[socket.socket, socket.socket | TlsTransport]:
        endpoint = self.endpoint
        connect_timeout, auth_timeout, _, _ = endpoint.timeouts
        try:
            sock = _tcp.connect(endpoint.host, endpoint.port, connect_timeout, endpoint.keepalive)
        except OSError as exc:
            raise BadRpc(reason_of_oserror(exc)) from None
        with self._lock:  # from now on close() can end a handshake that hangs
            if self.error is not None:
                _tcp.shutdown(sock)
                raise self.error
            self._sock = sock
        io: socket.socket | TlsTransport = sock
        try:
            if endpoint.tls is not None:
                transport = TlsTransport(sock, endpoint.tls, server=False)
                try:
                    transport.handshake(auth_timeout)
                except OSError as exc:
                    raise BadTcp(reason_of_oserror(exc)) from None
                if endpoint.target not in transport.peer_names():
                    raise BadRpc("node_certificate_mismatch")
                io = transport
            self._authenticate(io, auth_timeout)
        except BaseException:
            _tcp.shutdown(sock)
            raise
        logger.debug("event=connected target=%s port=%d", endpoint.target, endpoint.port)
        return sock, io

    def _authenticate(self, sock: socket.socket | TlsTransport, timeout: float) -> None:
        endpoint = self.endpoint
        handshake = _wire.ClientHandshake(
            endpoint.cookie, endpoint.local_name, endpoint.target, os.urandom(32)
        )
        decoder = _wire.FrameDecoder()
        deadline = time.monotonic() + timeout
        try:
            sock.settimeout(timeout)
            sock.sendall(handshake.start())
            while not handshake.done:
                remaining = deadline - time.monotonic()
                if remaining <= 0:
                    raise BadTcp("timeout")
                sock.settimeout(remaining)
                data = sock.recv(_wire.PREAUTH_MAX)
                if not data:
                    raise BadTcp("closed")
                for payload in decoder.feed(data):
                    out = handshake.receive(payload)
                    if out:
                        sock.sendall(out)
            if decoder.buffered:
                raise BadRpc("invalid_message")
            sock.settimeout(None)
        except _wire.HandshakeError as exc:
            raise BadRpc(exc.reason) from None
        except _wire.FrameTooLarge:
            raise BadRpc("invalid_message") from None
        except OSError as exc:
            raise BadTcp(reason_of_oserror(exc)) from None

    def _read(
        self, sock: socket.socket, io: socket.socket | TlsTransport, decoder: _wire.FrameDecoder
    ) -> None:
        inactivity = self.endpoint.timeouts[3]
        poller = None
        if inactivity is not None:
            poller = select.poll()
            poller.register(sock, select.POLLIN)
        pending = self._pending
        while True:
            buffered = isinstance(io, TlsTransport) and io.pending()
            if poller is not None and inactivity is not None and not buffered:
                idle = time.monotonic() - self.last_activity
                if not poller.poll(max(0.0, inactivity - idle) * 1000 + 1):
                    if not pending and time.monotonic() - self.last_activity >= inactivity:
                        raise BadTcp("inactivity")
                    continue
            data = io.recv(RECV_SIZE)
            if not data:
                raise BadTcp("closed")
            self.last_activity = time.monotonic()
            self.bytes_received += len(data)
            for payload in decoder.feed(data):
                kind, flags, request_id, body = _wire.parse_message(payload)
                self.received += 1
                slot = pending.pop(request_id, None)
                if slot is not None:
                    slot.set_raw(kind, flags, body)

"""The sending half of a connection: frames out in order, and a ``cast`` that never blocks.

A caller that can write does so itself, in its own thread: no hand-off on the hot path. Frames
that cannot go out at once (the connection is still being made, or the peer reads slowly, or
another thread holds the socket) wait here, and a writer thread, started the first time it is
needed, sends them. Theory of operation:

- ``_out`` holds bytes accepted for the wire but not yet written (ciphertext under TLS). Every
  write first empties it, so frames stay whole and in order.
- A ``call`` takes the send lock, waiting if it must, and writes with ``send_timeout`` as one
  deadline for the whole frame (the kernel's ``SO_SNDTIMEO`` restarts with every partial write,
  so the remaining time is set again after each one).
- A ``cast`` never waits: if the lock is taken it appends its frame to ``_casts`` and wakes the
  writer; if not, it writes what the socket takes without blocking and leaves the rest to the
  writer. Before writing its own frame, every writer moves ``_casts`` into ``_out``, so a call
  never overtakes a cast made before it by the same thread.
"""

from __future__ import annotations

import collections
import socket
import threading
import time
from collections.abc import Callable

from genrpc_actors import _tcp
from genrpc_actors._errors import BadTcp, RpcError, reason_of_oserror
from genrpc_actors._tls import TlsTransport

__all__ = ["Outbox"]


class Outbox:
    """Ordered, deadline-bounded sending for one connection; see the module docstring."""

    def __init__(
        self, name: str, send_timeout: float, on_failure: Callable[[RpcError], None]
    ) -> None:
        self.lock = threading.Lock()
        self._name = name
        self._send_timeout = send_timeout
        self._on_failure = on_failure
        self._sock: socket.socket | None = None
        self._tls: TlsTransport | None = None
        self._out = bytearray()
        self._casts: collections.deque[bytes] = collections.deque()
        self._early: list[bytes] = []  # frames put before the connection was made
        self._kernel_timeout: float | None = None  # what SO_SNDTIMEO is set to now
        self._writer: threading.Thread | None = None
        self._writer_lock = threading.Lock()
        self._wake = threading.Event()
        self._closed = False
        self.writes = 0  # send system calls made
        self.bytes = 0

    @property
    def queued(self) -> int:
        """Bytes and frames waiting for the writer (a slow peer makes this grow)."""
        return len(self._out) + sum(len(frame) for frame in self._casts)

    # -- the connection's side -----------------------------------------------------------------

    def attach(self, sock: socket.socket, tls: TlsTransport | None) -> RpcError | None:
        """The connection is made: send what waited for it (in the caller's thread)."""
        with self.lock:
            if self._closed:
                return None
            self._sock, self._tls = sock, tls
            for frame in self._early:
                self._out += self._encode(frame)
            self._early.clear()
            self._absorb_casts()
            return self._flush(self._send_timeout)

    def close(self) -> None:
        """No more sending; the writer thread ends."""
        self._closed = True
        self._wake.set()
        with self.lock:
            self._early.clear()
            self._casts.clear()
            self._out.clear()

    def join(self, timeout: float | None = None) -> None:
        writer = self._writer
        if writer is not None and writer is not threading.current_thread():
            writer.join(timeout)

    def flush_tls(self) -> None:
        """Send what TLS itself has to say (e.g. a key update), in order with the frames."""
        with self.lock:
            if self._tls is not None and not self._closed:
                self._out += self._tls.drain()
                failure = self._flush(self._send_timeout)
            else:
                failure = None
        if failure is not None:
            self._on_failure(failure)

    # -- callers ---------------------------------------------------------------------------------

    def put(self, frame: bytes, *, block: bool, send_timeout: float | None = None) -> None:
        """Send ``frame``: a call waits for the socket (``block=True``), a cast never does.
        A failure ends the connection through ``on_failure``."""
        if not block and not self.lock.acquire(blocking=False):
            self._casts.append(frame)
            self._kick()
            return
        if block:
            self.lock.acquire()
        try:
            if self._closed:
                return
            if self._sock is None:
                self._early.append(frame)
                return
            self._absorb_casts()
            wire = self._encode(frame)
            if block:
                timeout = self._send_timeout if send_timeout is None else send_timeout
                failure = self._flush(timeout, wire)
            else:
                failure = self._flush_now(wire)
                if self._out:
                    self._kick()
        finally:
            self.lock.release()
        if failure is not None:
            self._on_failure(failure)

    # -- sending (the lock is held) -------------------------------------------------------------

    def _encode(self, frame: bytes) -> bytes:
        return frame if self._tls is None else self._tls.encrypt(frame)

    def _absorb_casts(self) -> None:
        casts = self._casts
        while casts:
            self._out += self._encode(casts.popleft())

    def _flush(self, timeout: float, wire: bytes = b"") -> RpcError | None:
        """Write ``_out`` then ``wire`` within ``timeout`` seconds, or fail the connection.
        ``wire`` is sent from where it lies (no copy) unless something waits before it."""
        sock = self._sock
        if sock is None:
            return None
        if self._out:
            self._out += wire
            data: bytes | bytearray = self._out
        else:
            data = wire
        if not data:
            return None
        view = memoryview(data)
        deadline = time.monotonic() + timeout
        written = 0
        try:
            while written < len(view):
                remaining = timeout if not written else deadline - time.monotonic()
                if remaining <= 0:
                    return BadTcp("send_timeout")
                if remaining != self._kernel_timeout:
                    _tcp.set_send_timeout(sock, remaining)
                    self._kernel_timeout = remaining
                written += sock.send(view[written:])
        except BlockingIOError:
            return BadTcp("send_timeout")
        except OSError as exc:
            reason = reason_of_oserror(exc)
            return BadTcp("send_timeout" if reason == "timeout" else reason)
        finally:
            view.release()
            self._sent(data, written)
        return None

    def _flush_now(self, wire: bytes) -> RpcError | None:
        """Write what the socket takes without blocking; keep the rest in ``_out``."""
        sock = self._sock
        if sock is None:
            return None
        if self._out:
            self._out += wire
            data: bytes | bytearray = self._out
        else:
            data = wire
        written = 0
        try:
            written = sock.send(data, socket.MSG_DONTWAIT)
        except BlockingIOError:
            pass
        except OSError as exc:
            return BadTcp(reason_of_oserror(exc))
        self._sent(data, written)
        return None

    def _sent(self, data: bytes | bytearray, written: int) -> None:
        """Account for ``written`` bytes of ``data``; what is left waits in ``_out``."""
        self.bytes += written
        self.writes += 1
        if data is self._out:
            del self._out[:written]
        elif written < len(data):
            self._out += memoryview(data)[written:]

    # -- the writer thread -----------------------------------------------------------------------

    def _kick(self) -> None:
        if self._writer is None:
            with self._writer_lock:
                if self._writer is None and not self._closed:
                    self._writer = threading.Thread(
                        target=self._write_loop, name=f"genrpc-writer-{self._name}", daemon=True
                    )
                    self._writer.start()
        self._wake.set()

    def _write_loop(self) -> None:
        while True:
            self._wake.wait()
            self._wake.clear()
            with self.lock:
                if self._closed:
                    return
                if self._sock is None:
                    continue  # attach() sends everything once connected
                self._absorb_casts()
                failure = self._flush(self._send_timeout)
            if failure is not None:
                self._on_failure(failure)
                return

"""The sending half of a connection: frames out in order, written together, never waited for.

A thread that has something to send writes it itself: no hand-off on the hot path. Theory of
operation:

- Every frame is appended to ``_queue``; then the sender tries the send lock without waiting.
  Whoever holds the lock moves everything queued into ``_chunks`` (encrypting it under TLS, so
  TLS records keep the frames' order) and writes all of it in one ``sendmsg``, then lets the lock
  go and looks at the queue once more: a frame queued while it wrote is written by it too (or by
  whoever took the lock since). So concurrent senders never wait for each other, their frames
  leave in batches, and no frame is left behind.
- A ``call`` writes with ``send_timeout`` as one deadline for everything it writes (the kernel's
  ``SO_SNDTIMEO`` restarts with every partial write, so the remaining time is set again after
  each one); a frame queued behind a write in progress goes out within that write's deadline.
- A ``cast`` never blocks and never writes: it queues its frame for the connection's writer
  thread (started the first time it is needed), waking it only if it is not already at work. So
  a burst of casts leaves in a few large writes instead of one system call each, while the
  first of them waits only for the writer to wake.
- Parts of a frame (a header, a pickle, out-of-band buffers) are written from where they lie,
  never joined into one buffer.
"""

from __future__ import annotations

import collections
import socket
import threading
import time
from collections.abc import Callable, Sequence
from typing import Final

from genrpc_actors._errors import BadTcp, RpcError
from genrpc_actors._transport import _tcp
from genrpc_actors._transport._reasons import reason_of
from genrpc_actors._transport._tls import TlsTransport

__all__ = ["Frame", "Outbox"]

Frame = bytes | Sequence[bytes | memoryview]  # one frame, whole or in parts
_IOV_MAX: Final = 512  # buffers per sendmsg (Linux takes 1024)
_ROOM_LOOK: Final = 0.05  # seconds: how often a reader held back looks at the backlog again


class Outbox:
    """Ordered, batched, deadline-bounded sending for one connection; see the module docstring."""

    def __init__(
        self, name: str, send_timeout: float, on_failure: Callable[[RpcError], None]
    ) -> None:
        self.lock = threading.Lock()
        self._name = name
        self._send_timeout = send_timeout
        self._on_failure = on_failure
        self._sock: socket.socket | None = None
        self._tls: TlsTransport | None = None
        self._queue: collections.deque[Frame] = collections.deque()
        self._chunks: collections.deque[bytes | memoryview] = collections.deque()
        self._kernel_timeout: float | None = None  # what SO_SNDTIMEO is set to now
        self._writer: threading.Thread | None = None
        self._writer_lock = threading.Lock()
        self._wake = threading.Event()
        self._writing = False  # the writer thread is at work (it looks at the queue again)
        self._room = threading.Event()  # set when all is written, for wait_for_room
        self._room_wanted = False
        self._closed = False
        self.writes = 0  # send system calls made
        self.bytes = 0

    @property
    def queued(self) -> int:
        """Bytes waiting to be written (a slow peer makes this grow)."""
        chunks = sum(len(chunk) for chunk in list(self._chunks))
        return chunks + sum(_size(frame) for frame in list(self._queue))

    # -- the connection's side -----------------------------------------------------------------

    def attach(self, sock: socket.socket, tls: TlsTransport | None) -> RpcError | None:
        """The connection is made: send what waited for it (in the caller's thread)."""
        self.lock.acquire()
        if self._closed:
            self.lock.release()
            return None
        self._sock, self._tls = sock, tls
        return self._write_and_release(self._send_timeout, report=False)

    def wait_for_room(self, limit: int) -> bool:
        """Wait while more than ``limit`` bytes wait to be written, until half of that is left:
        back-pressure for a reader that would otherwise queue replies without end for a peer
        that does not read them. False if the connection ends meanwhile (a peer that reads
        nothing ends it at ``send_timeout``)."""
        if not (self._queue or self._chunks) or self.queued <= limit:
            return not self._closed
        while not self._closed:
            self._room_wanted = True
            self._room.clear()
            if self.queued <= limit // 2:
                self._room_wanted = False
                return True
            self._room.wait(_ROOM_LOOK)
        return False

    def close(self) -> None:
        """No more sending; the writer thread ends. What points back is let go, or it would
        make cycles that only the cycle collector frees: the failure callback (a method of
        the connection that owns this outbox) and the TLS transport (whose ``on_outgoing`` is
        this outbox's ``flush_tls``)."""
        self._closed = True
        self._on_failure = _ignore
        self._room.set()
        self._wake.set()
        with self.lock:
            self._queue.clear()
            self._chunks.clear()
            self._sock = self._tls = None

    def join(self, timeout: float | None = None) -> None:
        writer = self._writer
        if writer is not None and writer is not threading.current_thread():
            writer.join(timeout)

    def flush_tls(self) -> None:
        """Send what TLS itself has to say (e.g. a key update), in order with the frames."""
        self.lock.acquire()
        if self._tls is not None and not self._closed:
            self._absorb()
            self._chunks.append(self._tls.drain())
        self._write_and_release(self._send_timeout)

    # -- senders ---------------------------------------------------------------------------------

    def put(
        self,
        frame: Frame,
        *,
        block: bool,
        send_timeout: float | None = None,
        now: bool = False,
    ) -> None:
        """Send ``frame``: a call writes with a deadline (``block=True``), a cast never waits.
        If another thread is writing, it writes this frame too. A failure ends the connection
        through ``on_failure``. ``now`` (without ``block``): write what the socket takes at
        once from this thread, and leave only the rest to the writer thread (a caller that
        must not block but would rather not wait for a thread to wake: an event loop)."""
        if self._closed:
            return
        if not block:
            if now and self._tls is None and not self._queue and self.lock.acquire(blocking=False):
                self._send_now(frame)
                return
            self._queue.append(frame)
            if not self._writing:
                self._kick()
            return
        timeout = self._send_timeout if send_timeout is None else send_timeout
        if self.lock.acquire(blocking=False):
            if self._queue or self._tls is not None or self._sock is None:
                # behind what waits, to be encrypted in order, or until the connection is made
                self._queue.append(frame)
            elif isinstance(frame, bytes):
                self._chunks.append(frame)
            else:
                self._chunks.extend(frame)
            self._write_and_release(timeout)
            return
        self._queue.append(frame)
        # the holder looks at the queue after it lets the lock go, unless it just did
        if self.lock.acquire(blocking=False):
            self._write_and_release(timeout)

    def hold(self, frame: Frame) -> None:
        """Queue ``frame`` without writing it: the next write takes it along (see ``flush``)."""
        if not self._closed:
            self._queue.append(frame)

    def flush(self) -> None:
        """Write what is queued, as a call would (unless another thread is writing it)."""
        if self._queue and not self._closed and self.lock.acquire(blocking=False):
            self._write_and_release(self._send_timeout)

    def flush_later(self) -> None:
        """Have the writer thread write what is queued (this thread must not block)."""
        if self._queue and not self._closed:
            self._kick()

    def _write_and_release(self, timeout: float, *, report: bool = True) -> RpcError | None:
        """Write what is queued, let the lock go, and again while frames keep coming (the lock
        is held on entry). A failure is reported through ``on_failure`` (or returned)."""
        failure = None
        while True:
            if not self._closed and self._sock is not None:
                self._absorb()
                if self._chunks:
                    failure = self._send(timeout)
                if self._room_wanted and not self._chunks:
                    self._room.set()
            self.lock.release()
            if failure is not None or self._closed or self._sock is None or not self._queue:
                break
            if not self.lock.acquire(blocking=False):
                break
        if failure is not None and report:
            self._on_failure(failure)
        return failure

    # -- sending (the lock is held) -------------------------------------------------------------

    def _send_now(self, frame: Frame) -> None:
        """Write ``frame`` without blocking; what the socket does not take, and what others
        queued meanwhile, is the writer thread's. Releases the lock."""
        sock, chunks = self._sock, self._chunks
        failure = None
        if sock is None or self._closed or chunks:
            self._queue.append(frame)
        else:
            parts = [frame] if isinstance(frame, bytes) else list(frame)
            try:
                written = sock.sendmsg(parts, (), socket.MSG_DONTWAIT)
            except BlockingIOError:
                written = 0
            except OSError as exc:
                written, failure = 0, BadTcp(reason_of(exc))
            self.writes += 1
            self.bytes += written
            for part in parts:
                size = len(part)
                if written >= size:
                    written -= size
                    continue
                chunks.append(memoryview(part)[written:] if written else part)
                written = 0
        self.lock.release()
        if failure is not None:
            self._on_failure(failure)
        elif self._queue or self._chunks:
            self._kick()

    def _absorb(self) -> None:
        queue, chunks, tls = self._queue, self._chunks, self._tls
        while queue:
            frame = queue.popleft()
            parts: Sequence[bytes | memoryview] = (frame,) if isinstance(frame, bytes) else frame
            if tls is None:
                chunks.extend(parts)
                continue
            for part in parts:
                if len(part) <= _ENCRYPT_SLICE:
                    chunks.append(tls.encrypt(part))
                    continue
                # a large part in slices: each holds the GIL for a short copy, not one of
                # the whole part, so that other threads (an event loop) run meanwhile
                view = memoryview(part)
                for start in range(0, len(view), _ENCRYPT_SLICE):
                    chunks.append(tls.encrypt(view[start : start + _ENCRYPT_SLICE]))

    def _send(self, timeout: float) -> RpcError | None:
        """Write every chunk within ``timeout`` seconds, or fail the connection."""
        sock, chunks = self._sock, self._chunks
        assert sock is not None
        deadline = time.monotonic() + timeout
        remaining = timeout  # the first write may take it all, and sets no timer if unchanged
        try:
            while chunks:
                if remaining != self._kernel_timeout:
                    _tcp.set_send_timeout(sock, remaining)
                    self._kernel_timeout = remaining
                if len(chunks) == 1:
                    written = sock.send(chunks[0])
                else:
                    written = sock.sendmsg(_first(chunks, _IOV_MAX))
                self.writes += 1
                self.bytes += written
                while written:
                    size = len(chunks[0])
                    if written < size:
                        chunks[0] = memoryview(chunks[0])[written:]
                        break
                    chunks.popleft()
                    written -= size
                if chunks:  # a partial write: what is left has what is left of the time
                    remaining = deadline - time.monotonic()
                    if remaining <= 0:
                        return BadTcp("send_timeout")
        except BlockingIOError:
            return BadTcp("send_timeout")
        except RpcError as exc:  # the socket closed under us (from _tcp)
            return exc
        except OSError as exc:
            reason = reason_of(exc)
            return BadTcp("send_timeout" if reason == "timeout" else reason)
        return None

    # -- the writer thread -----------------------------------------------------------------------

    def _kick(self) -> None:
        if self._writer is None:
            self._start_writer()
        self._wake.set()

    def _start_writer(self) -> None:
        # checked again under the lock, in a method of its own: another thread may have started
        # it meanwhile (a caller's narrowed view of the attribute would not see that, compiled)
        with self._writer_lock:
            if self._writer is None and not self._closed:
                writer = threading.Thread(
                    target=self._write_loop, name=f"genrpc-writer-{self._name}", daemon=True
                )
                writer.start()
                self._writer = writer  # only once started: join() may take it at once

    def _write_loop(self) -> None:
        while True:
            self._wake.wait()
            self._wake.clear()
            while True:
                self._writing = True
                self.lock.acquire()
                if self._closed:
                    self.lock.release()
                    return
                if self._sock is None:  # attach() sends what waits, once connected
                    self.lock.release()
                    self._writing = False
                    break
                if self._write_and_release(self._send_timeout) is not None:
                    return
                self._writing = False
                if not self._queue:
                    break  # a frame queued from now on wakes this thread again


_ENCRYPT_SLICE: Final = 256 * 1024  # bytes of plaintext encrypted at a time


def _ignore(_failure: RpcError) -> None:
    pass


def _size(frame: Frame) -> int:
    return len(frame) if isinstance(frame, bytes) else sum(len(part) for part in frame)


def _first(chunks: collections.deque[bytes | memoryview], count: int) -> list[bytes | memoryview]:
    if len(chunks) <= count:
        return list(chunks)
    return [chunks[i] for i in range(count)]

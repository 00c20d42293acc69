"""Driving either end's handshake machine over a stream: blocking, or without blocking.

The machines (``genrpc_actors._protocol``) know the protocol and nothing of sockets;
:class:`HandshakeFeed` is the one place where they meet bytes (frames cut at ``PREAUTH_MAX``,
nothing accepted past the handshake's end), and two drivers move those bytes:

- :func:`drive_handshake`, a blocking loop with one deadline: the client, after its TCP (and
  TLS) connect;
- :class:`AcceptedHandshake`, one accepted connection's TLS (for the ``ssl`` driver) and
  handshake, moved on by whoever watches its non-blocking socket (``received`` when it is
  readable, ``send_pending`` when writable), so one thread can serve every connection of a
  listener that has not authenticated yet. The watcher keeps the deadline.

What can go wrong leaves as one of three things: ``HandshakeError`` (the peer broke the
protocol, or refused us: the machine's reason, after the machine's last frame was sent),
``FrameTooLarge`` (a length prefix over the pre-authentication limit), or ``BadTcp`` (the stream
failed: ``timeout`` at the deadline, ``closed`` at its end, or the socket's reason); and for
:class:`AcceptedHandshake`, ``BadRpc(("tls", why))`` when TLS refuses.
"""

from __future__ import annotations

import contextlib
import socket
import ssl
import time
from collections.abc import Callable
from typing import Generic, Protocol, TypeVar

from genrpc_actors._errors import BadTcp
from genrpc_actors._protocol import PREAUTH_MAX, FrameDecoder, HandshakeError, Payload
from genrpc_actors._transport._reasons import bad_tcp
from genrpc_actors._transport._tls import RECORD_SIZE, TlsTransport

__all__ = ["AcceptedHandshake", "HandshakeFeed", "HandshakeMachine", "Stream", "drive_handshake"]


class Stream(Protocol):
    """A blocking socket, or a TLS transport over one."""

    def settimeout(self, value: float | None, /) -> None: ...

    def recv(self, size: int, /) -> bytes: ...

    def sendall(self, data: bytes, /) -> None: ...


class HandshakeMachine(Protocol):
    """Either end of the handshake: ``ClientHandshake`` or ``ServerHandshake``."""

    @property
    def done(self) -> bool: ...

    def start(self) -> bytes: ...

    def receive(self, received: Payload, /) -> bytes: ...


M = TypeVar("M", bound=HandshakeMachine)


class HandshakeFeed(Generic[M]):
    """A handshake machine fed bytes, without I/O: bytes received in, the bytes to send out."""

    __slots__ = ("_decoder", "machine")

    def __init__(self, machine: M) -> None:
        self.machine = machine
        self._decoder = FrameDecoder(PREAUTH_MAX)

    @property
    def done(self) -> bool:
        return self.machine.done

    def start(self) -> bytes:
        return self.machine.start()

    def feed(self, data: bytes | bytearray | memoryview) -> bytes:
        """What ``data`` completes: the frames to send. ``HandshakeError`` (whose ``reply`` is
        to be sent before closing), ``FrameTooLarge``."""
        out = b""
        for payload in self._decoder.feed(data):
            if self.machine.done:
                raise HandshakeError("invalid_message")  # a frame that did not wait its turn
            out += self.machine.receive(payload)
        return out

    def check_end(self) -> None:
        """Once done and its last frame sent: nothing may have followed the handshake unasked."""
        if self._decoder.buffered:
            raise HandshakeError("invalid_message")


def drive_handshake(
    machine: HandshakeMachine,
    stream: Stream,
    deadline: float,
    clock: Callable[[], float] = time.monotonic,
) -> None:
    """Run ``machine`` to its end over ``stream`` by ``deadline`` (a ``clock()`` time). Nothing
    may follow the handshake unasked: bytes received past its end are a protocol error."""
    feed = HandshakeFeed(machine)
    try:
        remaining = deadline - clock()
        if remaining <= 0:
            raise BadTcp("timeout")
        stream.settimeout(remaining)
        out = feed.start()
        while True:
            if out:
                stream.sendall(out)
            if feed.done:
                break
            remaining = deadline - clock()
            if remaining <= 0:
                raise BadTcp("timeout")
            stream.settimeout(remaining)
            data = stream.recv(PREAUTH_MAX)
            if not data:
                raise BadTcp("closed")
            try:
                out = feed.feed(data)
            except HandshakeError as exc:
                if exc.reply:
                    stream.sendall(exc.reply)
                raise
        feed.check_end()
        stream.settimeout(None)
    except OSError as exc:
        raise bad_tcp(exc) from None


class AcceptedHandshake(Generic[M]):
    """The TLS handshake (with a context) then the genrpc one, of one accepted connection whose
    socket is non-blocking: each call does what can be done now and never waits. Bytes held are
    bounded: one receive (``RECORD_SIZE``) at a time, frames of at most ``PREAUTH_MAX``, and
    the few frames the machines answer with."""

    __slots__ = ("_feed", "_machine_for", "_out", "sock", "tls")

    def __init__(
        self,
        sock: socket.socket,
        tls: ssl.SSLContext | None,
        machine_for: Callable[[set[str] | None], M],
    ) -> None:
        """``machine_for(certified_names)`` makes the machine once TLS (if any) is up: the
        names the client's certificate carries, ``None`` without TLS."""
        self.sock = sock
        self.tls = None if tls is None else TlsTransport(sock, tls, server=True)
        self._machine_for = machine_for
        self._feed: HandshakeFeed[M] | None = None
        self._out = bytearray()  # to send, in order; the socket took the rest
        if self.tls is None:
            self._begin(None)

    @property
    def machine(self) -> M | None:
        """The handshake machine, once TLS is up (at once without TLS)."""
        return None if self._feed is None else self._feed.machine

    @property
    def wants_write(self) -> bool:
        """Bytes wait for the socket to take them."""
        return bool(self._out)

    @property
    def finished(self) -> bool:
        """Authenticated, and the last frame sent: the connection may carry messages."""
        return self._feed is not None and self._feed.done and not self._out

    @property
    def stream(self) -> socket.socket | TlsTransport:
        """What carries the frames once finished."""
        return self.sock if self.tls is None else self.tls

    def received(self) -> None:
        """The socket is readable: take what has arrived, answer what it completes."""
        try:
            data = self.sock.recv(RECORD_SIZE)
        except (BlockingIOError, InterruptedError):
            return
        except OSError as exc:
            raise bad_tcp(exc) from None
        if not data:
            raise BadTcp("closed")
        if self.tls is None:
            self._take(data)
        else:
            self._take_tls(self.tls, data)
        self.send_pending()

    def send_pending(self) -> None:
        """Send what the socket takes now (the rest waits for it to be writable)."""
        out = self._out
        while out:
            try:
                sent = self.sock.send(out)
            except (BlockingIOError, InterruptedError):
                return
            except OSError as exc:
                raise bad_tcp(exc) from None
            del out[:sent]
        if self._feed is not None and self._feed.done:
            self._feed.check_end()

    def _begin(self, certified: set[str] | None) -> None:
        self._feed = HandshakeFeed(self._machine_for(certified))
        self._queue(self._feed.start())

    def _take_tls(self, tls: TlsTransport, data: bytes) -> None:
        if self._feed is None:  # TLS is not up yet
            try:
                up = tls.feed_handshake(data)
            except Exception:
                self._send_now(tls.drain())  # the alert tells the peer why
                raise
            self._out += tls.drain()
            if not up:
                return
            self._begin(tls.peer_names())
            data = b""  # what came with the client's last TLS flight waits in the transport
        plaintext = tls.decrypt(data)
        self._out += tls.drain()
        if plaintext:
            self._take(plaintext)

    def _take(self, plaintext: bytes) -> None:
        assert self._feed is not None
        try:
            self._queue(self._feed.feed(plaintext))
        except HandshakeError as exc:
            if exc.reply:
                self._queue(exc.reply)
                self._send_now(b"")
            raise

    def _queue(self, frames: bytes) -> None:
        if frames:
            self._out += frames if self.tls is None else self.tls.encrypt(frames)

    def _send_now(self, last: bytes) -> None:
        """Before closing: what is queued and ``last``, as far as the socket takes them now."""
        self._out += last
        with contextlib.suppress(OSError):
            self.sock.send(self._out)
        self._out.clear()

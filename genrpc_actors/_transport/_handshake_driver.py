"""One loop that drives either end's handshake machine over a stream, with one deadline.

The machines (``genrpc_actors._protocol``) know the protocol and nothing of sockets; this loop
knows sockets and nothing of the protocol. Both ends of a connection use it: the client after
its TCP (and TLS) connect, the acceptor after it accepted.

What can go wrong leaves as one of three things: ``HandshakeError`` (the peer broke the
protocol, or refused us: the machine's reason, after the machine's last frame was sent),
``FrameTooLarge`` (a length prefix over the pre-authentication limit), or ``BadTcp`` (the stream
failed: ``timeout`` at the deadline, ``closed`` at its end, or the socket's reason).
"""

from __future__ import annotations

import time
from collections.abc import Callable
from typing import Protocol

from genrpc_actors._errors import BadTcp
from genrpc_actors._protocol import PREAUTH_MAX, FrameDecoder, HandshakeError, Payload
from genrpc_actors._transport._reasons import bad_tcp

__all__ = ["HandshakeMachine", "Stream", "drive_handshake"]


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


def drive_handshake(
    machine: HandshakeMachine,
    stream: Stream,
    deadline: float,
    clock: Callable[[], float] = time.monotonic,
) -> None:
    """Run ``machine`` to its end over ``stream`` by ``deadline`` (a ``clock()`` time). Nothing
    may follow the handshake unasked: bytes received past its end are a protocol error."""
    decoder = FrameDecoder(PREAUTH_MAX)
    try:
        remaining = deadline - clock()
        if remaining <= 0:
            raise BadTcp("timeout")
        stream.settimeout(remaining)
        out = machine.start()
        while True:
            if out:
                stream.sendall(out)
            if machine.done:
                break
            remaining = deadline - clock()
            if remaining <= 0:
                raise BadTcp("timeout")
            stream.settimeout(remaining)
            data = stream.recv(PREAUTH_MAX)
            if not data:
                raise BadTcp("closed")
            out = b""
            for payload in decoder.feed(data):
                if machine.done:
                    raise HandshakeError("invalid_message")  # a frame that did not wait its turn
                try:
                    out += machine.receive(payload)
                except HandshakeError as exc:
                    if exc.reply:
                        stream.sendall(exc.reply)
                    raise
        if decoder.buffered:
            raise HandshakeError("invalid_message")
        stream.settimeout(None)
    except OSError as exc:
        raise bad_tcp(exc) from None

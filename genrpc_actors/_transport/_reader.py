"""Receiving: a stream's bytes into a frame decoder, with as few copies as the kernel allows."""

from __future__ import annotations

import socket
from typing import Final, Protocol

from genrpc_actors._protocol import FrameDecoder, Payload
from genrpc_actors._transport._reasons import bad_tcp

__all__ = ["Reader"]

# what one receive takes in, but for large frames (their own buffer)
SCRATCH_SIZE: Final = 64 * 1024


class _Receiving(Protocol):
    def recv_into(self, buffer: memoryview, /) -> int: ...


_NOW: Final = socket.MSG_DONTWAIT


class Reader:
    """Receives into a frame decoder: a large frame straight into its own buffer, everything
    else through one scratch buffer reused for the life of the connection (no allocation per
    receive)."""

    __slots__ = ("_scratch", "bytes", "decoder", "io", "receives")

    def __init__(self, io: _Receiving, decoder: FrameDecoder) -> None:
        self.io, self.decoder = io, decoder
        self._scratch: memoryview | None = None
        self.receives = 0  # system calls made (frames per receive tell how well reads batch)
        self.bytes = 0  # received

    def receive(self) -> list[Payload] | None:
        """Receive once (blocking); the frames it completed, ``None`` at the end of the stream.

        A socket or TLS error is raised as ``BadTcp`` with its reason; ``BlockingIOError`` (the
        kernel's receive timeout, ``SO_RCVTIMEO``) is left to the caller, which set it."""
        decoder = self.decoder
        self.receives += 1
        try:
            target = decoder.into()
            if target is not None:
                count = self.io.recv_into(target)
                self.bytes += count
                return decoder.received(count) if count else None
            scratch = self._scratch
            if scratch is None:
                self._scratch = scratch = memoryview(bytearray(SCRATCH_SIZE))
            count = self.io.recv_into(scratch)
        except BlockingIOError:
            raise
        except OSError as exc:
            raise bad_tcp(exc) from None
        self.bytes += count
        return decoder.feed(scratch[:count]) if count else None

    def receive_now(self) -> list[Payload] | None:
        """As ``receive``, without waiting: ``BlockingIOError`` when nothing has come. For a
        socket (an event loop reads this way when the socket is readable), not TLS."""
        io = self.io
        assert isinstance(io, socket.socket)
        decoder = self.decoder
        self.receives += 1
        try:
            target = decoder.into()
            if target is not None:
                count = io.recv_into(target, 0, _NOW)
                self.bytes += count
                return decoder.received(count) if count else None
            scratch = self._scratch
            if scratch is None:
                self._scratch = scratch = memoryview(bytearray(SCRATCH_SIZE))
            count = io.recv_into(scratch, 0, _NOW)
        except BlockingIOError:
            raise
        except OSError as exc:
            raise bad_tcp(exc) from None
        self.bytes += count
        return decoder.feed(scratch[:count]) if count else None

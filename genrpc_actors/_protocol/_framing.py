"""Framing: a byte stream cut into length-prefixed payloads (see the package docstring).

No sockets here: the driver feeds received bytes in and gets complete payloads out, or receives a
large frame straight into the buffer ``into()`` gives.
"""

from __future__ import annotations

import struct
import sys
from typing import Final

__all__ = [
    "FIRST_ROOM",
    "LARGE_FRAME",
    "PREAUTH_MAX",
    "SPARE_MAX",
    "FrameDecoder",
    "FrameTooLarge",
    "Payload",
    "frame",
]

PREAUTH_MAX: Final = 1024  # the largest frame before the handshake has ended
LARGE_FRAME: Final = 64 * 1024  # frames this large are received into a buffer of their own
SPARE_MAX: Final = 4 * 1024 * 1024  # the largest such buffer a connection keeps for the next
FIRST_ROOM: Final = 1024 * 1024  # such a buffer's first size; it doubles as the bytes arrive

LENGTH: Final = struct.Struct(">I")

Payload = bytes | bytearray | memoryview  # one frame's payload as received


class FrameTooLarge(Exception):  # noqa: N818 - an event of the protocol, raised to the driver
    """A length prefix above the current limit: the connection must be closed."""

    def __init__(self, size: int, limit: int) -> None:
        super().__init__(f"frame of {size} bytes over the limit of {limit}")
        self.size, self.limit = size, limit


def frame(payload: bytes) -> bytes:
    """One frame: the length prefix and the payload."""
    return LENGTH.pack(len(payload)) + payload


class FrameDecoder:
    """Cuts a byte stream into frame payloads. ``limit`` can be raised once authenticated.

    A frame of at least ``LARGE_FRAME`` bytes that has not all arrived gets a buffer of its own,
    which the driver may receive into directly (``into`` and ``received``), so a large payload
    is copied once, by the kernel. The buffer grows as the bytes arrive (from ``FIRST_ROOM``,
    doubling): a length prefix alone commits no memory, whatever it announces. It is used again
    (up to ``SPARE_MAX`` bytes) for the next large frame once nothing refers to the payload any
    more: fresh memory costs a page fault per 4 KiB here, which is more than the copy."""

    __slots__ = ("_buffer", "_got", "_large", "_size", "_spare", "limit")

    def __init__(self, limit: int = PREAUTH_MAX) -> None:
        self._buffer = bytearray()
        self._large: bytearray | None = None  # the buffer of a large frame in progress
        self._size = 0  # that frame's size (the buffer may be longer)
        self._got = 0  # bytes of it received so far
        self._spare: bytearray | None = None  # the last large frame's buffer
        self.limit = limit

    def feed(self, data: bytes | bytearray | memoryview) -> list[Payload]:
        """Add received bytes; return every complete payload. Raises :class:`FrameTooLarge`."""
        frames: list[Payload] = []
        if self._large is not None:
            data = self._fill(data, frames)
            if not data:
                return frames
        buffer = self._buffer
        if buffer:  # a frame began in an earlier receive
            buffer += data
            source: bytes | bytearray | memoryview = buffer
        else:  # the usual case: cut frames from the received bytes where they lie
            source = data
        start = 0
        end = len(source)
        with memoryview(source) as view:
            while end - start >= 4:  # noqa: PLR2004 - the length prefix
                (size,) = LENGTH.unpack_from(view, start)
                if size > self.limit:
                    raise FrameTooLarge(size, self.limit)
                if end - start - 4 < size:
                    if size >= LARGE_FRAME:  # the rest is received into its own buffer
                        large = self._start_large(size, end - start - 4)
                        self._got = end - start - 4
                        large[: self._got] = view[start + 4 : end]
                        start = end
                    break
                frames.append(bytes(view[start + 4 : start + 4 + size]))
                start += 4 + size
            if source is not buffer and start < end:
                buffer += view[start:end]  # the beginning of a frame, for the next receive
        if source is buffer and start:
            del buffer[:start]
        return frames

    def _start_large(self, size: int, have: int) -> bytearray:
        """A buffer for a large frame of ``size`` bytes, ``have`` of which are here."""
        spare = self._spare
        room = min(size, max(FIRST_ROOM, have))
        # three references: the attribute, this name and getrefcount's argument; a payload
        # still alive (or a view of it) adds one
        if spare is None or len(spare) < room or sys.getrefcount(spare) > 3:  # noqa: PLR2004
            spare = bytearray(room)
            self._spare = spare if room <= SPARE_MAX else None
        self._large, self._size = spare, size
        return spare

    def _room(self, wanted: int) -> bytearray:
        """The large frame's buffer, with room for ``wanted`` bytes (doubled if it had less)."""
        large = self._large
        assert large is not None
        if len(large) < wanted:
            grown = bytearray(min(self._size, max(wanted, 2 * len(large))))
            grown[: self._got] = memoryview(large)[: self._got]
            self._large = large = grown
            if len(grown) <= SPARE_MAX:
                self._spare = grown
        return large

    def into(self) -> memoryview | None:
        """Where the rest of a large frame in progress may be received directly, if one is."""
        if self._large is None:
            return None
        large = self._room(self._got + 1)
        return memoryview(large)[self._got : min(self._size, len(large))]

    def received(self, count: int) -> list[Payload]:
        """``count`` bytes were received into what ``into`` gave; the frame, once complete."""
        large = self._large
        assert large is not None
        self._got += count
        if self._got < self._size:
            return []
        self._large = None
        return [large if len(large) == self._size else memoryview(large)[: self._size]]

    def _fill(
        self, data: bytes | bytearray | memoryview, frames: list[Payload]
    ) -> bytes | bytearray | memoryview:
        """Copy into the large frame in progress; returns what follows it."""
        count = min(len(data), self._size - self._got)
        large = self._room(self._got + count)
        large[self._got : self._got + count] = memoryview(data)[:count]
        frames.extend(self.received(count))
        return memoryview(data)[count:]

    def wanted(self) -> int:
        """How many more bytes complete the frame in progress (at least 1)."""
        if self._large is not None:
            return self._size - self._got
        if len(self._buffer) < 4:  # noqa: PLR2004
            return 4 - len(self._buffer)
        (size,) = LENGTH.unpack_from(self._buffer, 0)
        return max(1, 4 + int(size) - len(self._buffer))

    @property
    def buffered(self) -> int:
        return len(self._buffer) + (self._got if self._large is not None else 0)

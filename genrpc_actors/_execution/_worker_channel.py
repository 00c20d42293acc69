"""The channel between a node and one of its process workers: a ``SOCK_SEQPACKET`` socket pair
(one ``recvmsg`` per message, whatever its size) and a shared memory region for large bodies.

Each message is a header and a body::

    a:u8 b:u8 shared:u8 size:u64   then, unless shared, the body itself (size bytes)

    node -> worker   a = flags, b = reply (0 or 1)      a CALL or CAST body, as received
    worker -> node   a = READY, b = 0                   once, after ``process_modules`` imported
    worker -> node   a = FAILED, b = 0, body = text     once, instead, if one failed to import
    worker -> node   a = kind, b = flags                the outcome (REPLY or ERROR), as sent

A body of ``SHARED_MIN`` bytes or more is not sent through the socket: it is written at the
start of the region and the message carries only its size (``shared = 1``). The region is a
``memfd`` mapped by both ends; the end that needs more room than it has makes a bigger one and
sends its descriptor with that message (``SCM_RIGHTS``), and both use it from then on. There
is never more than one message in flight each way, so the one region serves both directions;
a ``memfd`` has no name, so nothing is left behind when both processes are gone, however they end.
"""

from __future__ import annotations

import array
import mmap
import os
import socket
import struct
import threading
from collections.abc import Sequence

__all__ = ["FAILED", "READY", "SHARED_MIN", "Channel", "socket_pair"]

HEADER = struct.Struct(">BBBQ")
SHARED_MIN = 64 * 1024
READY, FAILED = 0xFE, 0xFF  # not a kind of the wire protocol
_FIRST_REGION = 1024 * 1024
_RECEIVE = HEADER.size + SHARED_MIN  # the largest message the socket carries
_ANCILLARY = socket.CMSG_SPACE(array.array("i").itemsize)
_SOL_SOCKET, _SCM_RIGHTS = int(socket.SOL_SOCKET), int(socket.SCM_RIGHTS)
_CUT = int(socket.MSG_TRUNC | socket.MSG_CTRUNC)  # a plain int: IntFlag arithmetic costs us


def socket_pair() -> tuple[socket.socket, socket.socket]:
    """The node's end and the worker's end."""
    ours, theirs = socket.socketpair(socket.AF_UNIX, socket.SOCK_SEQPACKET)
    for end in (ours, theirs):  # a message of up to _RECEIVE bytes must fit whole
        end.setsockopt(socket.SOL_SOCKET, socket.SO_SNDBUF, 4 * _RECEIVE)
    return ours, theirs


class Channel:
    """One end. ``send`` and ``receive`` may be called from different threads, one message
    each way at a time; ``close`` waits for a ``send`` under way (a descriptor is never closed
    while another thread writes to it)."""

    __slots__ = ("_region", "_send_lock", "sock")

    def __init__(self, sock: socket.socket) -> None:
        self.sock = sock
        self._region: mmap.mmap | None = None
        self._send_lock = threading.Lock()

    def __repr__(self) -> str:
        region = 0 if self._region is None else len(self._region)
        return f"<Channel fd={self.sock.fileno()} region={region}>"

    @property
    def region_size(self) -> int:
        return 0 if self._region is None else len(self._region)

    def send(self, a: int, b: int, parts: Sequence[bytes | memoryview]) -> None:
        """Send one message whose body is ``parts`` joined; ``OSError`` if the other end has
        gone."""
        if len(parts) == 1:
            part = parts[0]
            size = len(part) if isinstance(part, bytes) else part.nbytes
        else:
            size = sum(len(part) if isinstance(part, bytes) else part.nbytes for part in parts)
        with self._send_lock:
            if size < SHARED_MIN:
                self.sock.sendmsg((HEADER.pack(a, b, 0, size), *parts))
                return
            fds: list[int] = []
            region = self._region
            if region is None or len(region) < size:
                fd, region = _new_region(size)
                fds.append(fd)
                self._region = region
            try:
                offset = 0
                for part in parts:
                    view = memoryview(part).cast("B")
                    region[offset : offset + view.nbytes] = view
                    offset += view.nbytes
                header = HEADER.pack(a, b, 1, size)
                if fds:
                    socket.send_fds(self.sock, [header], fds)
                else:
                    self.sock.sendmsg([header])
            finally:
                for fd in fds:
                    os.close(fd)

    def receive(self) -> tuple[int, int, memoryview] | None:
        """The next message ``(a, b, body)``, or None when the other end has gone. A shared
        body is a view of the region: read it before the next ``send`` on either end."""
        try:
            data, ancillary, flags, _ = self.sock.recvmsg(_RECEIVE, _ANCILLARY)
        except OSError:
            return None
        for level, kind, payload in ancillary:
            if level == _SOL_SOCKET and kind == _SCM_RIGHTS:
                fds = array.array("i")
                fds.frombytes(payload[: len(payload) - len(payload) % fds.itemsize])
                for fd in fds:
                    self._adopt(fd)
        if len(data) < HEADER.size or flags & _CUT:
            return None  # the end of the stream, or a message the protocol does not allow
        a, b, shared, size = HEADER.unpack_from(data)
        if not shared:
            return a, b, memoryview(data)[HEADER.size :]
        region = self._region
        if region is None or len(region) < size:
            return None  # a peer that does not keep to the protocol: treated as gone
        return a, b, memoryview(region)[:size]

    def close(self) -> None:
        with self._send_lock:
            self.sock.close()
            self._region = None  # unmapped once no view of it is left

    def _adopt(self, fd: int) -> None:
        try:
            self._region = mmap.mmap(fd, os.fstat(fd).st_size)
        finally:
            os.close(fd)


def _new_region(size: int) -> tuple[int, mmap.mmap]:
    length = max(_FIRST_REGION, 1 << (size - 1).bit_length())
    fd = os.memfd_create("genrpc-worker-body", os.MFD_CLOEXEC)
    try:
        os.ftruncate(fd, length)
        return fd, mmap.mmap(fd, length)
    except BaseException:
        os.close(fd)
        raise

"""The floor: the least a Python RPC over TCP can do, written here as the yardstick.

A frame is a 5-byte header and a pickle::

    offset  size  field
    0       4     length of the body, unsigned big-endian
    4       1     kind: 0 = call (the server answers with one frame), 1 = cast (no answer)
    5       n     body: pickle of (function, args); an answer's body is the pickled result

Both ends read through a buffer (``FrameReader``): one ``recv_into`` of up to 256 KiB takes in
as many frames as have arrived, and every complete one is parsed out of it, so a burst of small
frames costs one system call, not two a frame. A frame larger than the buffer is read into a
body of its own size, straight from the socket.

The server runs one thread per connection, which unpickles each function by reference, calls
it, and sends the answers to the frames of one read together; casts on a connection run in
order. No security, no framing checks, no error handling: no library can do less on the same
path, so the others are measured against it.
"""

from __future__ import annotations

import pickle
import socket
import struct
import threading
from collections.abc import Callable
from typing import Any

HEADER = struct.Struct(">IB")
CALL, CAST = 0, 1
BUFFER_SIZE = 256 * 1024

Frame = tuple[int, "bytes | bytearray | memoryview"]


class FrameReader:
    """The frames of one socket, read in large pieces.

    ``frames()`` returns every complete frame that the buffer holds, reading first if it holds
    none. A frame's body is a view into the buffer, valid until the next ``frames()``.
    """

    def __init__(self, sock: socket.socket, size: int = BUFFER_SIZE) -> None:
        self.sock = sock
        self.buffer = bytearray(size)
        self.view = memoryview(self.buffer)
        self.start = self.end = 0  # the bytes read and not yet parsed: buffer[start:end]

    def _parse(self) -> list[Frame]:
        frames: list[Frame] = []
        start, end, view = self.start, self.end, self.view
        while end - start >= HEADER.size:
            size, kind = HEADER.unpack_from(view, start)
            stop = start + HEADER.size + size
            if stop > end:
                break
            frames.append((kind, view[start + HEADER.size : stop]))
            start = stop
        if start == end:  # all parsed: the next read starts at the front
            self.start = self.end = 0
        else:
            self.start = start
        return frames

    def _read_large(self, size: int, kind: int) -> Frame:
        """A frame that the buffer cannot hold: its body read into a bytearray of its own."""
        body = bytearray(size)
        have = self.end - self.start - HEADER.size
        body[:have] = self.view[self.start + HEADER.size : self.end]
        self.start = self.end = 0
        into = memoryview(body)
        while have < size:
            n = self.sock.recv_into(into[have:])
            if not n:
                raise ConnectionError("closed")
            have += n
        return kind, body

    def frames(self) -> list[Frame]:
        while True:
            frames = self._parse()
            if frames:
                return frames
            pending = self.end - self.start
            if pending >= HEADER.size:
                size, kind = HEADER.unpack_from(self.view, self.start)
                if HEADER.size + size > len(self.buffer):
                    return [self._read_large(size, kind)]
            if self.end == len(self.buffer):  # a partial frame at the end: move it to the front
                self.buffer[:pending] = self.buffer[self.start : self.end]
                self.start, self.end = 0, pending
            n = self.sock.recv_into(self.view[self.end :])
            if not n:
                raise ConnectionError("closed")
            self.end += n


def _serve_connection(conn: socket.socket) -> None:
    reader = FrameReader(conn)
    loads, dumps, pack = pickle.loads, pickle.dumps, HEADER.pack
    with conn:
        try:
            while True:
                answers: list[bytes] = []
                for kind, body in reader.frames():
                    function, args = loads(body)
                    result = function(*args)
                    if kind == CALL:
                        answer = dumps(result, protocol=5)
                        answers += (pack(len(answer), CALL), answer)
                if answers:
                    conn.sendall(b"".join(answers))
        except (ConnectionError, OSError):
            return


def _accept_loop(server: socket.socket) -> None:
    while True:
        try:
            conn, _ = server.accept()
        except OSError:  # the listener was closed
            return
        conn.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
        threading.Thread(target=_serve_connection, args=(conn,), daemon=True).start()


def start_server() -> tuple[socket.socket, int]:
    """Listen on a free loopback port and serve in a daemon thread: (listener, port)."""
    server = socket.create_server(("127.0.0.1", 0), backlog=1024)
    threading.Thread(target=_accept_loop, args=(server,), daemon=True, name="floor").start()
    return server, int(server.getsockname()[1])


class FloorClient:
    """One connection; one caller at a time."""

    def __init__(self, port: int) -> None:
        self.sock = socket.create_connection(("127.0.0.1", port))
        self.sock.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
        self.reader = FrameReader(self.sock)

    def call(self, function: Callable[..., Any], *args: Any) -> Any:
        body = pickle.dumps((function, args), protocol=5)
        self.sock.sendall(HEADER.pack(len(body), CALL) + body)
        ((_, answer),) = self.reader.frames()
        return pickle.loads(answer)

    def pipeline(self, count: int, function: Callable[..., Any], *args: Any) -> Any:
        """``count`` calls written at once (each pickled on its own), then their ``count``
        answers read through the buffer: the last answer."""
        dumps, pack = pickle.dumps, HEADER.pack
        frames: list[bytes] = []
        for _ in range(count):
            body = dumps((function, args), protocol=5)
            frames += (pack(len(body), CALL), body)
        self.sock.sendall(b"".join(frames))
        loads, frames_of, last = pickle.loads, self.reader.frames, None
        answered = 0
        while answered < count:
            for _, answer in frames_of():
                last = loads(answer)
                answered += 1
        return last

    def cast(self, function: Callable[..., Any], *args: Any) -> None:
        body = pickle.dumps((function, args), protocol=5)
        self.sock.sendall(HEADER.pack(len(body), CAST) + body)

    def close(self) -> None:
        self.sock.close()

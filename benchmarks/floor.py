"""The floor: the least a Python RPC over TCP can do, written here as the yardstick.

A frame is a 5-byte header and a pickle::

    offset  size  field
    0       4     length of the body, unsigned big-endian
    4       1     kind: 0 = call (the server answers with one frame), 1 = cast (no answer)
    5       n     body: pickle of (function, args); an answer's body is the pickled result

The server runs one thread per connection, which unpickles the function by reference, calls it
and pickles the result back; casts on a connection run in order. No security, no framing checks,
no error handling: no library can do less on the same path, so the others are measured against it.
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


def _recv_exact(sock: socket.socket, size: int) -> bytes:
    buffer = bytearray(size)
    view = memoryview(buffer)
    got = 0
    while got < size:
        n = sock.recv_into(view[got:])
        if not n:
            raise ConnectionError("closed")
        got += n
    return bytes(buffer)


def _serve_connection(conn: socket.socket) -> None:
    with conn:
        try:
            while True:
                size, kind = HEADER.unpack(_recv_exact(conn, HEADER.size))
                function, args = pickle.loads(_recv_exact(conn, size))
                result = function(*args)
                if kind == CALL:
                    body = pickle.dumps(result, protocol=5)
                    conn.sendall(HEADER.pack(len(body), CALL) + body)
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

    def call(self, function: Callable[..., Any], *args: Any) -> Any:
        body = pickle.dumps((function, args), protocol=5)
        self.sock.sendall(HEADER.pack(len(body), CALL) + body)
        size, _ = HEADER.unpack(_recv_exact(self.sock, HEADER.size))
        return pickle.loads(_recv_exact(self.sock, size))

    def cast(self, function: Callable[..., Any], *args: Any) -> None:
        body = pickle.dumps((function, args), protocol=5)
        self.sock.sendall(HEADER.pack(len(body), CAST) + body)

    def close(self) -> None:
        self.sock.close()

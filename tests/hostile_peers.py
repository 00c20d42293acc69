"""Raw-socket peers that speak (or mangle) the wire format by hand, for ``test_hardening``.

Everything here talks to 127.0.0.1 only, bounds every wait, and leaves no socket open: sockets
made through :meth:`Sockets.connect` are closed when their ``Sockets`` block ends.
"""

from __future__ import annotations

import contextlib
import os
import resource
import selectors
import socket
import struct
import threading
import time
from collections.abc import Callable, Iterator
from dataclasses import dataclass

import pytest

from genrpc_actors import _protocol as wire

WAIT = 5.0  # generous bound for anything that should happen "at once"
HOST = "127.0.0.1"
PREFIX = struct.Struct(">4sBB")  # magic, version, type: the head of every handshake frame


# -- building frames -------------------------------------------------------------------------------


def handshake_frame(kind: int, body: bytes = b"") -> bytes:
    """One handshake frame: ``magic version kind body``."""
    return wire.frame(PREFIX.pack(wire.MAGIC, wire.VERSION, kind) + body)


def hello(target: str, client: str) -> bytes:
    """A well-formed HELLO frame (the cookie plays no part in it)."""
    return wire.frame(hello_payload(target.encode(), client.encode()))


def hello_payload(target: bytes, client: bytes, version: int = wire.VERSION) -> bytes:
    """A HELLO payload with raw name bytes: any length, any encoding."""
    return (
        PREFIX.pack(wire.MAGIC, version, wire.HELLO)
        + struct.pack(">H", len(target))
        + target
        + struct.pack(">H", len(client))
        + client
    )


def proof(proof_c: bytes, c1: bytes | None = None) -> bytes:
    """A PROOF frame: ``c1 proof_c`` (a random c1 unless given)."""
    return handshake_frame(wire.PROOF, (os.urandom(32) if c1 is None else c1) + proof_c)


# -- reading ---------------------------------------------------------------------------------------


def recv_exactly(sock: socket.socket, size: int) -> bytes:
    data = b""
    while len(data) < size:
        chunk = sock.recv(size - len(data))
        if not chunk:
            raise AssertionError(f"the connection closed after {len(data)} of {size} bytes")
        data += chunk
    return data


def read_frame(sock: socket.socket, timeout: float = WAIT) -> bytes:
    """The payload of the next frame (fails the test if it does not come within ``timeout``)."""
    sock.settimeout(timeout)
    (size,) = struct.unpack(">I", recv_exactly(sock, 4))
    return recv_exactly(sock, size)


def read_request(sock: socket.socket, timeout: float = WAIT) -> tuple[int, int, int, memoryview]:
    """The next message after the handshake that is not a PING (``kind, flags, id, body``).

    A client pings as soon as its connection is up, so the PING and the first request may come
    in either order; a peer written by hand that answers "the first message" must skip it."""
    while True:
        message = wire.parse_message(read_frame(sock, timeout))
        if message[0] != wire.PING:
            return message


def closed_within(sock: socket.socket, timeout: float = WAIT) -> tuple[bytes, float]:
    """Read until the peer closes (EOF or reset); returns what came and how long it took.
    Fails the test if the connection is still open after ``timeout`` seconds."""
    start = time.monotonic()
    received = b""
    while True:
        remaining = start + timeout - time.monotonic()
        if remaining <= 0:
            raise AssertionError(f"still open after {timeout} s (received {received!r})")
        sock.settimeout(remaining)
        try:
            chunk = sock.recv(65536)
        except (ConnectionResetError, BrokenPipeError):
            return received, time.monotonic() - start
        except TimeoutError:
            continue
        if not chunk:
            return received, time.monotonic() - start
        received += chunk


def still_open(sock: socket.socket, seconds: float) -> bool:
    """True if the peer neither closed nor sent anything for ``seconds`` (a bounded wait)."""
    with selectors.DefaultSelector() as selector:
        selector.register(sock, selectors.EVENT_READ)
        return not selector.select(seconds)


def all_closed_within(socks: list[socket.socket], timeout: float) -> dict[socket.socket, float]:
    """Wait until the peer has closed every socket in ``socks``; the ``time.monotonic()`` at
    which each close was seen. Data received on the way is discarded. Fails after ``timeout``."""
    closed: dict[socket.socket, float] = {}
    deadline = time.monotonic() + timeout
    with selectors.DefaultSelector() as selector:
        for sock in socks:
            sock.setblocking(False)
            selector.register(sock, selectors.EVENT_READ)
        while len(closed) < len(socks):
            remaining = deadline - time.monotonic()
            if remaining <= 0:
                raise AssertionError(
                    f"{len(socks) - len(closed)} of {len(socks)} connections still open"
                    f" after {timeout} s"
                )
            for key, _ in selector.select(min(remaining, 0.5)):
                sock = key.fileobj
                assert isinstance(sock, socket.socket)
                try:
                    chunk = sock.recv(65536)
                except BlockingIOError:
                    continue
                except OSError:
                    chunk = b""
                if not chunk:
                    closed[sock] = time.monotonic()
                    selector.unregister(sock)
    return closed


# -- authenticated raw clients ---------------------------------------------------------------------


@dataclass
class Transcript:
    """The frames of one handshake, as a client saw them (payloads without length prefixes,
    except ``hello`` and ``proof``, which are the frames sent)."""

    hello: bytes
    challenge: bytes
    proof: bytes = b""
    result: bytes = b""

    @property
    def c2(self) -> bytes:
        return self.challenge[7:39]

    @property
    def c1(self) -> bytes:
        return self.proof[10:42]

    @property
    def proof_c(self) -> bytes:
        return self.proof[42:74]

    @property
    def proof_s(self) -> bytes:
        return self.result[7:39]


def authenticate(
    sock: socket.socket, cookie: bytes, client: str, target: str, c1: bytes | None = None
) -> Transcript:
    """Run the client side of the handshake by hand, as a real client would; fails the test
    unless the server accepts it."""
    handshake = wire.ClientHandshake(cookie, client, target, c1 or os.urandom(32))
    first = handshake.start()
    sock.sendall(first)
    challenge = read_frame(sock)
    answer = handshake.receive(challenge)
    sock.sendall(answer)
    result = read_frame(sock)
    assert handshake.receive(result) == b""
    assert handshake.done
    return Transcript(first, challenge, answer, result)


def challenge_for(sock: socket.socket, hello_frame: bytes) -> bytes:
    """Send ``hello_frame`` and return the CHALLENGE payload that answers it."""
    sock.sendall(hello_frame)
    return read_frame(sock)


# -- socket bookkeeping ----------------------------------------------------------------------------


class Sockets:
    """Makes client sockets and closes every one of them at the end of a ``with`` block."""

    def __init__(self) -> None:
        self.all: list[socket.socket] = []

    def connect(self, port: int, timeout: float = WAIT) -> socket.socket:
        sock = socket.create_connection((HOST, port), timeout=timeout)
        self.all.append(sock)
        return sock

    def close_all(self) -> None:
        for sock in self.all:
            with contextlib.suppress(OSError):
                sock.close()
        self.all.clear()

    def __enter__(self) -> Sockets:
        return self

    def __exit__(self, *_exc: object) -> None:
        self.close_all()


def reset(sock: socket.socket) -> None:
    """Close with an RST instead of a FIN (SO_LINGER 0)."""
    sock.setsockopt(socket.SOL_SOCKET, socket.SO_LINGER, struct.pack("ii", 1, 0))
    sock.close()


def send_quietly(sock: socket.socket, data: bytes) -> None:
    """Send what the peer takes; a peer that has already closed is not an error here."""
    with contextlib.suppress(OSError):
        sock.sendall(data)


@contextlib.contextmanager
def open_files_limit(needed: int) -> Iterator[None]:
    """Make sure this process may open ``needed`` more files (raising the soft RLIMIT_NOFILE
    within the hard limit if it must); restore the limit afterwards. Skips the test if the hard
    limit is too low."""
    soft, hard = resource.getrlimit(resource.RLIMIT_NOFILE)
    in_use = len(os.listdir("/proc/self/fd")) if os.path.isdir("/proc/self/fd") else 64
    wanted = in_use + needed
    if soft != resource.RLIM_INFINITY and soft >= wanted:
        yield
        return
    if hard != resource.RLIM_INFINITY and hard < wanted:
        pytest.skip(f"RLIMIT_NOFILE hard limit {hard} < {wanted} files needed")
    resource.setrlimit(resource.RLIMIT_NOFILE, (wanted, hard))
    try:
        yield
    finally:
        resource.setrlimit(resource.RLIMIT_NOFILE, (soft, hard))


# -- a hostile server ------------------------------------------------------------------------------


@contextlib.contextmanager
def hostile_server(
    behave: Callable[[socket.socket], None], connections: int = 1
) -> Iterator[tuple[int, list[bytes]]]:
    """A loopback listener that runs ``behave(conn)`` on each of the first ``connections``
    connections, then closes it. Yields the port and a list where everything each connection
    sent after ``behave`` returned is appended (until it closed, or ``WAIT``)."""
    server = socket.create_server((HOST, 0))
    server.settimeout(WAIT)
    leftovers: list[bytes] = []
    accepted: list[socket.socket] = []

    def serve() -> None:
        for _ in range(connections):
            try:
                conn, _ = server.accept()
            except OSError:
                return
            accepted.append(conn)
            with conn:
                conn.settimeout(WAIT)
                with contextlib.suppress(OSError, AssertionError):
                    behave(conn)
                    leftovers.append(closed_within(conn, WAIT)[0])

    thread = threading.Thread(target=serve, name="hostile-server", daemon=True)
    thread.start()
    try:
        yield int(server.getsockname()[1]), leftovers
    finally:
        for sock in [server, *accepted]:  # wakes a blocked accept or recv
            with contextlib.suppress(OSError):
                sock.shutdown(socket.SHUT_RDWR)
        server.close()
        thread.join(WAIT + 1)
        assert not thread.is_alive(), "the hostile server did not finish"

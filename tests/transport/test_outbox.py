"""The outbox on a socket pair: frames in order and whole, batched, never waited for by a cast,
bounded by the send timeout when the peer does not read."""

from __future__ import annotations

import socket
import struct
import threading
from collections.abc import Iterator

import pytest

from genrpc_actors import BadTcp, RpcError
from genrpc_actors import _protocol as wire
from genrpc_actors._transport._outbox import Outbox
from tests.waiting import WAIT, wait_for


class Peer:
    """The reading end: collects the payloads of every frame received."""

    def __init__(self, sock: socket.socket) -> None:
        self.sock = sock
        self.payloads: list[bytes] = []
        self._decoder = wire.FrameDecoder(1 << 30)
        self._thread = threading.Thread(target=self._read, daemon=True)
        self._thread.start()

    def _read(self) -> None:
        while data := self.sock.recv(1 << 16):
            self.payloads.extend(bytes(p) for p in self._decoder.feed(data))


@pytest.fixture
def sockets() -> Iterator[tuple[socket.socket, socket.socket]]:
    ours, theirs = socket.socketpair()
    yield ours, theirs
    ours.close()
    theirs.close()


@pytest.fixture
def failures() -> list[RpcError]:
    return []


@pytest.fixture
def outbox(sockets, failures) -> Iterator[Outbox]:
    made = Outbox("pair", 5.0, failures.append)
    assert made.attach(sockets[0], None) is None
    yield made
    made.close()
    made.join(WAIT)


def test_frames_from_many_senders_arrive_whole_and_in_each_senders_order(outbox, sockets):
    peer = Peer(sockets[1])

    def sender(n: int) -> None:
        for i in range(300):
            outbox.put(wire.frame(f"{n}:{i}".encode()), block=True)

    threads = [threading.Thread(target=sender, args=(n,)) for n in range(8)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(WAIT)
    wait_for(lambda: len(peer.payloads) == 8 * 300)
    for n in range(8):
        mine = [p for p in peer.payloads if p.startswith(f"{n}:".encode())]
        assert mine == [f"{n}:{i}".encode() for i in range(300)]


def test_casts_queue_for_the_writer_and_leave_in_few_writes(outbox, sockets):
    peer = Peer(sockets[1])
    for i in range(5000):
        outbox.put(wire.frame(str(i).encode()), block=False)
    wait_for(lambda: len(peer.payloads) == 5000)
    assert peer.payloads == [str(i).encode() for i in range(5000)]
    assert outbox.writes < 5000 / 10  # batched, not a system call each


def test_a_frame_in_parts_is_written_from_where_it_lies(outbox, sockets):
    peer = Peer(sockets[1])
    big = bytearray(b"x" * 200_000)
    header = len(b"head") + len(big)
    outbox.put([header.to_bytes(4, "big") + b"head", memoryview(big)], block=True)
    wait_for(lambda: peer.payloads)
    assert peer.payloads == [b"head" + bytes(big)]


def test_a_peer_that_does_not_read_fails_the_send_at_its_timeout(outbox, sockets, failures):
    """Nobody reads the other end: the socket buffers fill and the write gives up at the send
    timeout with BadTcp("send_timeout"), reported once through on_failure."""
    chunk = wire.frame(bytes(1 << 20))
    for _ in range(64):  # far more than a socket pair buffers
        outbox.put(chunk, block=True, send_timeout=0.2)
        if failures:
            break
    assert [type(f) for f in failures] == [BadTcp]
    assert failures[0].reason == "send_timeout"
    assert outbox.queued > 0


def test_a_closed_outbox_drops_what_it_is_given(outbox, sockets):
    outbox.close()
    outbox.put(wire.frame(b"late"), block=True)
    outbox.put(wire.frame(b"late"), block=False)
    assert outbox.writes == 0
    sockets[0].close()
    assert sockets[1].recv(16) == b""


def test_now_writes_in_the_callers_thread_when_the_socket_takes_it(outbox, sockets):
    peer = Peer(sockets[1])
    for i in range(50):
        outbox.put(wire.frame(f"small {i}".encode()), block=False, now=True)
    wait_for(lambda: len(peer.payloads) == 50)
    assert peer.payloads == [f"small {i}".encode() for i in range(50)]
    assert outbox._writer is None  # no thread was needed


def test_now_leaves_what_the_socket_does_not_take_to_the_writer(outbox, sockets):
    big = bytes(range(256)) * (32 * 1024)  # 8 MiB: more than the socket pair buffers
    outbox.put([struct.pack(">I", len(big)), memoryview(big)], block=False, now=True)
    outbox.put(wire.frame(b"after"), block=False, now=True)
    assert outbox._writer is not None  # the rest went to the writer thread, nothing waited
    peer = Peer(sockets[1])
    wait_for(lambda: len(peer.payloads) == 2, timeout=30)
    assert peer.payloads == [big, b"after"]

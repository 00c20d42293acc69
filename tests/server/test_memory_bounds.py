"""What a peer with the cookie can make a node hold: a length prefix alone commits no memory,
whatever it announces (it used to allocate it all at once, for as long as the connection
lived). Measured on a node in its own process, by its RSS."""

from __future__ import annotations

import contextlib
import os
import pickle
import socket
import struct
import time
from collections.abc import Iterator

import psutil
import pytest

from genrpc_actors import Node
from genrpc_actors import _protocol as wire
from genrpc_actors.testing import LocalNode
from tests.hostile_peers import read_frame
from tests.node_fixtures import COOKIE
from tests.waiting import WAIT, wait_for

SERVER = "bounded@127.0.0.1"
RAW = "raw-client@127.0.0.1"
MiB = 1024 * 1024


@pytest.fixture
def authenticated(local_node_factory) -> Iterator[tuple[LocalNode, list[socket.socket]]]:
    node = local_node_factory(SERVER, cookie=COOKIE, tcp_server_port=0)
    socks: list[socket.socket] = []
    yield node, socks
    for sock in socks:
        sock.close()


def connect(port: int) -> socket.socket:
    sock = socket.create_connection(("127.0.0.1", port), timeout=WAIT)
    handshake = wire.ClientHandshake(COOKIE.encode(), RAW, SERVER, os.urandom(32))
    sock.sendall(handshake.start())
    while not handshake.done:
        sock.sendall(handshake.receive(read_frame(sock)))
    return sock


def rss(pid: int) -> int:
    return int(psutil.Process(pid).memory_info().rss)


def legit_caller(node: LocalNode) -> Node:
    """A well-behaved node calling ``node`` beside the attack (its first call already made)."""
    legit = Node.start(
        "legit@127.0.0.1",
        cookie=COOKIE,
        tcp_server_port=False,
        client_config_per_node={SERVER: node.port},
    )
    assert legit.call(SERVER, "operator", "add", (1, 2), timeout=WAIT) == 3
    return legit


def test_length_prefixes_announcing_200_mib_commit_almost_nothing(authenticated):
    node, socks = authenticated
    with legit_caller(node) as legit:
        before = rss(node.pid)
        for _ in range(4):
            sock = connect(node.port)
            socks.append(sock)
            sock.sendall(struct.pack(">I", 200 * MiB) + b"\x01" * 100)  # and nothing more

        def all_read() -> bool:  # each acceptor has taken its prefix in and waits for more
            info = legit.call(SERVER, "genrpc_actors.introspection", "describe", timeout=WAIT)
            raw = [a for a in info["acceptors"] if a["node"] == RAW]
            return len(raw) == 4 and all(a["receives"] >= 2 for a in raw)

        wait_for(all_read)
        grown = rss(node.pid) - before
        assert grown < 16 * MiB, f"RSS grew by {grown / MiB:.0f} MiB for four bare prefixes"
        assert legit.call(SERVER, "operator", "add", (3, 4), timeout=WAIT) == 7


def test_a_peer_that_reads_no_replies_gets_no_more_requests_read(local_node_factory):
    """20,000 pipelined calls each answered by 60 kB that the peer never reads: the node stops
    reading that connection's requests once 8 MiB of replies wait (they used to queue without
    end: 1.7 GB of RSS), serves others meanwhile, and ends the connection at send_timeout."""
    node = local_node_factory(SERVER, cookie=COOKIE, tcp_server_port=0, send_timeout=3.0)
    calls = b"".join(
        wire.message(wire.CALL, 0, i, pickle.dumps(("builtins", None, "bytes", (60_000,), {})))
        for i in range(20_000)
    )
    with legit_caller(node) as legit:
        before = rss(node.pid)
        sock = connect(node.port)
        try:
            sock.settimeout(0.2)
            with contextlib.suppress(TimeoutError):
                sock.sendall(calls)  # until the node stops reading (the kernel's buffers fill)
            peak = before
            deadline = time.monotonic() + 2.0  # within send_timeout: the connection lives
            while time.monotonic() < deadline:
                peak = max(peak, rss(node.pid))
                assert legit.call(SERVER, "operator", "add", (2, 2), timeout=WAIT) == 4
            grown = peak - before
            assert grown < 150 * MiB, f"RSS grew by {grown / MiB:.0f} MiB"
        finally:
            sock.close()

"""Hardening: hostile peers on a node's port, each test one hostile input and its outcome.

The nodes run in this process (``Node.start`` on a free loopback port) and the hostile peers are
raw sockets that speak the wire format by hand (``tests/hostile_peers.py``). What is checked, per
API.md's security model: before authentication, frames are small and fixed-format, nothing is
unpickled, and a peer that does not authenticate in time is dropped; after it, a frame over
``max_frame_size`` or a malformed message closes that connection only; and through all of it the
node keeps serving the peers that did authenticate.
"""

from __future__ import annotations

import logging
import os
import pickle
import random
import resource
import socket
import stat
import struct
import threading
import time
from collections.abc import Callable, Iterator
from typing import Any

import dill
import pytest

from genrpc_actors import BadRpc, BadTcp, ConfigError, Node, RpcError
from genrpc_actors import _protocol as wire
from genrpc_actors.testing import LocalNode, connections, incoming
from tests import handshake_formulas as f
from tests.hostile_peers import (
    HOST,
    WAIT,
    Sockets,
    all_closed_within,
    authenticate,
    challenge_for,
    closed_within,
    handshake_frame,
    hello,
    hello_payload,
    hostile_server,
    open_files_limit,
    proof,
    read_frame,
    read_request,
    reset,
    send_quietly,
    still_open,
)
from tests.remote.functions import WritesFile
from tests.waiting import wait_for

COOKIE = "hardening-cookie"
SERVER = "hard-server@127.0.0.1"
CLIENT = "hard-client@127.0.0.1"
RAW = "raw@127.0.0.1"  # the name a hand-made client claims
HOSTILE = "hostile@127.0.0.1"  # a hand-made server
HELPERS = "tests.remote.functions"
AT_ONCE = 1.0  # "at once": far below every authentication_timeout these tests set for it
SLOW_AUTH = 30.0  # an authentication_timeout that no "at once" outcome can be confused with
AUTH = 0.5  # a short authentication_timeout, for the cases that wait for it
KiB = 1024
SMALL_FRAME = 64 * KiB
HALF_OPEN = 1000


# -- nodes -----------------------------------------------------------------------------------------


@pytest.fixture
def make_node() -> Iterator[Callable[..., Node]]:
    """``make(name, **config)``: a node in this process on a free loopback port (unless
    ``tcp_server_port`` says otherwise), stopped after the test."""
    started: list[Node] = []

    def make(name: str, **config: Any) -> Node:
        config.setdefault("cookie", COOKIE)
        config.setdefault("tcp_server_port", 0)
        config.setdefault("listen_address", HOST)
        node = Node.start(name, **config)
        started.append(node)
        return node

    yield make
    for node in reversed(started):
        node.stop()


def server_and_client(
    make_node: Callable[..., Node], server: dict[str, Any] | None = None, **client: Any
) -> tuple[Node, Node]:
    """A server node and a client node (no listener) with one authenticated connection to it."""
    serving = make_node(SERVER, **(server or {}))
    client.setdefault("client_config_per_node", {SERVER: serving.port})
    calling = make_node(CLIENT, tcp_server_port=False, **client)
    assert calling.call(SERVER, HELPERS, "echo", ["hello"], timeout=WAIT) == "hello"
    wait_for(lambda: authenticated(serving) == [CLIENT])
    return serving, calling


def authenticated(node: Node) -> list[str]:
    return sorted(a.peer_name for a in incoming(node) if a.peer_name)


def acceptor_threads() -> int:
    """Threads of incoming connections in this process: their acceptor actors' (one per
    authenticated connection; one that has not authenticated has none)."""
    return sum(t.name.startswith("AcceptorActor-") for t in threading.enumerate())


def still_serving(server: Node, client: Node) -> None:
    """The client's authenticated connection is the one it had and works, a new one can be
    made, and the server is back to those two, its authenticated acceptors."""
    connection = connections(client)[SERVER]
    assert not connection.closed
    assert client.call(SERVER, HELPERS, "echo", [1], timeout=WAIT) == 1
    assert connections(client)[SERVER] is connection
    assert client.call((SERVER, "fresh"), HELPERS, "echo", [2], timeout=WAIT) == 2
    wait_for(lambda: server.statistics().acceptors == 2)
    assert authenticated(server) == [CLIENT, CLIENT]


# -- before authentication: frames are small and fixed-format -------------------------------------


@pytest.mark.parametrize("size", [wire.PREAUTH_MAX + 1, 64 * KiB, 2**31, 2**32 - 1])
def test_a_preauth_length_prefix_over_the_limit_closes_at_once(make_node, size):
    server = make_node(SERVER, authentication_timeout=SLOW_AUTH)
    with Sockets() as socks:
        sock = socks.connect(server.port)
        sock.sendall(struct.pack(">I", size))  # the prefix alone: no need to wait for a body
        received, elapsed = closed_within(sock)
    assert received == b""
    assert elapsed < AT_ONCE
    wait_for(lambda: not server.statistics().acceptors)


def test_a_preauth_length_prefix_of_exactly_the_limit_waits_for_its_body(make_node):
    """The bound is exact: PREAUTH_MAX itself is a legal size, so the node waits for the body
    (until authentication_timeout) instead of closing at once."""
    server = make_node(SERVER, authentication_timeout=AUTH * 3)
    with Sockets() as socks:
        sock = socks.connect(server.port)
        start = time.monotonic()
        sock.sendall(struct.pack(">I", wire.PREAUTH_MAX) + wire.MAGIC)
        assert still_open(sock, AUTH)
        received, _ = closed_within(sock)
    assert received == b""
    assert time.monotonic() - start >= AUTH * 3 * 0.8


def _mutated_hello(offset: int, value: bytes) -> bytes:
    frame = bytearray(hello(SERVER, RAW))
    frame[4 + offset : 4 + offset + len(value)] = value
    return bytes(frame)


WRONG_HEADS = {
    "magic": _mutated_hello(0, b"GRPX"),
    "lowercase magic": _mutated_hello(0, b"grpc"),
    "zero magic": _mutated_hello(0, bytes(4)),
    "wrong magic and version 1": _mutated_hello(0, b"GRPX\x01"),
    "type 0": _mutated_hello(5, b"\x00"),
    "type CHALLENGE": _mutated_hello(5, bytes([wire.CHALLENGE])),
    "type PROOF": _mutated_hello(5, bytes([wire.PROOF])),
    "type RESULT": _mutated_hello(5, bytes([wire.RESULT])),
    "type 255": _mutated_hello(5, b"\xff"),
}


@pytest.mark.parametrize("frame", list(WRONG_HEADS.values()), ids=list(WRONG_HEADS))
def test_a_hello_sized_frame_with_a_wrong_head_closes_at_once(make_node, frame):
    assert len(frame) == len(hello(SERVER, RAW))  # the right size: only the head is wrong
    server = make_node(SERVER, authentication_timeout=SLOW_AUTH)
    with Sockets() as socks:
        sock = socks.connect(server.port)
        sock.sendall(frame)
        received, elapsed = closed_within(sock)
    assert received == b""  # not even a CHALLENGE: nothing is said to a stranger
    assert elapsed < AT_ONCE


OTHER_VERSIONS = {
    "version 0": (0, _mutated_hello(4, b"\x00")),
    "version 1": (1, _mutated_hello(4, b"\x01")),
    "version 3": (3, _mutated_hello(4, b"\x03")),
    "version 255": (255, _mutated_hello(4, b"\xff")),
    "version 1, type PROOF": (1, _mutated_hello(4, bytes([1, wire.PROOF]))),
}


@pytest.mark.parametrize(
    ("version", "frame"), list(OTHER_VERSIONS.values()), ids=list(OTHER_VERSIONS)
)
def test_a_hello_sized_frame_of_another_version_gets_a_version_refusal(make_node, version, frame):
    """The right magic, another version: a CHALLENGE in that version's prefix with status 4 and
    64 zero bytes (nothing keyed, nothing random), then the close, at once."""
    server = make_node(SERVER, authentication_timeout=SLOW_AUTH)
    with Sockets() as socks:
        sock = socks.connect(server.port)
        sock.sendall(frame)
        received, elapsed = closed_within(sock)
    refusal = wire.MAGIC + bytes([version, wire.CHALLENGE, wire.BAD_VERSION]) + bytes(64)
    assert received == wire.frame(refusal)
    assert elapsed < AT_ONCE
    wait_for(lambda: not server.statistics().acceptors)


MALFORMED_HELLOS = {
    "no names": handshake_frame(wire.HELLO),
    "names cut short": wire.frame(hello_payload(SERVER.encode(), RAW.encode())[:-3]),
    "a version 1 c1 before the names": handshake_frame(
        wire.HELLO, bytes(32) + hello_payload(SERVER.encode(), RAW.encode())[6:]
    ),
    "empty target": wire.frame(hello_payload(b"", RAW.encode())),
    "empty client": wire.frame(hello_payload(SERVER.encode(), b"")),
    "target of 256 bytes": wire.frame(hello_payload(b"t" * 246 + b"@127.0.0.1", b"c@h")),
    "target not UTF-8": wire.frame(hello_payload(b"\xff\xfe@127.0.0.1", RAW.encode())),
    "client not UTF-8": wire.frame(hello_payload(SERVER.encode(), b"\xc3\x28@h")),
    "a name longer than the frame": wire.frame(hello_payload(SERVER.encode(), b"c@h")[:-2]),
    "a trailing byte": wire.frame(hello_payload(SERVER.encode(), RAW.encode()) + b"\x00"),
    "PROOF first": proof(bytes(32)),
    "RESULT ok first": handshake_frame(wire.RESULT, bytes(33)),
    "an empty frame": wire.frame(b""),
    "a full-size frame": wire.frame(
        hello_payload(SERVER.encode(), RAW.encode()).ljust(wire.PREAUTH_MAX, b"\x00")
    ),
}


@pytest.mark.parametrize("frame", list(MALFORMED_HELLOS.values()), ids=list(MALFORMED_HELLOS))
def test_a_malformed_hello_closes_at_once(make_node, frame):
    server = make_node(SERVER, authentication_timeout=SLOW_AUTH)
    with Sockets() as socks:
        sock = socks.connect(server.port)
        sock.sendall(frame)
        received, elapsed = closed_within(sock)
    assert received == b""
    assert elapsed < AT_ONCE


@pytest.mark.parametrize(
    "target", ["other@127.0.0.1", "hard-server@localhost", "HARD-SERVER@127.0.0.1"]
)
def test_a_hello_naming_another_node_gets_badnode_then_close(make_node, target):
    server = make_node(SERVER, authentication_timeout=SLOW_AUTH)
    with Sockets() as socks:
        sock = socks.connect(server.port)
        sock.sendall(hello(target, RAW))
        received, elapsed = closed_within(sock)
    name = SERVER.encode()
    badnode = bytes([wire.BADNODE]) + bytes(32) + struct.pack(">H", len(name)) + name
    assert received == handshake_frame(wire.CHALLENGE, badnode)  # status 1, no challenge
    assert elapsed < AT_ONCE


def test_a_second_hello_in_place_of_the_proof_closes_at_once(make_node):
    server = make_node(SERVER, authentication_timeout=SLOW_AUTH)
    with Sockets() as socks:
        sock = socks.connect(server.port)
        challenge = challenge_for(sock, hello(SERVER, RAW))
        assert challenge[6] == wire.OK
        sock.sendall(hello(SERVER, RAW))
        received, elapsed = closed_within(sock)
    assert received == b""
    assert elapsed < AT_ONCE


# -- after authentication: max_frame_size ----------------------------------------------------------


def padded_call(request_id: int, size: int) -> tuple[bytes, bytes]:
    """A CALL of ``echo(pad)`` whose payload (header and body) is exactly ``size`` bytes."""

    def body(pad: int) -> bytes:
        return pickle.dumps((HELPERS, None, "echo", (b"x" * pad,), {}), protocol=5)

    overhead = len(body(1000)) - 1000
    pad = size - 10 - overhead
    data = body(pad)
    message = wire.message(wire.CALL, 0, request_id, data)
    assert len(message) == 4 + size
    return message, b"x" * pad


def test_an_authenticated_frame_over_max_frame_size_is_disconnected(make_node):
    server, client = server_and_client(make_node, {"max_frame_size": SMALL_FRAME})
    with Sockets() as socks:
        sock = socks.connect(server.port)
        authenticate(sock, COOKIE.encode(), RAW, SERVER)
        sock.sendall(struct.pack(">I", SMALL_FRAME + 1))
        received, elapsed = closed_within(sock)
    assert received == b""
    assert elapsed < AT_ONCE
    still_serving(server, client)


def test_an_authenticated_frame_of_exactly_max_frame_size_is_served(make_node):
    """The other side of the bound: a frame of max_frame_size itself is a legal request."""
    server, client = server_and_client(make_node, {"max_frame_size": SMALL_FRAME})
    message, pad = padded_call(7, SMALL_FRAME)
    with Sockets() as socks:
        sock = socks.connect(server.port)
        authenticate(sock, COOKIE.encode(), RAW, SERVER)
        sock.sendall(message)
        kind, flags, request_id, body = wire.parse_message(read_frame(sock))
    assert (kind, request_id) == (wire.REPLY, 7)
    assert wire.decode_body(body, flags) == pad
    still_serving(server, client)


def test_a_reply_over_the_callers_max_frame_size_is_bad_tcp(make_node):
    server, client = server_and_client(make_node, max_frame_size=SMALL_FRAME)
    start = time.monotonic()
    with pytest.raises(BadTcp) as info:
        client.call(SERVER, "os", "urandom", [4 * SMALL_FRAME], timeout=20.0)
    assert info.value.reason == "frame_too_large"
    assert time.monotonic() - start < AT_ONCE  # the connection closed: not the call's timeout
    wait_for(lambda: SERVER not in connections(client))
    assert client.call(SERVER, HELPERS, "echo", [3], timeout=WAIT) == 3  # a new connection
    wait_for(lambda: authenticated(server) == [CLIENT])


def test_a_request_over_the_servers_max_frame_size_is_bad_tcp(make_node):
    server, client = server_and_client(make_node, {"max_frame_size": SMALL_FRAME})
    start = time.monotonic()
    with pytest.raises(BadTcp):
        client.call(SERVER, HELPERS, "echo", [b"x" * (4 * SMALL_FRAME)], timeout=20.0)
    assert time.monotonic() - start < AT_ONCE
    assert client.call(SERVER, HELPERS, "echo", [4], timeout=WAIT) == 4
    wait_for(lambda: authenticated(server) == [CLIENT])


# -- replayed and reflected handshake messages ---------------------------------------------------

REFUSAL = handshake_frame(wire.RESULT, bytes([wire.INVALID_COOKIE]) + bytes(32))  # nothing keyed


def node_challenge(c2: bytes) -> bytes:
    """The CHALLENGE this module's server node answers a genuine HELLO with: built here from c2
    and the node's name alone, no cookie (the docstring's layout)."""
    return f.challenge_payload(f.OK, c2, SERVER.encode())


def _replayed(port: int, socks: Sockets) -> tuple[socket.socket, bytes]:
    """A client side recorded on an authenticated connection (its HELLO, then its PROOF: c1 and
    proof_c) replayed on a new connection, which gets a fresh c2."""
    recorded = authenticate(socks.connect(port), COOKIE.encode(), RAW, SERVER)
    sock = socks.connect(port)
    challenge = challenge_for(sock, recorded.hello)  # the very same HELLO
    assert challenge == node_challenge(challenge[7:39])
    assert challenge[7:39] != recorded.c2  # a fresh challenge each time
    return sock, recorded.proof


def _reflected(port: int, socks: Sockets) -> tuple[socket.socket, bytes]:
    """The server's own proof sent back to it as a client proof, over the same c1. A stranger
    sees no proof_s before it has proved the cookie; this one is eavesdropped on a genuine
    client's connection."""
    recorded = authenticate(socks.connect(port), COOKIE.encode(), RAW, SERVER)
    sock = socks.connect(port)
    challenge_for(sock, recorded.hello)
    return sock, proof(recorded.proof_s, c1=recorded.c1)


def _oracle(port: int, socks: Sockets) -> tuple[socket.socket, bytes]:
    """The server asked to compute a proof for the attacker: on a second connection, a PROOF
    whose c1 is the first connection's c2 (a proof over both would do for the first session).
    The second connection gets the fixed refusal, 32 zero bytes where a proof would be, and
    that is all there is to send back on the first."""
    sock = socks.connect(port)
    c2 = challenge_for(sock, hello(SERVER, RAW))[7:39]
    other = socks.connect(port)
    other_c2 = challenge_for(other, hello(SERVER, RAW))[7:39]
    other.sendall(proof(bytes(32), c1=c2))
    answer, _ = closed_within(other)
    assert answer == REFUSAL
    return sock, proof(answer[-32:], c1=other_c2)


@pytest.mark.parametrize(
    "forge", [_replayed, _reflected, _oracle], ids=lambda forge: forge.__name__[1:]
)
def test_a_proof_not_computed_with_the_cookie_is_refused(make_node, forge):
    server = make_node(SERVER, authentication_timeout=SLOW_AUTH)
    with Sockets() as socks:
        sock, forged = forge(server.port, socks)
        sock.sendall(forged)
        received, elapsed = closed_within(sock)
        assert received == REFUSAL  # status 2 and a zero proof: nothing keyed
        assert elapsed < AT_ONCE
        expected = [] if forge is _oracle else [RAW]  # the recording connection
        wait_for(lambda: authenticated(server) == expected)
        assert authenticated(server) == expected


def test_a_replayed_proof_leaves_the_recorded_connection_working(make_node):
    server = make_node(SERVER, authentication_timeout=SLOW_AUTH)
    with Sockets() as socks:
        sock, forged = _replayed(server.port, socks)
        original = socks.all[0]
        sock.sendall(forged)
        closed_within(sock)
        original.sendall(
            wire.message(wire.CALL, 0, 9, pickle.dumps((HELPERS, None, "pid", (), {})))
        )
        kind, flags, request_id, body = wire.parse_message(read_frame(original))
    assert (kind, request_id, wire.decode_body(body, flags)) == (
        wire.REPLY,
        9,
        os.getpid(),
    )
    wait_for(lambda: not server.statistics().acceptors)


def test_a_challenge_replayed_to_a_client_is_refused(make_node):
    """A hostile server replays what the real node said on a genuine connection of this same
    client name: its CHALLENGE (which holds nothing the client could check, so the client
    answers it with a PROOF) and its RESULT, with a genuine proof_s, made over that connection's
    c1. The client's c1 is fresh: it sees that proof_s is not over it, refuses the server, and
    sends it nothing more, no request."""
    server = make_node(SERVER, authentication_timeout=SLOW_AUTH)
    with Sockets() as socks:
        recorded = authenticate(socks.connect(server.port), COOKIE.encode(), CLIENT, SERVER)
    proofs: list[bytes] = []

    def replay(conn: socket.socket) -> None:
        read_frame(conn)  # the client's HELLO
        conn.sendall(wire.frame(recorded.challenge))
        proofs.append(read_frame(conn))
        conn.sendall(wire.frame(recorded.result))

    with hostile_server(replay) as (port, leftovers):
        client = make_node(CLIENT, tcp_server_port=False, client_config_per_node={SERVER: port})
        with pytest.raises(BadRpc) as info:
            client.call(SERVER, HELPERS, "echo", [1], timeout=WAIT)
        assert info.value.reason == "invalid_cookie"
    assert leftovers == [b""]  # nothing after the RESULT: no request to an unproved server
    (sent,) = proofs
    assert sent[:6] == wire.MAGIC + bytes([wire.VERSION, wire.PROOF])
    assert sent[6:38] != recorded.c1  # a fresh c1, which the recorded proof_s is not over


# -- no offline oracle: nothing keyed before the client has proved the cookie ---------------------

# a dictionary an attacker might try, the true cookie among them
CANDIDATES = [COOKIE.encode(), b"hardening-cookiE", b"hardening-cookie!", b"x" * 16, b"secret"]
GUESS = b"guess"  # what the stranger proves with


def test_a_stranger_gets_nothing_to_test_cookie_guesses_against(make_node):
    """A peer without the cookie connects, says HELLO, and proves with a guess. All it gets is a
    CHALLENGE that, apart from c2, is built from the node's name alone, and the fixed refusal:
    bytes that every candidate cookie predicts alike. An offline search over a dictionary that
    holds the true cookie confirms none of them; the same search over a genuine client's
    transcript (the control) confirms the true cookie, and only it."""
    server = make_node(SERVER, authentication_timeout=SLOW_AUTH)
    c1 = os.urandom(32)
    with Sockets() as socks:
        sock = socks.connect(server.port)
        challenge = challenge_for(sock, hello(SERVER, RAW))
        c2 = challenge[7:39]
        second = challenge_for(socks.connect(server.port), hello(SERVER, RAW))
        sock.sendall(proof(f.proof_c(GUESS, c2, c1, RAW.encode(), SERVER.encode()), c1=c1))
        rest, elapsed = closed_within(sock)
        genuine = authenticate(socks.connect(server.port), COOKIE.encode(), RAW, SERVER)
    assert elapsed < AT_ONCE
    # what the node said, byte for byte, is what a node holding any cookie but the guess says
    assert challenge == node_challenge(c2)
    assert second == node_challenge(second[7:39])
    assert second[7:39] != c2
    assert rest == REFUSAL
    seen = wire.frame(challenge) + rest
    session = {"c1": c1, "c2": c2, "client": RAW.encode(), "server": SERVER.encode()}
    assert f.cookies_confirmed(CANDIDATES, seen, **session) == set()
    # the control: where the node did prove itself (to a client that proved the cookie first)
    control = {
        "c1": genuine.c1,
        "c2": genuine.c2,
        "client": RAW.encode(),
        "server": SERVER.encode(),
    }
    transcript = wire.frame(genuine.challenge) + wire.frame(genuine.result)
    assert f.cookies_confirmed(CANDIDATES, transcript, **control) == {COOKIE.encode()}


def test_a_node_proves_itself_by_the_documented_formulas(make_node):
    """A client written from the docstring alone gets in: the node checks the documented
    proof_c, answers the documented proof_s, and serves the connection."""
    server = make_node(SERVER, authentication_timeout=SLOW_AUTH)
    cookie, client, target = COOKIE.encode(), RAW.encode(), SERVER.encode()
    c1 = os.urandom(32)
    call = wire.message(wire.CALL, 0, 3, pickle.dumps((HELPERS, None, "echo", ("x",), {})))
    with Sockets() as socks:
        sock = socks.connect(server.port)
        challenge = challenge_for(sock, wire.frame(f.hello_payload(target, client)))
        c2 = challenge[7:39]
        assert challenge == node_challenge(c2)
        sock.sendall(wire.frame(f.proof_payload(c1, f.proof_c(cookie, c2, c1, client, target))))
        result = read_frame(sock)
        assert result == f.result_payload(f.OK, f.proof_s(cookie, c1, c2, target, client))
        sock.sendall(call)
        kind, flags, request_id, body = wire.parse_message(read_frame(sock))
    assert (kind, request_id, wire.decode_body(body, flags)) == (wire.REPLY, 3, "x")


def test_a_connecting_node_proves_itself_by_the_documented_formulas(make_node):
    """A server written from the docstring alone: the node's HELLO and PROOF are the documented
    bytes, and it takes the documented proof_s and makes its call."""
    cookie, client, target = COOKIE.encode(), CLIENT.encode(), HOSTILE.encode()
    c2 = os.urandom(32)
    seen: list[bytes] = []

    def documented(conn: socket.socket) -> None:
        seen.append(read_frame(conn))  # HELLO
        conn.sendall(wire.frame(f.challenge_payload(f.OK, c2, target)))
        seen.append(read_frame(conn))  # PROOF
        c1 = seen[-1][6:38]
        conn.sendall(wire.frame(f.result_payload(f.OK, f.proof_s(cookie, c1, c2, target, client))))
        _, _, request_id, _ = read_request(conn)
        conn.sendall(wire.message(wire.REPLY, 0, request_id, pickle.dumps("documented")))

    with hostile_server(documented) as (port, _):
        node = make_node(CLIENT, tcp_server_port=False, client_config_per_node={HOSTILE: port})
        assert node.call(HOSTILE, HELPERS, "echo", [1], timeout=WAIT) == "documented"
    hello_seen, proof_seen = seen
    assert hello_seen == f.hello_payload(target, client)
    c1 = proof_seen[6:38]
    assert proof_seen == f.proof_payload(c1, f.proof_c(cookie, c2, c1, client, target))


# -- another protocol version ----------------------------------------------------------------------


def test_a_version_1_hello_gets_a_version_refusal_at_once_and_the_node_serves_on(make_node):
    """A version 1 node's HELLO, byte for byte ("GRPC" 1 1 c1 tlen target clen client): the node
    answers, at once, a CHALLENGE in version 1's prefix with status 4 and 64 zero bytes (which a
    version 1 node reads as a refusal, nothing keyed in it), closes, and goes on serving."""
    server, client = server_and_client(make_node, {"authentication_timeout": SLOW_AUTH})
    target, name = SERVER.encode(), RAW.encode()
    v1_hello = (
        b"GRPC\x01\x01"
        + os.urandom(32)
        + struct.pack(">H", len(target))
        + target
        + struct.pack(">H", len(name))
        + name
    )
    with Sockets() as socks:
        sock = socks.connect(server.port)
        sock.sendall(struct.pack(">I", len(v1_hello)) + v1_hello)
        received, elapsed = closed_within(sock, timeout=AT_ONCE * 3)
    refusal = b"GRPC\x01\x02\x04" + bytes(64)  # version 1, CHALLENGE, status 4
    assert received == struct.pack(">I", 71) + refusal
    assert elapsed < AT_ONCE
    still_serving(server, client)


# -- a short cookie ----------------------------------------------------------------------------

SHORT_COOKIES = {
    "15 bytes, listening": ("#" * 15, {}, True),
    "1 byte, listening": ("#", {}, True),
    "15 bytes in 8 characters, listening": ("é" * 7 + "#", {}, True),
    "16 bytes, listening": ("#" * 16, {}, False),
    "16 bytes in 8 characters, listening": ("é" * 8, {}, False),
    "64 bytes, listening": ("#" * 64, {}, False),
    "15 bytes, not listening": ("#" * 15, {"tcp_server_port": False}, False),
}


@pytest.mark.parametrize(
    ("cookie", "config", "warned"), list(SHORT_COOKIES.values()), ids=list(SHORT_COOKIES)
)
def test_a_listening_node_with_a_cookie_under_16_bytes_warns_at_start(
    make_node, caplog, cookie, config, warned
):
    with caplog.at_level(logging.WARNING, logger="genrpc_actors"):
        make_node("short@127.0.0.1", cookie=cookie, **config)
    records = [r for r in caplog.records if "event=short_cookie" in r.getMessage()]
    if warned:
        (record,) = records  # once
        assert record.name == "genrpc_actors"
        assert record.levelno == logging.WARNING
        assert "short@127.0.0.1" in record.getMessage()
        assert f"bytes={len(cookie.encode())}" in record.getMessage()
    else:
        assert records == []
    assert cookie not in caplog.text  # the warning never shows the cookie


# -- authentication_timeout ------------------------------------------------------------------------

STALLS = {  # what the peer sends before it stalls; whether it gets a CHALLENGE
    "nothing": (b"", False),
    "half a length prefix": (b"\x00\x00", False),
    "a length prefix and no body": (struct.pack(">I", 80), False),
    "a partial HELLO": (hello(SERVER, RAW)[:20], False),
    "a HELLO and no PROOF": (hello(SERVER, RAW), True),
    "a HELLO and half a PROOF": (hello(SERVER, RAW) + proof(bytes(32), c1=bytes(32))[:37], True),
}


@pytest.mark.parametrize(("data", "answered"), list(STALLS.values()), ids=list(STALLS))
def test_a_peer_that_stalls_is_dropped_at_authentication_timeout(make_node, data, answered):
    server = make_node(SERVER, authentication_timeout=AUTH)
    with Sockets() as socks:
        sock = socks.connect(server.port)
        start = time.monotonic()
        if data:
            sock.sendall(data)
        received, _ = closed_within(sock)
        lifetime = time.monotonic() - start
    assert AUTH * 0.8 <= lifetime <= AUTH + 2.5
    if answered:  # its CHALLENGE (nothing keyed in it), then nothing
        assert received[4:11] == wire.MAGIC + bytes([wire.VERSION, wire.CHALLENGE, wire.OK])
        assert received == wire.frame(node_challenge(received[11:43]))
    else:
        assert received == b""
    wait_for(lambda: not server.statistics().acceptors)


def test_a_peer_that_trickles_is_dropped_at_authentication_timeout(make_node):
    """A byte every 50 ms keeps the connection busy, but the deadline is for the handshake as a
    whole, not per read."""
    server = make_node(SERVER, authentication_timeout=AUTH)
    frame = hello(SERVER, RAW)
    sent = 0
    with Sockets() as socks:
        sock = socks.connect(server.port)
        start = time.monotonic()
        while sent < len(frame) and time.monotonic() - start < WAIT:
            try:
                sock.sendall(frame[sent : sent + 1])
            except OSError:
                break
            sent += 1
            if not still_open(sock, 0.05):
                break
        received, _ = closed_within(sock)
        lifetime = time.monotonic() - start
    assert received == b""
    assert sent < len(frame)  # dropped before the HELLO was even complete
    assert AUTH * 0.8 <= lifetime <= AUTH + 2.5


def test_a_thousand_half_open_connections_do_not_stop_authenticated_traffic(make_node):
    auth = 1.0
    # room for the flood and the fresh connection: past max_pending_handshakes (1000 by
    # default) a new connection would be refused at once, by design (see the tests for it)
    settings = {"authentication_timeout": auth, "max_pending_handshakes": HALF_OPEN + 50}
    server, client = server_and_client(make_node, settings)
    connection = connections(client)[SERVER]
    listener, acceptors = server.tree.child("tcp_listener"), server.tree.child("acceptors")
    threads_before = acceptor_threads()
    outcomes: list[tuple[float, Any]] = []
    done = threading.Event()

    def keep_calling() -> None:
        n = 0
        while not done.is_set():
            n += 1
            at = time.monotonic()
            try:
                outcomes.append((at, client.call(SERVER, HELPERS, "echo", [n], timeout=WAIT) == n))
            except Exception as exc:
                outcomes.append((at, exc))

    caller = threading.Thread(target=keep_calling, name="hardening-caller", daemon=True)
    with open_files_limit(2 * HALF_OPEN + 200), Sockets() as socks:
        caller.start()
        try:
            opened = {}
            flood_start = time.monotonic()
            for _ in range(HALF_OPEN):
                sock = socks.connect(server.port)
                opened[sock] = time.monotonic()
            # a new authenticated connection is made while they all wait
            assert client.call((SERVER, "fresh"), HELPERS, "echo", ["f"], timeout=WAIT) == "f"
            closed = all_closed_within(list(opened), timeout=auth + 15.0)
            flood_end = max(closed.values())
        finally:
            done.set()
            caller.join(WAIT)
    assert not caller.is_alive()
    lifetimes = [closed[sock] - opened[sock] for sock in opened]
    assert min(lifetimes) >= auth * 0.8  # shed at authentication_timeout, not before
    assert max(lifetimes) <= auth + 10.0
    during = [ok for at, ok in outcomes if flood_start <= at <= flood_end]
    assert len(during) >= 5, f"only {len(during)} calls ran during the flood"
    failures = [ok for _, ok in outcomes if ok is not True]
    assert not failures, failures[:3]
    wait_for(lambda: server.statistics().acceptors == 2)
    assert authenticated(server) == [CLIENT, CLIENT]
    wait_for(lambda: acceptor_threads() <= threads_before + 1)  # + the fresh connection
    assert server.tree.child("tcp_listener") is listener  # never restarted
    assert server.tree.child("acceptors") is acceptors
    assert connections(client)[SERVER] is connection
    assert not connection.closed


# -- nothing an unauthenticated peer sends is unpickled ------------------------------------------


def canary_pickles(path: str) -> list[bytes]:
    """Pickles that write ``path`` when loaded: every protocol, and dill."""
    canary = WritesFile(path)
    return [pickle.dumps(canary, protocol=p) for p in range(6)] + [dill.dumps(canary)]


def structured_preauth_inputs(payload: bytes, ascii_payload: bytes) -> list[bytes]:
    """Where a pickle could be slipped in before authentication, frame by frame."""
    valid = hello(SERVER, RAW)
    call = wire.message(wire.CALL, 0, 1, payload)
    return [
        payload,  # unframed
        wire.frame(payload),
        wire.frame(payload + bytes(2 * wire.PREAUTH_MAX)),  # over the limit
        struct.pack(">I", 8) + payload,  # a length prefix that lies
        call,
        wire.message(wire.CALL, wire.DILL, 1, payload),
        wire.message(wire.CAST, 0, 1, payload),
        wire.message(wire.ABCAST, 0, 1, payload),
        wire.message(wire.SBCAST, 0, 1, payload),
        *(handshake_frame(kind, payload) for kind in (1, 2, 3, 4)),
        wire.frame(hello_payload(SERVER.encode(), RAW.encode()) + payload),
        wire.frame(hello_payload(SERVER.encode(), RAW.encode(), version=1) + payload),
        valid + wire.frame(payload),  # in place of the PROOF
        valid + call,
        valid + proof(payload[:32]) + call,  # a wrong PROOF, then a CALL at once
        valid + proof(bytes(32)) + call,
        valid + proof(payload[:32] + payload),
        wire.frame(hello_payload(SERVER.encode(), ascii_payload)) + proof(bytes(32)) + call,
        wire.frame(hello_payload(ascii_payload, RAW.encode())) + call,
    ]


def random_preauth_input(rng: random.Random, payload: bytes) -> bytes:
    valid = hello(SERVER, RAW)
    choice = rng.randrange(6)
    if choice == 0:  # noise with the pickle somewhere in it
        noise = rng.randbytes(rng.randint(0, 600))
        at = rng.randint(0, len(noise))
        return noise[:at] + payload + noise[at:]
    if choice == 1:  # a plausible length prefix, then noise and the pickle
        body = rng.randbytes(rng.randint(0, 300)) + payload
        return struct.pack(">I", rng.randint(0, wire.PREAUTH_MAX)) + body
    if choice == 2:  # a HELLO with bits flipped, then the pickle as a frame
        flipped = bytearray(valid)
        for _ in range(rng.randint(1, 4)):
            flipped[rng.randrange(4, len(flipped))] ^= 1 << rng.randrange(8)
        return bytes(flipped) + wire.frame(payload)
    if choice == 3:  # a valid HELLO, noise, and a CALL carrying the pickle
        junk = rng.randbytes(rng.randint(0, 200))
        return valid + junk + wire.message(wire.CALL, rng.randrange(256), 1, payload)
    if choice == 4:  # a handshake head of a random type with the pickle as its body
        return handshake_frame(rng.randrange(256), payload + rng.randbytes(rng.randint(0, 50)))
    # a message header of a random kind and flags
    kind, flags = rng.randrange(256), rng.randrange(256)
    return wire.message(kind, flags, rng.getrandbits(64), payload)


def test_nothing_an_unauthenticated_peer_sends_is_ever_unpickled(make_node, tmp_path):
    server, client = server_and_client(make_node, {"authentication_timeout": AUTH})
    canary = tmp_path / "canary"
    payloads = canary_pickles(str(canary))
    ascii_payload = payloads[0]  # protocol 0 is ASCII: it passes as a node name
    ascii_payload.decode("ascii")
    assert len(ascii_payload) <= wire.MAX_NAME
    rng = random.Random(20240607)
    inputs = [
        data for payload in payloads for data in structured_preauth_inputs(payload, ascii_payload)
    ]
    inputs += [random_preauth_input(rng, rng.choice(payloads)) for _ in range(250)]
    for first in range(0, len(inputs), 100):
        with Sockets() as socks:
            batch = [socks.connect(server.port) for _ in inputs[first : first + 100]]
            for sock, data in zip(batch, inputs[first : first + 100], strict=True):
                send_quietly(sock, data)
            all_closed_within(batch, timeout=AUTH + WAIT)
        assert not canary.exists(), f"unpickled before authentication (batch at {first})"
    assert not canary.exists()
    still_serving(server, client)
    # The canary does fire once the sender has authenticated: the check above could fail.
    fired = tmp_path / "fired"
    assert client.call(SERVER, HELPERS, "echo", [WritesFile(str(fired))], timeout=WAIT) is None
    assert fired.read_text() == "written"


def _hostile_handshakes(path: str) -> dict[str, tuple[Callable[[socket.socket], None], str]]:
    payload = pickle.dumps(WritesFile(path))
    name = HOSTILE.encode()
    reply = wire.message(wire.REPLY, 0, 1, payload)

    def before_hello(conn: socket.socket) -> None:
        conn.sendall(wire.frame(payload))
        read_frame(conn)

    def in_place_of_challenge(conn: socket.socket) -> None:
        read_frame(conn)
        conn.sendall(wire.frame(payload))

    def a_reply_in_place_of_challenge(conn: socket.socket) -> None:
        read_frame(conn)
        conn.sendall(reply)

    def a_challenge(conn: socket.socket) -> bytes:
        """Read the HELLO, send a genuine-looking CHALLENGE, read the PROOF; its proof_c."""
        read_frame(conn)
        conn.sendall(wire.frame(f.challenge_payload(f.OK, os.urandom(32), name)))
        return read_frame(conn)[38:70]

    def after_a_result_with(proof_s: Callable[[bytes], bytes]) -> Callable[[socket.socket], None]:
        def behave(conn: socket.socket) -> None:
            proof_c = a_challenge(conn)
            conn.sendall(wire.frame(f.result_payload(f.OK, proof_s(proof_c))) + reply)

        return behave

    def after_a_result_ok(conn: socket.socket) -> None:
        read_frame(conn)
        conn.sendall(wire.frame(f.result_payload(f.OK, os.urandom(32))) + reply)

    def after_a_version_refusal(conn: socket.socket) -> None:
        read_frame(conn)
        conn.sendall(wire.frame(f.version_refusal(1)) + reply)

    def after_a_challenge_status_4(conn: socket.socket) -> None:
        read_frame(conn)
        conn.sendall(wire.frame(f.challenge_payload(f.BAD_VERSION, bytes(32), name)) + reply)

    def oversized(conn: socket.socket) -> None:
        read_frame(conn)
        conn.sendall(wire.message(wire.REPLY, 0, 1, payload + bytes(2 * wire.PREAUTH_MAX)))

    return {
        "a pickle before HELLO": (before_hello, "invalid_message"),
        "a pickle in place of CHALLENGE": (in_place_of_challenge, "invalid_message"),
        "a REPLY in place of CHALLENGE": (a_reply_in_place_of_challenge, "invalid_message"),
        "a REPLY after a RESULT with a bad proof": (
            after_a_result_with(lambda _: os.urandom(32)),
            "invalid_cookie",
        ),
        "a REPLY after a RESULT with a zero proof": (
            after_a_result_with(lambda _: bytes(32)),
            "invalid_cookie",
        ),
        "a REPLY after a RESULT with the client's own proof": (
            after_a_result_with(lambda proof_c: proof_c),
            "invalid_cookie",
        ),
        "a REPLY after RESULT ok": (after_a_result_ok, "invalid_message"),
        "a REPLY after a version refusal": (after_a_version_refusal, "protocol_version"),
        "a REPLY after a CHALLENGE with status 4": (
            after_a_challenge_status_4,
            "protocol_version",
        ),
        "an oversized REPLY": (oversized, "invalid_message"),
    }


@pytest.mark.parametrize("case", list(_hostile_handshakes("x")))
def test_nothing_a_hostile_server_sends_before_authentication_is_unpickled(
    make_node, tmp_path, case
):
    canary = tmp_path / "canary"
    behave, reason = _hostile_handshakes(str(canary))[case]
    with hostile_server(behave) as (port, leftovers):
        client = make_node(CLIENT, tcp_server_port=False, client_config_per_node={HOSTILE: port})
        start = time.monotonic()
        with pytest.raises(BadRpc) as info:
            client.call(HOSTILE, HELPERS, "echo", [1], timeout=WAIT)
        assert info.value.reason == reason
        assert time.monotonic() - start < AT_ONCE
    assert leftovers == [b""]  # the client said nothing more: no PROOF, no request
    assert not canary.exists()


# -- an authenticated peer that sends garbage ------------------------------------------------------

AUTHENTICATED_GARBAGE = {
    "unknown kind 99": wire.message(99, 0, 1, b""),
    "kind 0": wire.message(0, 0, 1, pickle.dumps(1)),
    "a REPLY sent to a server": wire.message(wire.REPLY, 0, 1, pickle.dumps(1)),
    "an ERROR sent to a server": wire.message(wire.ERROR, 0, 1, pickle.dumps(1)),
    "an SBCAST_REPLY sent to a server": wire.message(wire.SBCAST_REPLY, 0, 1, b""),
    "a truncated header": wire.frame(bytes([wire.CALL, 0, 0, 0, 0])),
    "an empty frame": wire.frame(b""),
}


@pytest.mark.parametrize(
    "data", list(AUTHENTICATED_GARBAGE.values()), ids=list(AUTHENTICATED_GARBAGE)
)
def test_authenticated_garbage_disconnects_that_peer_only(make_node, data):
    server, client = server_and_client(make_node)
    with Sockets() as socks:
        sock = socks.connect(server.port)
        authenticate(sock, COOKIE.encode(), RAW, SERVER)
        wait_for(lambda: RAW in authenticated(server))
        sock.sendall(data)
        received, elapsed = closed_within(sock)
    assert received == b""
    assert elapsed < AT_ONCE
    still_serving(server, client)


UNDECODABLE_REQUESTS = {
    "a body that is not a pickle": (wire.CALL, 0, b"\x00not a pickle"),
    "a pickle of the wrong shape": (wire.CALL, 0, pickle.dumps(42)),
    "a truncated pickle": (wire.CALL, 0, pickle.dumps((HELPERS, None, "pid", (), {}))[:-3]),
    "a DILL flag on garbage": (wire.CALL, wire.DILL, b"\x80\x05garbage"),
}


@pytest.mark.parametrize(
    "request_", list(UNDECODABLE_REQUESTS.values()), ids=list(UNDECODABLE_REQUESTS)
)
def test_an_undecodable_request_gets_an_error_and_the_connection_lives(make_node, request_):
    server, client = server_and_client(make_node)
    kind, flags, body = request_
    good = pickle.dumps((HELPERS, None, "echo", ("after",), {}))
    with Sockets() as socks:
        sock = socks.connect(server.port)
        authenticate(sock, COOKIE.encode(), RAW, SERVER)
        sock.sendall(wire.message(kind, flags, 5, body))
        out_kind, out_flags, request_id, out = wire.parse_message(read_frame(sock))
        assert (out_kind, request_id) == (wire.ERROR, 5)
        reason = wire.decode_body(out, out_flags)[0]
        assert reason[0] == "undecodable"
        sock.sendall(wire.message(wire.CALL, 0, 6, good))
        out_kind, out_flags, request_id, out = wire.parse_message(read_frame(sock))
        assert (out_kind, request_id, wire.decode_body(out, out_flags)) == (
            wire.REPLY,
            6,
            "after",
        )
    still_serving(server, client)


def test_an_undecodable_sbcast_is_answered_false_and_the_connection_lives(make_node):
    server, client = server_and_client(make_node)
    with Sockets() as socks:
        sock = socks.connect(server.port)
        authenticate(sock, COOKIE.encode(), RAW, SERVER)
        sock.sendall(wire.message(wire.SBCAST, 0, 3, b"\x00garbage"))
        kind, flags, request_id, body = wire.parse_message(read_frame(sock))
        assert (kind, request_id, wire.decode_body(body, flags)) == (
            wire.SBCAST_REPLY,
            3,
            False,
        )
    still_serving(server, client)


def frames_until(sock: socket.socket, timeout: float) -> tuple[list[bytes], bool]:
    """The frames received within ``timeout``, and whether the peer closed meanwhile."""
    decoder = wire.FrameDecoder(1 << 30)
    frames: list[bytes] = []
    deadline = time.monotonic() + timeout
    while (remaining := deadline - time.monotonic()) > 0:
        sock.settimeout(remaining)
        try:
            chunk = sock.recv(65536)
        except TimeoutError:
            break
        except ConnectionResetError:
            return frames, True
        if not chunk:
            return frames, True
        frames += decoder.feed(chunk)
    return frames, False


def test_a_request_pipelined_with_the_proof_is_never_silently_dropped(make_node):
    """A client that sends its first CALL right behind its PROOF, before RESULT: the node may
    refuse it (close) or serve it, but must not lose it."""
    server = make_node(SERVER, authentication_timeout=SLOW_AUTH)
    call = wire.message(wire.CALL, 0, 7, pickle.dumps((HELPERS, None, "echo", ("x",), {})))
    with Sockets() as socks:
        sock = socks.connect(server.port)
        handshake = wire.ClientHandshake(COOKIE.encode(), RAW, SERVER, os.urandom(32))
        sock.sendall(handshake.start())
        sock.sendall(handshake.receive(read_frame(sock)) + call)  # one write: one read
        frames, closed = frames_until(sock, AT_ONCE)
    replies = [wire.parse_message(f)[2] for f in frames[1:]]
    assert closed or replies == [7], (frames, closed)


def _authenticated_then(answer: Callable[[int], bytes]) -> Callable[[socket.socket], None]:
    def behave(conn: socket.socket) -> None:
        handshake = wire.ServerHandshake(COOKIE.encode(), HOSTILE, os.urandom(32))
        while not handshake.done:
            conn.sendall(handshake.receive(read_frame(conn)))
        _, _, request_id, _ = read_request(conn)
        conn.sendall(answer(request_id))

    return behave


HOSTILE_REPLIES: dict[str, Callable[[int], bytes]] = {
    "a truncated header": lambda _: wire.frame(bytes([wire.REPLY, 0, 0])),
    "an empty frame": lambda _: wire.frame(b""),
    "a frame over max_frame_size": lambda _: struct.pack(">I", SMALL_FRAME + 1),
}


@pytest.mark.parametrize("answer", list(HOSTILE_REPLIES.values()), ids=list(HOSTILE_REPLIES))
def test_an_authenticated_server_sending_garbage_fails_the_call_at_once(make_node, answer):
    with hostile_server(_authenticated_then(answer)) as (port, _):
        client = make_node(
            CLIENT,
            tcp_server_port=False,
            client_config_per_node={HOSTILE: port},
            max_frame_size=SMALL_FRAME,
        )
        start = time.monotonic()
        with pytest.raises(BadTcp):
            client.call(HOSTILE, HELPERS, "echo", [1], timeout=20.0)
        assert time.monotonic() - start < AT_ONCE
        wait_for(lambda: HOSTILE not in connections(client))


def test_a_malformed_error_reply_is_an_rpc_error(make_node):
    bad_error = pickle.dumps(("only", "three", "items"))
    with hostile_server(
        _authenticated_then(lambda rid: wire.message(wire.ERROR, 0, rid, bad_error))
    ) as (port, _):
        client = make_node(CLIENT, tcp_server_port=False, client_config_per_node={HOSTILE: port})
        with pytest.raises(RpcError):
            client.call(HOSTILE, HELPERS, "echo", [1], timeout=WAIT)


# -- keepalive and TCP_NODELAY on both ends --------------------------------------------------------


def socket_options(sock: socket.socket) -> dict[str, int]:
    options = {
        "nodelay": sock.getsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY),
        "keepalive": sock.getsockopt(socket.SOL_SOCKET, socket.SO_KEEPALIVE),
        "idle": sock.getsockopt(socket.IPPROTO_TCP, socket.TCP_KEEPIDLE),
        "interval": sock.getsockopt(socket.IPPROTO_TCP, socket.TCP_KEEPINTVL),
        "count": sock.getsockopt(socket.IPPROTO_TCP, socket.TCP_KEEPCNT),
        # unacknowledged data gives up after as long as keepalive takes with a silent peer
        "user_timeout": sock.getsockopt(socket.IPPROTO_TCP, socket.TCP_USER_TIMEOUT),
    }
    return {key: int(value != 0) if key == "nodelay" else value for key, value in options.items()}


@pytest.mark.skipif(not hasattr(socket, "TCP_KEEPIDLE"), reason="Linux socket options")
def test_keepalive_and_nodelay_are_set_on_both_ends_from_each_nodes_config(make_node):
    server_keepalive = {"socket_keepalive_idle": 7, "socket_keepalive_interval": 3}
    server_keepalive["socket_keepalive_count"] = 4
    client_keepalive = {"socket_keepalive_idle": 11, "socket_keepalive_interval": 6}
    client_keepalive["socket_keepalive_count"] = 5
    server, client = server_and_client(make_node, server_keepalive, **client_keepalive)
    client_sock = connections(client)[SERVER]._sock
    assert client_sock is not None
    (acceptor,) = incoming(server)
    expected_server = {
        "nodelay": 1,
        "keepalive": 1,
        "idle": 7,
        "interval": 3,
        "count": 4,
        "user_timeout": (7 + 3 * 4) * 1000,
    }
    expected_client = {
        "nodelay": 1,
        "keepalive": 1,
        "idle": 11,
        "interval": 6,
        "count": 5,
        "user_timeout": (11 + 6 * 5) * 1000,
    }
    assert socket_options(client_sock) == expected_client
    assert socket_options(acceptor.sock) == expected_server
    # An acceptor still waiting for its peer to authenticate has them too.
    with Sockets() as socks:
        socks.connect(server.port)
        wait_for(lambda: server.statistics().acceptors == 2)
        (waiting,) = [a for a in incoming(server) if not a.peer_name]
        wait_for(lambda: socket_options(waiting.sock)["count"] == 4)
        assert socket_options(waiting.sock) == expected_server


# -- the cookie file -------------------------------------------------------------------------------


@pytest.fixture
def home(tmp_path, monkeypatch):
    """HOME points to an empty directory and no GENRPC_COOKIE is set."""
    monkeypatch.setenv("HOME", str(tmp_path))
    monkeypatch.delenv("GENRPC_COOKIE", raising=False)
    return tmp_path


def start_expecting_config_error(name: str) -> ConfigError:
    listeners = {t for t in threading.enumerate() if t.name.startswith("genrpc-listener")}
    try:
        node = Node.start(name, cookie=None, tcp_server_port=0, listen_address=HOST)
    except ConfigError as exc:
        now = {t for t in threading.enumerate() if t.name.startswith("genrpc-listener")}
        assert now <= listeners  # refused before anything listens
        return exc
    node.stop()
    pytest.fail("Node.start accepted the cookie file")


@pytest.mark.parametrize("mode", [0o640, 0o604, 0o644, 0o440, 0o620, 0o602])
def test_node_start_refuses_a_cookie_file_others_may_access(home, mode):
    path = home / ".genrpc.cookie"
    path.write_text("secret")
    path.chmod(mode)
    error = start_expecting_config_error("cookie@127.0.0.1")
    assert error.key == "cookie"
    assert "cookie" in str(error)
    assert path.read_text() == "secret"  # neither rewritten
    assert stat.S_IMODE(path.stat().st_mode) == mode  # nor "fixed" behind the user's back


def test_node_start_refuses_a_symlink_to_a_readable_cookie_file(home):
    target = home / "shared-secret"
    target.write_text("secret")
    target.chmod(0o644)
    (home / ".genrpc.cookie").symlink_to(target)
    assert start_expecting_config_error("cookie@127.0.0.1").key == "cookie"


def test_node_start_creates_a_private_random_cookie_file_whatever_the_umask(home, make_node):
    previous = os.umask(0)
    try:
        first = make_node("cookie-a@127.0.0.1", cookie=None)
    finally:
        os.umask(previous)
    path = home / ".genrpc.cookie"
    assert stat.S_IMODE(path.stat().st_mode) == 0o400
    content = path.read_bytes().strip()
    assert len(content) >= 32
    assert len(set(content)) > 8  # random, not a constant filler
    # The node's cookie is the file's content: a node given that content as its cookie gets in.
    explicit = make_node(
        "cookie-d@127.0.0.1",
        cookie=content.decode(),
        tcp_server_port=False,
        client_config_per_node={first.name: first.port},
    )
    assert explicit.call(first.name, HELPERS, "echo", [1], timeout=WAIT) == 1
    # A second node of the same user shares it; a node with another cookie is refused.
    second = make_node(
        "cookie-b@127.0.0.1",
        cookie=None,
        tcp_server_port=False,
        client_config_per_node={first.name: first.port},
    )
    assert second.call(first.name, HELPERS, "echo", [1], timeout=WAIT) == 1
    stranger = make_node(
        "cookie-c@127.0.0.1",
        cookie="a guess",
        tcp_server_port=False,
        client_config_per_node={first.name: first.port},
    )
    with pytest.raises(BadRpc) as info:
        stranger.call(first.name, HELPERS, "echo", [1], timeout=WAIT)
    assert info.value.reason == "invalid_cookie"
    assert path.read_bytes().strip() == content


# -- churn and exhaustion -------------------------------------------------------------------------


def _churn(port: int, cycle: int) -> None:
    with Sockets() as socks:
        sock = socks.connect(port)
        kind = cycle % 7
        if kind == 0:
            return  # connect, close
        if kind == 1:
            socks.all.remove(sock)
            reset(sock)
            return
        if kind == 2:
            send_quietly(sock, hello(SERVER, RAW)[:9])
        elif kind in (3, 4):
            send_quietly(sock, hello(SERVER, RAW))  # and leave before the CHALLENGE is read
            if kind == 4:
                socks.all.remove(sock)
                reset(sock)
        elif kind == 5:
            handshake = wire.ClientHandshake(COOKIE.encode(), RAW, SERVER, os.urandom(32))
            sock.sendall(handshake.start())
            sock.sendall(handshake.receive(read_frame(sock)))  # and leave before RESULT
        else:
            authenticate(sock, COOKIE.encode(), RAW, SERVER)
            send_quietly(sock, wire.message(wire.CALL, 0, 1, b"\x80\x05")[:7])
            socks.all.remove(sock)
            reset(sock)


def test_rapid_connect_close_cycles_leave_no_acceptor_behind(make_node):
    """300 connections that close (FIN or RST) at every step of the handshake and after it;
    with authentication_timeout far away, every acceptor must go because its peer did."""
    server, client = server_and_client(make_node, {"authentication_timeout": SLOW_AUTH})
    listener = server.tree.child("tcp_listener")
    threads_before = acceptor_threads()
    for cycle in range(300):
        _churn(server.port, cycle)
    wait_for(lambda: server.statistics().acceptors == 1)
    wait_for(lambda: acceptor_threads() <= threads_before)
    assert server.tree.child("tcp_listener") is listener
    still_serving(server, client)


def test_running_out_of_file_descriptors_does_not_kill_the_node(make_node):
    """A node whose process runs out of file descriptors under a flood of unauthenticated
    connections must survive it (accept later, as a server under load does) and serve again
    once the flood is shed. The node runs in its own process so that only its limit drops."""
    victim_name = "victim@127.0.0.1"
    victim = LocalNode(
        victim_name, cookie=COOKIE, authentication_timeout=AUTH, log_level=logging.CRITICAL
    ).start()
    try:
        client = make_node(
            CLIENT, tcp_server_port=False, client_config_per_node={victim_name: victim.port}
        )
        assert client.call(victim_name, HELPERS, "pid", timeout=WAIT) == victim.pid
        assert victim.pid is not None
        try:
            limits = resource.prlimit(victim.pid, resource.RLIMIT_NOFILE)
        except (OSError, AttributeError):
            pytest.skip("cannot read another process's RLIMIT_NOFILE here")
        in_use = len(os.listdir(f"/proc/{victim.pid}/fd"))
        resource.prlimit(victim.pid, resource.RLIMIT_NOFILE, (in_use + 8, limits[1]))
        try:
            with Sockets() as socks:
                flood = [socks.connect(victim.port) for _ in range(40)]
                all_closed_within(flood, timeout=20.0)  # shed at authentication_timeout
        finally:
            resource.prlimit(victim.pid, resource.RLIMIT_NOFILE, limits)
        assert client.call(victim_name, HELPERS, "pid", timeout=WAIT) == victim.pid
        assert client.call((victim_name, "fresh"), HELPERS, "pid", timeout=WAIT) == victim.pid
    finally:
        victim.stop()

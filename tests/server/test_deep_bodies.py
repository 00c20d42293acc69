"""A body whose tuples nest a million deep, a dict key that unpickling would hash by recursing
in C until the process dies: a node refuses it unread (``undecodable``, naming
``max_nesting``) and goes on serving, whether the request would run in a thread or in a
process worker, with module control or without; a caller refuses such a reply the same way."""

from __future__ import annotations

import os
import pickle
import socket
from collections.abc import Callable, Iterator
from typing import Any

import pytest

from genrpc_actors import BadRpc, Node
from genrpc_actors import _protocol as wire
from genrpc_actors.testing import LocalNode
from tests.hostile_peers import hostile_server, read_frame, read_request
from tests.node_fixtures import COOKIE
from tests.waiting import WAIT, wait_for

SERVER = "deep-server@127.0.0.1"
RAW = "raw-client@127.0.0.1"
HOSTILE = "deep-hostile@127.0.0.1"
LEVELS = 1_000_000


def deep_key_body() -> bytes:
    """A CALL body ``("operator", None, "truth", ({deep: 1},), {})``, the key nested LEVELS
    deep, written opcode by opcode (the pickler itself could not nest it so)."""
    head = b"\x80\x04(" + b"\x8c\x08operator" + b"N" + b"\x8c\x05truth"  # MARK, 3 items
    key = b")" + b"\x85" * LEVELS  # EMPTY_TUPLE, then TUPLE1 a million times
    return head + b"}" + key + b"K\x01s" + b"\x85" + b"}" + b"t" + b"."  # {key: 1},), {}) .


def deep_key_reply() -> bytes:
    return b"\x80\x04}" + b")" + b"\x85" * LEVELS + b"K\x01s."


def test_the_test_bodies_are_what_they_claim():
    shallow = deep_key_body().replace(b"\x85" * LEVELS, b"\x85" * 3)
    assert pickle.loads(shallow) == ("operator", None, "truth", ({((((),),),): 1},), {})
    assert pickle.loads(deep_key_reply().replace(b"\x85" * LEVELS, b"\x85")) == {((),): 1}


@pytest.fixture
def raw_call(local_node_factory) -> Iterator[Callable[..., tuple[int, Any]]]:
    """``call(body, **config)``: start a node with ``config``, send it one CALL with ``body``
    over a socket authenticated by hand; its reply ``(kind, decoded body)``."""
    socks: list[socket.socket] = []

    def call(body: bytes, node: LocalNode) -> tuple[int, Any]:
        sock = socket.create_connection(("127.0.0.1", node.port), timeout=WAIT)
        socks.append(sock)
        handshake = wire.ClientHandshake(COOKIE.encode(), RAW, SERVER, os.urandom(32))
        sock.sendall(handshake.start())
        while not handshake.done:
            sock.sendall(handshake.receive(read_frame(sock)))
        sock.sendall(wire.message(wire.CALL, 0, 1, body))
        kind, _, request_id, reply = wire.parse_message(read_frame(sock))
        assert request_id == 1
        return kind, wire.decode_body(bytes(reply), 0)

    yield call
    for sock in socks:
        sock.close()


CONFIGS = {
    "thread": {},
    "process worker": {"worker_processes": 1, "process_modules": ["*"]},
    "whitelist": {"rpc_module_control": "whitelist", "rpc_module_list": ["operator"]},
}


@pytest.mark.parametrize("config", list(CONFIGS.values()), ids=list(CONFIGS))
def test_a_deep_request_is_refused_unread_and_the_node_serves_on(
    raw_call, local_node_factory, config
):
    node = local_node_factory(SERVER, cookie=COOKIE, tcp_server_port=0, **config)
    kind, (reason, *_) = raw_call(deep_key_body(), node)
    assert kind == wire.ERROR
    assert reason[0] == "undecodable"
    assert "max_nesting=10000" in reason[1]
    assert node.is_alive()
    shallow = deep_key_body().replace(b"\x85" * LEVELS, b"\x85" * 100)
    assert raw_call(shallow, node) == (wire.REPLY, True)  # served as ever


def test_without_the_bound_the_same_body_kills_the_node(raw_call, local_node_factory):
    """The control case: with ``max_nesting`` past the body's depth, unpickling it hashes the
    key and the node process dies of it (SIGSEGV): the attack is real."""
    node = local_node_factory(SERVER, cookie=COOKIE, tcp_server_port=0, max_nesting=10**9)
    with pytest.raises((ConnectionError, AssertionError, OSError)):
        raw_call(deep_key_body(), node)  # the connection ends without a reply
    wait_for(lambda: not node.is_alive())


def test_a_lower_max_nesting_is_the_bound(raw_call, local_node_factory):
    node = local_node_factory(SERVER, cookie=COOKIE, tcp_server_port=0, max_nesting=50)
    body = deep_key_body().replace(b"\x85" * LEVELS, b"\x85" * 60) + b"N0" * 100
    kind, (reason, *_) = raw_call(body[:-1] + b".", node)  # padded past 50 bytes already
    assert (kind, reason[0]) == (wire.ERROR, "undecodable")
    assert "max_nesting=50" in reason[1]


def _answers_deep_reply(conn: socket.socket) -> None:
    handshake = wire.ServerHandshake(COOKIE.encode(), HOSTILE, os.urandom(32))
    while not handshake.done:
        conn.sendall(handshake.receive(read_frame(conn)))
    _, _, request_id, _ = read_request(conn)
    conn.sendall(wire.message(wire.REPLY, 0, request_id, deep_key_reply()))


def test_a_deep_reply_is_refused_unread_by_its_caller():
    with (
        hostile_server(_answers_deep_reply) as (port, _),
        Node.start(
            "deep-caller@127.0.0.1",
            cookie=COOKIE,
            tcp_server_port=False,
            client_config_per_node={HOSTILE: port},
        ) as caller,
        pytest.raises(BadRpc) as info,
    ):
        caller.call(HOSTILE, "operator", "truth", (1,), timeout=WAIT)
    reason = info.value.reason
    assert reason[0] == "undecodable_reply"
    assert "NestedTooDeep" in reason[1]


def test_max_nesting_is_checked_at_start():
    from genrpc_actors import ConfigError

    for bad in (0, -1, "10", 1.5, True):
        with pytest.raises(ConfigError) as info:
            Node.start("bad@127.0.0.1", cookie=COOKIE, tcp_server_port=False, max_nesting=bad)
        assert info.value.key == "max_nesting"

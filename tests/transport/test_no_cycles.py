"""A connection that ends frees its buffers at once: nothing of it waits for the cycle collector.

With the collector off (``tests/garbage.py``), connections go through calls, casts, failures and
large frames both ways, and end; nothing of ours, and no large buffer, may be left that only the
collector would free. A node kept 1 GB of receive buffers of closed connections until then.
"""

from __future__ import annotations

from typing import Any

import pytest

from genrpc_actors import BadRpc, Node, RemoteError
from genrpc_actors import _protocol as wire
from genrpc_actors._node._requests import encode_request, resolve
from genrpc_actors.testing import ConnectionPair, connection_pair, free_port
from tests.garbage import cycle_collector_off, left_for_the_cycle_collector
from tests.node_fixtures import Driver, node_settings
from tests.waiting import WAIT

MIB = 1024 * 1024  # a large frame: received into a buffer of its own
A, B = "a@127.0.0.1", "b@127.0.0.1"


# -- one connection, in memory -----------------------------------------------------------------


def call(pair: ConnectionPair, module: str, function: str, *args: Any, lead: bool = True) -> Any:
    """A call as ``Node.call`` makes it: read by the caller (``lead``) or by the connection."""
    body, flags = encode_request(module, function, args, None)
    request_id, slot = pair.client.request(wire.CALL, flags, body, None, reply=True, lead=lead)
    assert slot is not None
    if lead:
        assert pair.client.wait(request_id, slot, WAIT)
    else:
        assert slot.wait(WAIT)
    return resolve(slot)


def calls_on_a_pair() -> None:
    with connection_pair() as pair:
        assert call(pair, "operator", "add", 1, 2) == 3
        assert call(pair, "operator", "add", 3, 4, lead=False) == 7
        assert len(call(pair, "builtins", "bytes", MIB)) == MIB  # into the client's large buffer
        assert call(pair, "builtins", "len", b"x" * MIB) == MIB  # into the server's
        body, flags = encode_request("operator", "add", (1, 2), None)
        pair.client.request(wire.CAST, flags, body, None, reply=False)
        with pytest.raises(RemoteError, match="ZeroDivisionError"):
            call(pair, "operator", "truediv", 1, 0)
        assert call(pair, "operator", "add", 5, 6) == 11  # after the cast and the failure


def test_a_closed_connection_pair_leaves_nothing_to_the_cycle_collector():
    with cycle_collector_off():
        calls_on_a_pair()
        assert left_for_the_cycle_collector() == []


def connections_that_fail() -> None:
    with connection_pair(client_cookie=b"not the server's cookie") as pair:
        with pytest.raises(BadRpc):
            call(pair, "operator", "add", 1, 2)
        assert pair.client_closed.wait(WAIT)
    with connection_pair() as pair:
        assert call(pair, "operator", "add", 1, 2) == 3
        body, flags = encode_request("time", "sleep", (WAIT,), None)
        _, slot = pair.client.request(wire.CALL, flags, body, None, reply=True)
        assert slot is not None
        pair.server.close()  # under a call in flight
        assert slot.wait(WAIT)
        assert pair.client_closed.wait(WAIT)


def test_connections_that_fail_leave_nothing_to_the_cycle_collector():
    with cycle_collector_off():
        connections_that_fail()
        assert left_for_the_cycle_collector() == []


# -- two nodes in this process -----------------------------------------------------------------


def start_node(name: str, driver: Driver, port: int, peers: dict[str, int]) -> Node:
    settings = node_settings(name, driver, peers, tcp_server_port=0)
    settings[driver.listen_key] = port
    return Node.start(name, **settings)


def calls_between_two_nodes(driver: Driver) -> None:
    a_port, b_port = free_port(), free_port()
    a = start_node(A, driver, a_port, {B: b_port})
    try:
        b = start_node(B, driver, b_port, {A: a_port})
        try:
            assert b.call(A, "operator", "add", (1, 2)) == 3
            assert a.call(B, "operator", "add", (3, 4)) == 7  # and the other way
            assert len(b.call(A, "builtins", "bytes", (MIB,))) == MIB
            assert b.call(A, "builtins", "len", (b"x" * MIB,)) == MIB
            assert b.cast(A, "operator", "add", (1, 2))
            with pytest.raises(RemoteError, match="ZeroDivisionError"):
                b.call(A, "operator", "truediv", (1, 0))
            key = b.async_call(A, "operator", "truediv", (1, 0))
            for _ in range(2):  # a key gives its outcome as often as asked
                with pytest.raises(RemoteError, match="ZeroDivisionError"):
                    b.yield_(key)
            assert b.yield_(b.async_call((A, "shard"), "operator", "add", (5, 6))) == 11
        finally:
            b.stop()
    finally:
        a.stop()


def test_two_stopped_nodes_leave_nothing_to_the_cycle_collector(driver: Driver):
    with cycle_collector_off():
        calls_between_two_nodes(driver)
        assert left_for_the_cycle_collector() == []

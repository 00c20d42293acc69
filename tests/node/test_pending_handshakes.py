"""Connections that have not authenticated cost a node no thread, and at most
``max_pending_handshakes`` of them are kept: a flood leaves its threads where they were.

The flooded node runs in a process of its own (``LocalNode``, under each driver), so that its
thread count (``psutil``) is its own; the silent peers are raw sockets of this process, every one
closed by a ``Sockets`` block. For the log of refusals, a node runs in this process.
"""

from __future__ import annotations

import logging
from collections.abc import Callable, Iterator
from typing import Any

import psutil
import pytest

from genrpc_actors import Node, RpcError
from genrpc_actors.testing import LocalNode
from genrpc_actors.testing._inspecting import node_statistics
from tests.hostile_peers import (
    HOST,
    WAIT,
    Sockets,
    all_closed_within,
    authenticate,
    closed_within,
    open_files_limit,
    still_open,
)
from tests.node_fixtures import COOKIE, Driver, node_settings
from tests.waiting import wait_for

FLOODED = "flooded@127.0.0.1"
CALLER = "caller@127.0.0.1"
SILENT = 2000
LIMIT = 20  # a low max_pending_handshakes
SLOW_AUTH = 60.0  # no silent peer is dropped for authentication_timeout while a test runs
AT_ONCE = 1.0
THREADS_SLACK = 3  # threads a node may start meanwhile for reasons of its own


@pytest.fixture
def caller(driver: Driver) -> Iterator[Callable[[LocalNode], Node]]:
    """``caller(node)``: a node of this process (no listener) that reaches ``node`` by the
    test's driver, connected to it already (before any flood); stopped after the test."""
    started: list[Node] = []

    def make(target: LocalNode) -> Node:
        peers = {FLOODED: driver.port(target)}
        settings = node_settings(CALLER, driver, peers, send_timeout=WAIT, connect_timeout=WAIT)
        settings.update(tcp_server_port=False, ssl_server_port=False)
        node = Node.start(CALLER, **settings)
        started.append(node)
        assert node.call(FLOODED, "os", "getpid", timeout=WAIT) == target.pid
        return node

    yield make
    for node in started:
        node.stop()


def stats(caller: Node) -> dict[str, Any]:
    """The flooded node's counters, over the caller's first connection."""
    result: dict[str, Any] = caller.call(FLOODED, node_statistics, timeout=WAIT)
    return result


def threads_of(node: LocalNode) -> int:
    assert node.pid is not None
    return psutil.Process(node.pid).num_threads()


def test_two_thousand_silent_sockets_leave_the_thread_count_flat(make_node, caller, driver):
    """Under ``ssl`` the silent peers are on the TLS port, and some of them have done TLS and
    then say nothing: both kinds wait in the listener's loop."""
    node = make_node(FLOODED, authentication_timeout=SLOW_AUTH, max_pending_handshakes=SILENT + 100)
    client = caller(node)
    assert stats(client)["acceptors"] == 1  # the caller's own connection
    before = threads_of(node)
    over_tls = 100 if driver.tls else 0
    with open_files_limit(SILENT + 300), Sockets() as socks:
        for _ in range(SILENT - over_tls):
            socks.connect(driver.port(node))
        for _ in range(over_tls):
            socks.all.append(driver.raw_client(driver.port(node)))
        wait_for(lambda: stats(client)["pending_handshakes"] == SILENT, timeout=20.0)
        during = threads_of(node)
        assert during <= before + THREADS_SLACK, (before, during)
        # the connection made before works, and so does a new one
        assert client.call(FLOODED, "os", "getpid", timeout=WAIT) == node.pid
        assert client.call((FLOODED, "new"), "os", "getpid", timeout=WAIT) == node.pid
        assert stats(client)["acceptors"] == SILENT + 2
        assert threads_of(node) <= before + 1 + THREADS_SLACK  # + the new acceptor
    wait_for(lambda: stats(client)["pending_handshakes"] == 0, timeout=20.0)
    assert stats(client)["acceptors"] == 2
    assert stats(client)["refused_handshakes"] == 0


def test_past_max_pending_handshakes_new_connections_are_closed_at_once(make_node, caller, driver):
    node = make_node(FLOODED, authentication_timeout=SLOW_AUTH, max_pending_handshakes=LIMIT)
    client = caller(node)
    with Sockets() as socks:
        waiting = [socks.connect(driver.port(node)) for _ in range(LIMIT)]
        wait_for(lambda: stats(client)["pending_handshakes"] == LIMIT)
        for _ in range(5):
            received, elapsed = closed_within(socks.connect(driver.port(node)))
            assert (received, elapsed < AT_ONCE) == (b"", True)
        with pytest.raises(RpcError):  # a legitimate newcomer is no exception
            client.call((FLOODED, "new"), "os", "getpid", timeout=WAIT)
        assert client.call(FLOODED, "os", "getpid", timeout=WAIT) == node.pid  # made before
        assert all(still_open(sock, 0) for sock in waiting)
        assert stats(client)["refused_handshakes"] >= 6  # 5 raw, 1 genuine
    wait_for(lambda: stats(client)["pending_handshakes"] == 0)
    assert client.call((FLOODED, "new"), "os", "getpid", timeout=WAIT) == node.pid


def test_past_the_limit_the_silent_are_dropped_at_authentication_timeout_then_all_is_well(
    make_node, caller, driver
):
    auth = 1.0
    node = make_node(FLOODED, authentication_timeout=auth, max_pending_handshakes=LIMIT)
    client = caller(node)
    before = threads_of(node)
    with Sockets() as socks:
        flood = [socks.connect(driver.port(node)) for _ in range(3 * LIMIT)]
        all_closed_within(flood, timeout=auth + 10.0)  # at once, or at authentication_timeout
        assert threads_of(node) <= before + THREADS_SLACK
    wait_for(lambda: stats(client)["pending_handshakes"] == 0)
    assert stats(client)["refused_handshakes"] >= 2 * LIMIT
    assert client.call((FLOODED, "new"), "os", "getpid", timeout=WAIT) == node.pid


def test_a_burst_of_refusals_is_logged_once(caplog):
    with (
        Node.start(
            FLOODED,
            cookie=COOKIE,
            tcp_server_port=0,
            listen_address=HOST,
            authentication_timeout=SLOW_AUTH,
            max_pending_handshakes=LIMIT,
        ) as node,
        caplog.at_level(logging.WARNING, logger="genrpc_actors"),
    ):
        for burst in (1, 2):
            with Sockets() as socks:
                for _ in range(LIMIT):
                    socks.connect(node.port)
                wait_for(lambda: node.statistics().pending_handshakes == LIMIT)
                for _ in range(10):
                    closed_within(socks.connect(node.port))
                refusals = [r for r in caplog.records if "event=handshake_refused" in r.message]
                assert len(refusals) == burst
                assert "reason=max_pending_handshakes" in refusals[-1].message
            wait_for(lambda: node.statistics().pending_handshakes == 0)
        assert node.statistics().refused_handshakes == 20  # 10 per burst
        assert node.describe()["handshakes"] == {"pending": 0, "refused": 20, "limit": LIMIT}


def test_a_connection_that_authenticates_leaves_the_loop_for_its_acceptor():
    with (
        Node.start(
            FLOODED, cookie=COOKIE, tcp_server_port=0, listen_address=HOST, max_pending_handshakes=1
        ) as node,
        Sockets() as socks,
    ):
        sock = socks.connect(node.port)
        wait_for(lambda: node.statistics().pending_handshakes == 1)
        authenticate(sock, COOKIE.encode(), CALLER, FLOODED)
        wait_for(lambda: node.statistics().pending_handshakes == 0)
        stats = node.statistics()
        assert (stats.acceptors, stats.refused_handshakes) == (1, 0)
        # the one place in the handshake loop is free again
        other = socks.connect(node.port)
        wait_for(lambda: node.statistics().pending_handshakes == 1)
        assert still_open(other, 0.1)

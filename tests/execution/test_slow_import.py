"""Requests that arrive while their module is still being imported wait for the import.

A module being imported sits in ``sys.modules`` half made; a second request that took it from
there would find no function in it yet and fail with AttributeError.
"""

from __future__ import annotations

import sys
from collections.abc import Iterator

import pytest

from genrpc_actors import Node

COOKIE = "slow-import-cookie"
SERVER = "slow-import-server@127.0.0.1"
MODULE = "tests.execution.slow_to_import"


@pytest.fixture
def nodes() -> Iterator[tuple[Node, Node]]:
    server = Node.start(SERVER, cookie=COOKIE, tcp_server_port=0, listen_address="127.0.0.1")
    client = Node.start(
        "slow-import-client@127.0.0.1",
        cookie=COOKIE,
        tcp_server_port=False,
        client_config_per_node={SERVER: server.port},
    )
    try:
        yield server, client
    finally:
        client.stop()
        server.stop()


def test_calls_racing_a_slow_import_all_get_the_function(nodes):
    _, client = nodes
    assert MODULE not in sys.modules, "the module must be imported by these calls"
    keys = [client.async_call(SERVER, MODULE, "answer") for _ in range(3)]
    keys += [client.async_call((SERVER, n), MODULE, "answer") for n in range(3)]
    assert [client.yield_(key) for key in keys] == [42] * 6

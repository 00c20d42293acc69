"""A node's timers run on the clock it is given: an async call's inactivity timeout decided by a
fake clock, without waiting for it."""

from __future__ import annotations

import pytest

from genrpc_actors import BadRpc
from genrpc_actors.testing import FakeClock, silent_listener, start_node
from tests.node_fixtures import COOKIE
from tests.waiting import WAIT

ME = "clocked@127.0.0.1"
SILENT = "silent@127.0.0.1"


def test_async_call_inactivity_timeout_runs_on_the_nodes_clock():
    clock = FakeClock()
    with silent_listener() as port:
        node = start_node(
            ME,
            clock=clock,
            cookie=COOKIE,
            tcp_server_port=0,
            async_call_inactivity_timeout=60.0,
            authentication_timeout=30.0,
            client_config_per_node={SILENT: port},
        )
        try:
            key = node.async_call(SILENT, "operator", "add", (1, 2))
            assert node.nb_yield(key, 0.2) is None  # a minute on its clock: still waiting
            clock.advance(59.0)
            assert node.nb_yield(key, 0.2) is None
            clock.advance(1.0)
            with pytest.raises(BadRpc) as info:
                node.nb_yield(key, WAIT)
            assert info.value.reason == "timeout"
        finally:
            node.stop()

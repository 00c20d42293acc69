"""A first end-to-end check: a master in this process, a slave in its own, under each driver."""

from __future__ import annotations

import os

from genrpc_actors.testing import connections
from tests.node_fixtures import SLAVE

HELPERS2 = "tests.remote.acceptors"


def test_call_a_slave_in_another_process(master, slave, driver):
    assert master.call(SLAVE, "tests.remote.functions", "pid") == slave.pid != os.getpid()
    assert master.nodes() == [SLAVE]
    # the ssl group really runs over TLS, on both ends, and the tcp group does not
    assert (connections(master)[SLAVE].endpoint.tls is not None) is driver.tls
    (version,) = master.call(SLAVE, HELPERS2, "acceptor_tls_versions")
    assert version in (("TLSv1.2", "TLSv1.3") if driver.tls else (None,))

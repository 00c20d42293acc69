"""A first end-to-end check: a master in this process, a slave in its own."""

from __future__ import annotations

import os

from .node_fixtures import SLAVE


def test_call_a_slave_in_another_process(master, slave):
    assert master.call(SLAVE, "tests.remote_helpers", "pid") == slave.pid != os.getpid()
    assert master.nodes() == [SLAVE]

"""``async_call(..., timeout=...)``: a deadline per call, not only the node-wide one."""

from __future__ import annotations

import time

import pytest

from genrpc_actors import BadRpc
from tests.node_fixtures import SLAVE


def test_a_slow_call_times_out_on_its_own_deadline(master):
    started = time.monotonic()
    key = master.async_call(SLAVE, "time", "sleep", args=(5,), timeout=0.3)
    with pytest.raises(BadRpc) as info:
        master.yield_(key)
    waited = time.monotonic() - started
    assert info.value.reason == "timeout"
    assert info.value.node == SLAVE
    assert 0.3 <= waited < 3.0
    with pytest.raises(BadRpc):  # the same outcome again
        master.yield_(key)


def test_a_fast_call_is_not_touched_by_its_deadline(master):
    key = master.async_call(SLAVE, "operator", "add", args=(2, 3), timeout=5)
    assert master.yield_(key) == 5
    assert (
        master.yield_(master.async_call(SLAVE, "operator", "mul", args=(2, 3), timeout=None)) == 6
    )


@pytest.mark.parametrize(
    ("timeout", "error"), [(-1, ValueError), ("1", TypeError), (True, TypeError)]
)
def test_a_bad_timeout_fails_fast(master, timeout, error):
    with pytest.raises(error):
        master.async_call(SLAVE, "operator", "add", args=(2, 3), timeout=timeout)

"""asyncio at both ends: coroutine functions served on the node's loop, coroutines for callers
(``acall``, ``amulticall``, ``asbcast``) with the outcomes of their blocking twins, and
cancellation that crosses the wire to the remote coroutine. Both drivers."""

from __future__ import annotations

import asyncio
import os
import time
from pathlib import Path

import pytest

from genrpc_actors import BadRpc, MultiResult, Node, RemoteError
from tests.node_fixtures import FAKE, MASTER, SLAVE, node_settings
from tests.waiting import wait_for

ASYNC = "tests.remote.async_functions"


def _lines(path: Path) -> list[str]:
    return path.read_text().split() if path.exists() else []


# -- served ----------------------------------------------------------------------------------


def test_a_coroutine_function_by_name_is_awaited_remotely(master):
    assert master.call(SLAVE, ASYNC, "double", args=(21,)) == 42
    assert master.call(SLAVE, ASYNC, "returns_a_coroutine", args=(5,)) == 10
    assert master.call(SLAVE, ASYNC, "thread_name").startswith("genrpc-loop-")
    assert master.call(SLAVE, "asyncio", "sleep", args=(0.01, "slept")) == "slept"


def test_a_coroutine_that_raises_gives_remote_error(master):
    with pytest.raises(RemoteError) as info:
        master.call(SLAVE, ASYNC, "raise_value_error", args=("no",))
    assert isinstance(info.value.exception, ValueError)
    assert str(info.value.exception) == "no"
    assert "raise_value_error" in info.value.remote_traceback


def test_a_shipped_async_closure_runs_remotely(master):
    offset = 100

    async def add(x):
        await asyncio.sleep(0)
        return x + offset

    assert master.call(SLAVE, add, args=(1,)) == 101


def test_coroutines_of_casts_and_local_calls_run(master, tmp_path):
    record = tmp_path / "cast.txt"
    master.cast(SLAVE, ASYNC, "record_cancellation", args=(str(record), 0.01))
    wait_for(lambda: _lines(record) == ["started", "finally"])
    assert master.call(MASTER, ASYNC, "double", args=(4,)) == 8  # this node itself
    with pytest.raises(RemoteError):
        master.call(MASTER, ASYNC, "raise_value_error", args=("here",))


def test_version_checks_hold_for_coroutine_functions(master):
    with pytest.raises(BadRpc) as info:
        master.call(SLAVE, (ASYNC, "9.9"), "double", args=(1,))
    assert info.value.reason == "incompatible"


def test_many_coroutines_share_one_loop_and_no_thread_each(master):
    threads_before = master.call(SLAVE, "threading", "active_count")
    started = time.monotonic()
    keys = [
        master.async_call(SLAVE, ASYNC, "sleep_then", args=(1.0, i), timeout=30)
        for i in range(2000)
    ]
    during = master.call(SLAVE, "threading", "active_count")
    described = master.call(SLAVE, "genrpc_actors.introspection", "describe")
    assert described["event_loop"]["awaiting"] > 1000  # still asleep, together
    assert sum(master.yield_(key) for key in keys) == sum(range(2000))
    assert time.monotonic() - started < 10  # together: one after the other would take 2,000 s
    # the loop's thread, and the few pool threads that took over groups of requests as they
    # were read (a request handed over alone took a thread each: about 60 here)
    assert during < threads_before + 24


# -- callers ---------------------------------------------------------------------------------


def test_acall_gives_the_outcomes_of_call(master):
    async def main():
        assert await master.acall(SLAVE, "operator", "add", args=(2, 3)) == 5
        assert await master.acall(SLAVE, ASYNC, "double", args=(8,)) == 16
        assert await master.acall(MASTER, "operator", "neg", args=(1,)) == -1
        with pytest.raises(RemoteError):
            await master.acall(SLAVE, "os", "no_such_function")
        with pytest.raises(BadRpc) as refused:
            await master.acall(FAKE, "os", "getpid")
        assert refused.value.reason == "econnrefused"
        with pytest.raises(BadRpc) as late:
            await master.acall(SLAVE, ASYNC, "sleep_then", args=(5, None), timeout=0.2)
        assert late.value.reason == "timeout"
        with pytest.raises(ValueError):
            await master.acall(SLAVE, "os", "getpid", timeout=-1)
        results = await asyncio.gather(
            *(master.acall(SLAVE, ASYNC, "double", args=(i,)) for i in range(1000))
        )
        assert results == [2 * i for i in range(1000)]

    asyncio.run(main())


def test_amulticall_and_asbcast_give_the_outcomes_of_their_twins(master):
    async def main():
        result = await master.amulticall([SLAVE, MASTER, FAKE], "operator", "neg", args=(7,))
        assert isinstance(result, MultiResult)
        assert result.results == [-7, -7]
        assert result.bad_nodes == [FAKE]
        assert result.errors[FAKE].reason == "econnrefused"
        slow = await master.amulticall([SLAVE], ASYNC, "sleep_then", args=(5, 1), timeout=0.2)
        assert slow.bad_nodes == [SLAVE]
        assert slow.errors[SLAVE].reason == "timeout"
        good, bad = await master.asbcast([SLAVE, MASTER, FAKE], "nobody_has_this", "hi")
        assert (good, bad) == ([], [SLAVE, MASTER, FAKE])

    asyncio.run(main())


# -- cancellation ----------------------------------------------------------------------------


def test_a_timeout_cancels_the_remote_coroutine(master, tmp_path):
    record = tmp_path / "timeout.txt"

    async def main():
        with pytest.raises(BadRpc) as info:
            await master.acall(
                SLAVE, ASYNC, "record_cancellation", args=(str(record),), timeout=0.5
            )
        assert info.value.reason == "timeout"

    asyncio.run(main())
    wait_for(lambda: _lines(record) == ["started", "cancelled", "finally"])


def test_cancelling_the_awaiting_task_cancels_the_remote_coroutine(master, tmp_path):
    record = tmp_path / "task.txt"

    async def main():
        task = asyncio.create_task(
            master.acall(SLAVE, ASYNC, "record_cancellation", args=(str(record),))
        )
        while _lines(record) != ["started"]:
            await asyncio.sleep(0.005)
        task.cancel()
        with pytest.raises(asyncio.CancelledError):
            await task

    asyncio.run(asyncio.wait_for(main(), 10))
    wait_for(lambda: _lines(record) == ["started", "cancelled", "finally"])


def test_a_blocking_call_that_times_out_cancels_the_remote_coroutine(master, tmp_path):
    record = tmp_path / "call.txt"
    with pytest.raises(BadRpc):
        master.call(SLAVE, ASYNC, "record_cancellation", args=(str(record),), timeout=0.5)
    wait_for(lambda: _lines(record) == ["started", "cancelled", "finally"])


def test_a_coroutine_in_a_process_worker_runs_on_that_workers_loop(make_node, driver):
    peer = "asyncworkers@127.0.0.1"
    node = make_node(peer, worker_processes=1, process_modules=[ASYNC])
    observer = "asyncobserver@127.0.0.1"
    settings = node_settings(observer, driver, {peer: driver.port(node)}, tcp_server_port=False)
    with Node.start(observer, **settings) as caller:
        assert caller.call(peer, ASYNC, "double", args=(21,)) == 42
        assert caller.call(peer, ASYNC, "thread_name") == "MainThread"
        worker_pid = caller.call(peer, ASYNC, "pid")
        assert worker_pid not in (node.pid, os.getpid())


def test_a_long_timeout_ends_the_wait_on_time_too(master, tmp_path):
    """Waits of a second or more share their loop's timers (to within 0.1 s)."""
    record = tmp_path / "long.txt"

    async def main():
        started = time.monotonic()
        with pytest.raises(BadRpc) as info:
            await master.acall(
                SLAVE, ASYNC, "record_cancellation", args=(str(record),), timeout=1.0
            )
        return info.value.reason, time.monotonic() - started

    reason, waited = asyncio.run(main())
    assert reason == "timeout"
    assert 1.0 <= waited < 1.6
    wait_for(lambda: _lines(record) == ["started", "cancelled", "finally"])

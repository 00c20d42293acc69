"""Process workers: requests of ``process_modules`` run in OS processes of their own, and
whatever one does to its process (exit, segfault, a signal, a runaway loop, a memory blow-up)
gives that request ``BadRpc(("killed", why))`` and nothing else on the node notices. Every test
runs under both drivers, the node in a process of its own."""

from __future__ import annotations

import os
import signal
from typing import Any

import pytest

from genrpc_actors import BadRpc, ConfigError, Node, RemoteError
from genrpc_actors._node import default_node
from genrpc_actors.testing import LocalNode
from tests.node_fixtures import COOKIE, MASTER, Driver, start_master
from tests.waiting import WAIT, process_gone, wait_for

WORKERS = "workers@127.0.0.1"
FUNCTIONS = "tests.remote.process_functions"
TIME_LIMIT = 1.0
MEMORY_LIMIT = 200 * 1024 * 1024


@pytest.fixture
def workers_node(make_node, master_port) -> LocalNode:
    return make_node(
        WORKERS,
        {MASTER: master_port},
        worker_processes=2,
        process_modules=[FUNCTIONS],
        request_time_limit=TIME_LIMIT,
        worker_memory_limit=MEMORY_LIMIT,
    )


@pytest.fixture
def caller(driver: Driver, master_port: int, workers_node: LocalNode) -> Any:
    node = start_master(driver, master_port, {WORKERS: driver.port(workers_node)})
    yield node
    node.stop()


def described(caller: Node) -> dict[str, Any]:
    info: dict[str, Any] = caller.call(
        WORKERS, "genrpc_actors.introspection", "describe", timeout=WAIT
    )
    return info


def all_idle(caller: Node) -> list[dict[str, Any]] | None:
    workers: list[dict[str, Any]] = described(caller)["process_workers"]
    return workers if all(w["state"] == "idle" for w in workers) else None


def worker_pids(caller: Node) -> list[int]:
    return [w["pid"] for w in described(caller)["process_workers"]]


def test_requests_of_process_modules_run_in_worker_processes(caller, workers_node):
    pids = worker_pids(caller)
    assert len(pids) == 2
    assert workers_node.pid not in pids
    assert caller.call(WORKERS, FUNCTIONS, "pid", timeout=WAIT) in pids
    assert caller.call(WORKERS, "os", "getpid", timeout=WAIT) == workers_node.pid  # a thread
    assert caller.call(WORKERS, FUNCTIONS, "echo", [{"a": b"x" * 100_000}], timeout=WAIT) == {
        "a": b"x" * 100_000
    }


def test_workers_give_way_to_their_node(caller, workers_node):
    node_nice = os.getpriority(os.PRIO_PROCESS, workers_node.pid)
    for pid in worker_pids(caller):  # niced, and batch work for the scheduler
        assert os.getpriority(os.PRIO_PROCESS, pid) == min(19, node_nice + 10)
        assert os.sched_getscheduler(pid) == os.SCHED_BATCH
    assert os.sched_getscheduler(workers_node.pid) == os.SCHED_OTHER  # the node itself is not


def test_large_bodies_cross_to_workers_through_shared_memory(caller):
    assert caller.call(WORKERS, FUNCTIONS, "shared_regions", [b"small"], timeout=WAIT) == []
    regions = caller.call(WORKERS, FUNCTIONS, "shared_regions", [bytes(200_000)], timeout=WAIT)
    assert regions and all(r.startswith("/memfd:genrpc-worker-body") for r in regions)
    assert caller.call(WORKERS, FUNCTIONS, "echo", [bytes(3_000_000)], timeout=WAIT) == bytes(
        3_000_000
    )  # past the first region, both ways


KILLS = [
    ("exit_with", (3,), "exit 3"),
    ("segfault", (), "signal SIGSEGV"),
    ("spin", (TIME_LIMIT * 5,), "time_limit"),
    ("allocate", (MEMORY_LIMIT // (1024 * 1024) * 2,), "memory_limit"),
]


@pytest.mark.parametrize(("function", "args", "why"), KILLS, ids=[k[2] for k in KILLS])
def test_a_request_that_ends_its_process_is_killed_and_nobody_else_notices(
    caller, workers_node, function, args, why
):
    before = worker_pids(caller)
    slow = caller.async_call(WORKERS, FUNCTIONS, "sleep_then", (0.5, "the other worker"))
    wait_for(lambda: any(w["busy"] for w in described(caller)["process_workers"]))
    with pytest.raises(BadRpc) as info:
        caller.call(WORKERS, FUNCTIONS, function, args, timeout=30)
    assert info.value.reason == ("killed", why)
    assert caller.yield_(slow) == "the other worker"  # the other process worker went on
    assert caller.call(WORKERS, "os", "getpid", timeout=WAIT) == workers_node.pid  # the node too
    assert caller.call(WORKERS, FUNCTIONS, "echo", ["after"], timeout=WAIT) == "after"
    after = wait_for(lambda: all_idle(caller))  # the replacement has started
    assert len(after) == 2
    assert len(set(before) - {w["pid"] for w in after}) == 1  # one replaced
    assert sum(w["kills"].get(why, 0) for w in after) == 1
    assert all(w["started_s"] > 0 for w in after)  # the replacement says how long it took


def test_a_worker_killed_from_outside_gives_its_request_killed(caller):
    key = caller.async_call(WORKERS, FUNCTIONS, "sleep_then", (30.0, "never"))
    busy = wait_for(lambda: [w["pid"] for w in described(caller)["process_workers"] if w["busy"]])
    os.kill(busy[0], signal.SIGKILL)
    with pytest.raises(BadRpc) as info:
        caller.yield_(key)
    assert info.value.reason == ("killed", "signal SIGKILL")
    assert caller.call(WORKERS, FUNCTIONS, "echo", [1], timeout=WAIT) == 1


def test_exceptions_and_bad_results_in_a_worker_are_outcomes_not_kills(caller):
    with pytest.raises(RemoteError) as info:
        caller.call(WORKERS, FUNCTIONS, "system_exit", timeout=WAIT)
    assert info.value.type_name == "SystemExit"
    with pytest.raises(BadRpc) as bad:
        caller.call(WORKERS, FUNCTIONS, "unpicklable", timeout=WAIT)
    assert "unpicklable_result" in str(bad.value.reason)
    assert all(not w["kills"] for w in described(caller)["process_workers"])


def test_a_process_module_that_fails_to_import_fails_the_start_clearly():
    with pytest.raises(ConfigError) as info:
        Node.start(
            "broken@127.0.0.1",
            cookie=COOKIE,
            tcp_server_port=0,
            worker_processes=1,
            process_modules=["tests.remote.no_such_module"],
        )
    assert info.value.key == "process_modules"
    assert "tests.remote.no_such_module" in str(info.value)
    assert "ModuleNotFoundError" in str(info.value)


def test_stop_leaves_no_worker_process():
    node = Node.start(
        "stopping@127.0.0.1",
        cookie=COOKIE,
        tcp_server_port=0,
        worker_processes=2,
        process_modules=[FUNCTIONS],
    )
    try:
        pids = [w["pid"] for w in node.describe()["process_workers"]]
        key = node.async_call("stopping@127.0.0.1", FUNCTIONS, "sleep_then", (30.0, "never"))
        wait_for(lambda: node.statistics().busy_process_workers == 1)
    finally:
        node.stop()
    assert all(process_gone(pid) for pid in pids)
    with pytest.raises(BadRpc) as info:  # the request it was running is told, not left waiting
        node.nb_yield(key, WAIT)
    assert info.value.reason == ("killed", "signal SIGKILL")


def test_workers_end_when_their_node_is_killed(make_node):
    node = make_node(WORKERS, worker_processes=2, process_modules=[FUNCTIONS])
    with Node.start(
        "observer@127.0.0.1",
        cookie=COOKIE,
        tcp_server_port=False,
        client_config_per_node={WORKERS: node.port},
    ) as observer:
        info = observer.call(WORKERS, "genrpc_actors.introspection", "describe", timeout=WAIT)
    pids = [w["pid"] for w in info["process_workers"]]
    assert len(pids) == 2
    node.kill()
    wait_for(lambda: all(process_gone(pid) for pid in pids), timeout=10)


def test_a_caller_that_stops_waiting_has_its_process_worker_killed(caller):
    with pytest.raises(BadRpc) as info:
        caller.call(WORKERS, FUNCTIONS, "sleep_then", (30.0, "never"), timeout=0.5)
    assert info.value.reason == "timeout"
    wait_for(
        lambda: (
            sum(w["kills"].get("cancelled", 0) for w in described(caller)["process_workers"]) == 1
        )
    )
    assert caller.call(WORKERS, FUNCTIONS, "echo", [2], timeout=WAIT) == 2


def test_timed_out_calls_leave_no_busy_worker_and_no_queued_request(caller):
    for _ in range(100):
        with pytest.raises(BadRpc):
            caller.call(WORKERS, FUNCTIONS, "sleep_then", (5.0, "never"), timeout=0.01)

    def idle() -> bool:
        stats = caller.call(WORKERS, lambda: default_node().statistics(), timeout=WAIT)
        return (stats.busy_process_workers, stats.queued_process_requests) == (0, 0)

    wait_for(idle, timeout=15)  # cancelled ones still queued are skipped once workers are back
    assert caller.call(WORKERS, FUNCTIONS, "echo", ["still"], timeout=WAIT) == "still"


def test_a_worker_that_cannot_be_replaced_makes_requests_fail_fast_until_it_can():
    from tests.remote.fragile_import import BREAK

    fragile = "tests.remote.fragile_import"
    me = "fragile@127.0.0.1"
    node = Node.start(
        me, cookie=COOKIE, tcp_server_port=0, worker_processes=1, process_modules=[fragile]
    )
    try:
        BREAK.touch()
        with pytest.raises(BadRpc) as info:
            node.call(me, fragile, "exit_with", (3,), timeout=WAIT)
        assert info.value.reason == ("killed", "exit 3")
        with pytest.raises(BadRpc) as refused:  # at once: no worker can take it
            node.call(me, fragile, "echo", ["x"], timeout=WAIT)
        reason = refused.value.reason
        assert reason[0] == "not_running"
        assert "ImportError" in reason[1] or "refuses to load" in reason[1]
        assert node.call(me, "operator", "add", (1, 2), timeout=WAIT) == 3  # threads go on
        BREAK.unlink()
        assert wait_for(lambda: _answers(node, me, fragile), timeout=10) == "back"
    finally:
        BREAK.unlink(missing_ok=True)
        node.stop()


def _answers(node: Node, me: str, module: str) -> str | None:
    try:
        return str(node.call(me, module, "echo", ["back"], timeout=WAIT))
    except BadRpc:
        return None

"""The thread pool's bound: past ``max_worker_threads`` requests wait in arrival order, and a
thread that cannot be started leaves the pool working."""

from __future__ import annotations

import threading
from typing import Any

import pytest

from genrpc_actors import BadRpc, Node
from genrpc_actors._execution._thread_pool import NoThread, WorkerPool
from tests.node_fixtures import COOKIE
from tests.waiting import WAIT, wait_for

ME = "bounded@127.0.0.1"


def test_past_the_bound_jobs_wait_and_never_run_more_at_once():
    pool = WorkerPool("bounded", max_threads=2)
    gate = threading.Event()
    lock = threading.Lock()
    running = [0, 0]  # now, most ever
    done = threading.Semaphore(0)

    def job() -> None:
        with lock:
            running[0] += 1
            running[1] = max(running)
        gate.wait(WAIT)
        with lock:
            running[0] -= 1
        done.release()

    try:
        for _ in range(8):
            pool.submit(job)
        assert (pool.size, pool.queued) == (2, 6)
        wait_for(lambda: running[0] == 2)  # both threads hold a job (the second may start late)
        gate.set()
        for _ in range(8):
            assert done.acquire(timeout=WAIT)
        assert running == [0, 2]
        assert (pool.size, pool.queued) == (2, 0)
    finally:
        assert pool.stop() == []


def test_with_one_thread_jobs_run_in_arrival_order():
    pool = WorkerPool("one", max_threads=1)
    gate = threading.Event()
    ran: list[int] = []
    done = threading.Event()

    def job(n: int) -> None:
        gate.wait(WAIT)
        ran.append(n)
        if n == 9:
            done.set()

    try:
        for n in range(10):
            pool.submit(job, n)
        assert pool.queued == 9
        gate.set()
        assert done.wait(WAIT)
        assert ran == list(range(10))
    finally:
        assert pool.stop() == []


def test_a_thread_that_cannot_start_leaves_its_job_to_the_others(monkeypatch):
    pool = WorkerPool("failing", max_threads=4)
    ran = threading.Event()
    first = threading.Event()
    try:
        pool.submit(first.set)
        assert first.wait(WAIT)
        wait_for(lambda: pool.busy == 0)
        real_start = threading.Thread.start
        refuse = threading.Event()
        refuse.set()

        def start(thread: threading.Thread) -> None:
            if refuse.is_set() and thread.name.startswith("genrpc-worker-failing"):
                refuse.clear()
                raise RuntimeError("can't start new thread")
            real_start(thread)

        monkeypatch.setattr(threading.Thread, "start", start)
        gate = threading.Event()
        pool.submit(gate.wait, WAIT)  # the one thread is busy now
        wait_for(lambda: pool.busy == 1)
        pool.submit(ran.set)  # a second thread is refused: the job waits for the first
        assert pool.size == 1
        gate.set()
        assert ran.wait(WAIT)
    finally:
        assert pool.stop() == []  # no thread object left that never started


def test_a_node_counts_the_requests_waiting_for_a_thread():
    node = Node.start(ME, cookie=COOKIE, tcp_server_port=0, max_worker_threads=2)
    try:
        keys = [node.async_call(ME, "time", "sleep", (0.5,)) for _ in range(5)]
        stats: Any = wait_for(lambda: node.statistics().queued_requests and node.statistics())
        assert stats.workers <= 2
        assert node.describe()["workers"]["queued"] >= 1
        assert [node.yield_(key) for key in keys] == [None] * 5
        assert node.statistics().queued_requests == 0
    finally:
        node.stop()


@pytest.mark.parametrize("count", [1, 3])
def test_the_bound_comes_from_the_configuration(count):
    with Node.start(ME, cookie=COOKIE, tcp_server_port=0, max_worker_threads=count) as node:
        keys = [node.async_call(ME, "time", "sleep", (0.2,)) for _ in range(count + 2)]
        wait_for(lambda: node.statistics().queued_requests == 2)
        assert node.statistics().workers == count
        assert [node.yield_(key) for key in keys] == [None] * (count + 2)


def _refuse_threads_named(monkeypatch: pytest.MonkeyPatch, prefix: str) -> threading.Event:
    """Thread.start fails (as under a pids limit) for threads named ``prefix...`` while the
    returned event is set."""
    real_start = threading.Thread.start
    refusing = threading.Event()
    refusing.set()

    def start(thread: threading.Thread) -> None:
        if refusing.is_set() and thread.name.startswith(prefix):
            raise RuntimeError("can't start new thread")
        real_start(thread)

    monkeypatch.setattr(threading.Thread, "start", start)
    return refusing


def test_with_no_thread_at_all_a_job_is_refused_not_left_waiting(monkeypatch):
    pool = WorkerPool("threadless")
    refusing = _refuse_threads_named(monkeypatch, "genrpc-worker-threadless")
    ran = threading.Event()
    try:
        with pytest.raises(NoThread) as info:
            pool.submit(ran.set)
        assert "can't start new thread" in str(info.value)
        assert (pool.size, pool.queued) == (0, 0)  # nothing kept that could run late
        refusing.clear()
        pool.submit(ran.set)  # the system gives threads again: the pool works
        assert ran.wait(WAIT)
    finally:
        assert pool.stop() == []


def test_a_node_that_cannot_start_a_thread_answers_not_running_and_recovers(monkeypatch):
    me = "threadless@127.0.0.1"
    with Node.start(me, cookie="c" * 16, tcp_server_port=False) as node:
        refusing = _refuse_threads_named(monkeypatch, f"genrpc-worker-{me}")
        with pytest.raises(BadRpc) as info:
            node.call(me, "operator", "add", (1, 2), timeout=WAIT)
        assert info.value.reason[0] == "not_running"
        assert "can't start new thread" in info.value.reason[1]
        refusing.clear()
        assert node.call(me, "operator", "add", (1, 2), timeout=WAIT) == 3


def test_a_connection_whose_reading_finds_no_thread_ends_saying_why(monkeypatch):
    """Authenticated, the connection's reading goes to the pool; with no thread there and none
    to start, the connection ends with the reason ``no_thread`` (its caller hears at once)."""
    from genrpc_actors.testing import connection_pair

    _refuse_threads_named(monkeypatch, "genrpc-worker-")
    with connection_pair() as pair:
        assert pair.server_closed.wait(WAIT)
        assert pair.server_reason == "no_thread"

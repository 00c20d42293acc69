"""A request that runs long never holds up the others of its connection.

The worker that read a request runs it itself (no thread to wake on the hot path), under the
watch of the pool's watcher: past a millisecond or two, the requests read with it and the reading
of the connection go to other workers. These tests send requests by hand, pipelined in one write,
so that they arrive together whatever the timing.
"""

from __future__ import annotations

import collections
import pickle
import threading
import time
import uuid
from collections.abc import Callable, Iterator
from typing import Any

import pytest

from genrpc_actors import Node
from genrpc_actors import _protocol as wire
from genrpc_actors._execution._thread_pool import Job, WorkerPool
from tests.hostile_peers import Sockets, authenticate, read_frame

COOKIE = "isolation-cookie"
SERVER = "iso-server@127.0.0.1"
RAW = "raw@127.0.0.1"
HELPERS = "tests.remote.functions"
AT_ONCE = 1.0  # far below the slow requests' 5 s
SLOW = 5.0


@pytest.fixture
def server() -> Iterator[Node]:
    node = Node.start(SERVER, cookie=COOKIE, tcp_server_port=0)
    try:
        yield node
    finally:
        node.stop()


def call_frame(request_id: int, function: str, *args: Any) -> bytes:
    body = pickle.dumps((HELPERS, None, function, args, {}), protocol=5)
    return wire.message(wire.CALL, 0, request_id, body)


def replies(sock: Any, count: int) -> Iterator[tuple[int, Any, float]]:
    """``(request_id, value, seconds since asked)`` of the next ``count`` replies."""
    start = time.monotonic()
    for _ in range(count):
        kind, flags, request_id, body = wire.parse_message(read_frame(sock, SLOW * 2))
        assert kind == wire.REPLY
        yield request_id, wire.decode_body(body, flags), time.monotonic() - start


def ask(server: Node, data: bytes, count: int) -> list[tuple[int, Any, float]]:
    """Send ``data`` (requests, in one write) on a fresh authenticated connection; the first
    ``count`` replies, as ``replies`` gives them."""
    with Sockets() as socks:
        sock = socks.connect(server.port)
        authenticate(sock, COOKIE.encode(), RAW, SERVER)
        sock.sendall(data)
        return list(replies(sock, count))


def test_quick_requests_read_with_a_slow_one_are_answered_at_once(server):
    got = ask(
        server,
        call_frame(1, "sleep_then", SLOW, "slow")
        + call_frame(2, "echo", "quick")
        + call_frame(3, "echo", "quicker"),
        2,
    )
    assert [(rid, value) for rid, value, _ in got] == [(2, "quick"), (3, "quicker")]
    assert max(elapsed for _, _, elapsed in got) < AT_ONCE


def test_quick_requests_read_before_a_slow_one_are_answered_at_once(server):
    """Replies of requests read together wait for the last of them, unless it runs long."""
    got = ask(
        server,
        call_frame(1, "echo", "quick")
        + call_frame(2, "echo", "quicker")
        + call_frame(3, "sleep_then", SLOW, "slow"),
        2,
    )
    assert sorted((rid, value) for rid, value, _ in got) == [(1, "quick"), (2, "quicker")]
    assert max(elapsed for _, _, elapsed in got) < AT_ONCE


def test_replies_held_for_a_batch_ending_in_a_cast_are_sent(server):
    cast = pickle.dumps((HELPERS, None, "echo", ("cast",), {}), protocol=5)
    got = ask(
        server,
        call_frame(1, "echo", "first")
        + call_frame(2, "echo", "second")
        + wire.message(wire.CAST, 0, 3, cast),
        2,
    )
    assert [(rid, value) for rid, value, _ in got] == [(1, "first"), (2, "second")]
    assert max(elapsed for _, _, elapsed in got) < AT_ONCE


def test_a_request_after_a_slow_one_is_read_and_answered_at_once(server):
    with Sockets() as socks:
        sock = socks.connect(server.port)
        authenticate(sock, COOKIE.encode(), RAW, SERVER)
        sock.sendall(call_frame(1, "sleep_then", SLOW, "slow"))
        sock.sendall(call_frame(2, "echo", "quick"))
        ((request_id, value, elapsed),) = replies(sock, 1)
        assert (request_id, value) == (2, "quick")
        assert elapsed < AT_ONCE


def test_requests_in_one_write_all_run_when_they_wait_for_each_other(server):
    """The first blocks until the last has run: only other workers can run the last."""
    flag = f"isolation-{uuid.uuid4()}"
    answers = ask(
        server,
        call_frame(1, "wait_for_flag", flag, SLOW)
        + call_frame(2, "echo", "between")
        + call_frame(3, "set_flag", flag),
        3,
    )
    got = {rid: (value, elapsed) for rid, value, elapsed in answers}
    assert got[1][0] is True  # it saw the flag, it did not time out
    assert max(elapsed for _, elapsed in got.values()) < AT_ONCE


# -- the pool's side -------------------------------------------------------------------------------


@pytest.fixture
def pool() -> Iterator[WorkerPool]:
    workers = WorkerPool("test", patience=0.001)
    try:
        yield workers
    finally:
        assert workers.stop(timeout=SLOW) == []


@pytest.fixture
def patient_pool() -> Iterator[WorkerPool]:
    """A pool whose watcher takes over after 50 ms: a job of microseconds is quick beside that
    even when the GIL or the scheduler holds it up for a few ms (as 1 ms of patience is not)."""
    workers = WorkerPool("patient", patience=0.05)
    try:
        yield workers
    finally:
        assert workers.stop(timeout=SLOW) == []


def test_a_quick_job_runs_here_and_nothing_takes_over(patient_pool):
    pool = patient_pool
    taken = threading.Event()
    ran: list[str] = []
    for _ in range(100):
        assert pool.run_here(ran.append, (threading.current_thread().name,), taken.set) is False
    assert ran == [threading.current_thread().name] * 100
    assert not taken.is_set()


def test_a_long_job_is_taken_over_while_it_runs(pool):
    taken = threading.Event()
    start = time.monotonic()

    def job() -> None:
        assert taken.wait(SLOW)  # released only by the watcher's take_over

    assert pool.run_here(job, (), taken.set) is True
    assert time.monotonic() - start < AT_ONCE


def test_a_job_that_raises_is_logged_and_the_thread_goes_on(patient_pool, caplog):
    pool = patient_pool  # logging a traceback may take longer than 1 ms on a busy machine

    def fail() -> None:
        raise ValueError("boom")

    never: Callable[[], None] = threading.Event().set
    assert pool.run_here(fail, (), never) is False
    assert "event=worker_job_failed" in caplog.text


def test_jobs_run_each_in_turn_here_under_one_watch(patient_pool, caplog):
    pool = patient_pool
    here = threading.current_thread().name
    ran: list[tuple[str, int]] = []

    def fail() -> None:
        raise ValueError("boom")

    jobs: collections.deque[Job] = collections.deque(
        [(lambda i=i: ran.append((threading.current_thread().name, i)), ()) for i in range(50)]
    )
    jobs.insert(10, (fail, ()))
    assert pool.run_each(jobs, threading.Event().set) is False
    assert ran == [(here, i) for i in range(50)]  # in order, here, past the one that raised
    assert not jobs
    assert "event=worker_job_failed" in caplog.text


def test_a_long_job_of_many_hands_the_rest_over_and_runs_none_of_them(pool):
    """The watcher times each job, not the whole run: the one that runs long has the rest
    taken (by ``take_over``), and this thread runs no more of them once it ends."""
    taken = threading.Event()
    ran: list[int] = []
    left: list[Job] = []

    def long_job() -> None:
        assert taken.wait(SLOW)  # released only by the watcher's take_over

    jobs: collections.deque[Job] = collections.deque(
        [(ran.append, (0,)), (long_job, ()), (ran.append, (2,)), (ran.append, (3,))]
    )

    def take_over() -> None:
        while jobs:
            left.append(jobs.popleft())
        taken.set()

    assert pool.run_each(jobs, take_over) is True
    assert ran == [0]
    assert [args for _, args in left] == [(2,), (3,)]


def test_the_watcher_keeps_ticking_through_a_steady_flow_of_short_jobs():
    """Parked, the watcher is woken by the next job: a thread wake-up per call if it parks
    between sequential calls. It parks only after 50 ticks in which no job began, so a flow
    of short jobs (each far shorter than a tick, most ticks seeing none running) keeps it
    ticking."""
    workers = WorkerPool("flow", patience=0.01)  # 50 quiet ticks: 0.5 s
    unparked: list[float] = []

    class Counted(threading.Event):
        def set(self) -> None:  # what wakes the watcher when parked
            unparked.append(time.monotonic())
            super().set()

    workers._watch_wake = Counted()
    try:
        pace = threading.Event()
        calls = 0
        deadline = time.monotonic() + 2.0
        while time.monotonic() < deadline:
            assert workers.run_here(int, (), threading.Event().set) is False
            calls += 1
            pace.wait(0.002)  # a call every few ms: a sequential caller's pace, slowed
        assert calls > 100
        assert len(unparked) == 1  # by the first job only
    finally:
        unparked.clear()
        assert workers.stop(timeout=SLOW) == []

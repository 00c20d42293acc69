"""Nothing an asyncio caller does blocks its event loop.

A 1 ms ticker runs beside three calls at once: one to a node that accepts TCP and never answers
(the handshake hangs until ``authentication_timeout``), one that sends 50 MB to a node that has
stopped reading (SIGSTOPped, resumed a second later) and one that waits on a slow remote
function. Each tick may be late by what the scheduler and the GIL's switch interval cost, never by
what a blocked loop would (hundreds of milliseconds to seconds).

On a 2-vCPU machine the loop's thread shares the CPUs with the writer thread, the connection
threads and three busy node processes: alone, each of the three costs a tick at most a few ms
(about 2 ms for the handshake, 1 ms for the slow function, 3 to 8 ms for the 50 MB); together,
10 to 17 ms. The bound leaves room for that, and is 30 times below what SIGSTOP would cost.
"""

from __future__ import annotations

import asyncio
import os
import signal
import time

import pytest

from genrpc_actors import Node, RpcError
from genrpc_actors.testing import silent_listener
from tests.node_fixtures import SLAVE, node_settings

ASYNC = "tests.remote.async_functions"
READER = "stoppedreader@127.0.0.1"
HANGER = "hanger@127.0.0.1"
CALLER = "loopcaller@127.0.0.1"
BIG = 50 * 1024 * 1024
TICK = 0.001
LATE = 0.030  # seconds: a loop blocked by any of the three would be late by 1 s or more


async def _ticker(stop: asyncio.Event, lateness: list[float]) -> None:
    while not stop.is_set():
        expected = time.monotonic() + TICK
        await asyncio.sleep(TICK)
        lateness.append(time.monotonic() - expected)


@pytest.fixture
def reader(make_node):
    return make_node(READER)


def test_connecting_sending_and_waiting_never_block_the_loop(driver, slave, reader):
    with silent_listener() as silent:
        peers = {SLAVE: driver.port(slave), READER: driver.port(reader), HANGER: silent}
        settings = node_settings(
            CALLER, driver, peers, tcp_server_port=False, authentication_timeout=1.0
        )
        with Node.start(CALLER, **settings) as node:
            assert node.call(READER, "os", "getpid") == reader.pid  # connected, then stopped
            worst = asyncio.run(_three_at_once(node, reader.pid))
    assert worst < LATE, f"a tick was {worst * 1000:.1f} ms late"


async def _three_at_once(node: Node, reader_pid: int) -> float:
    payload = b"x" * BIG  # made before the ticker starts: making it is the test's own work
    stop = asyncio.Event()
    lateness: list[float] = []
    ticker = asyncio.create_task(_ticker(stop, lateness))
    await asyncio.sleep(0.05)  # the ticker runs before anything starts
    os.kill(reader_pid, signal.SIGSTOP)
    loop = asyncio.get_running_loop()
    resume = loop.call_later(1.0, os.kill, reader_pid, signal.SIGCONT)
    try:
        hung, sent, slow = await asyncio.gather(
            node.acall(HANGER, "os", "getpid", timeout=5),
            node.acall(READER, "builtins", "len", args=(payload,), timeout=30),
            node.acall(SLAVE, ASYNC, "sleep_then", args=(1.0, "slept"), timeout=10),
            return_exceptions=True,
        )
    finally:
        resume.cancel()
        os.kill(reader_pid, signal.SIGCONT)
        stop.set()
        await ticker
    assert isinstance(hung, RpcError), hung
    assert hung.reason == "timeout"
    assert sent == BIG
    assert slow == "slept"
    assert len(lateness) > 100  # it ticked all along
    return max(lateness)

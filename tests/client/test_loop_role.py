"""An event loop holding the reading role, on a connection pair: it reads its own replies in
its own thread, keeps the role between its calls, gives it to a blocking caller that comes, and
a loop that has ended holds it for nobody."""

from __future__ import annotations

import asyncio
import threading
import time
from typing import Any

import psutil
import pytest

from genrpc_actors import BadTcp
from genrpc_actors._node._async_calls import settled
from genrpc_actors._node._requests import resolve
from genrpc_actors.testing import connection_pair
from tests.client.test_reading_role import call, send
from tests.waiting import WAIT


@pytest.fixture
def pair() -> Any:
    with connection_pair() as made:
        assert made.wait_authenticated(WAIT)
        yield made


async def acall(pair, function: str, *args: Any) -> tuple[Any, str]:
    """What ``acall`` does on a connection: the result, and the thread that delivered it."""
    _, slot = send(pair, function, *args)
    delivered: list[str] = []
    slot.add_callback(lambda _slot: delivered.append(threading.current_thread().name))
    pair.client.await_in(asyncio.get_running_loop())
    await asyncio.wait_for(settled(slot), WAIT)
    return resolve(slot), delivered[0]


def test_a_loop_reads_its_own_replies_in_its_own_thread(pair):
    async def main():
        return [await acall(pair, "add", i, 1) for i in range(200)]

    outcomes = asyncio.run(main())
    assert [result for result, _ in outcomes] == [i + 1 for i in range(200)]
    here = threading.current_thread().name
    # the first reply may come through the connection's thread, which then hands the role over
    assert all(thread == here for _, thread in outcomes[1:])


def test_a_blocking_caller_takes_the_role_from_a_busy_loop(pair):
    async def main():
        assert (await acall(pair, "add", 1, 1))[0] == 2  # the loop holds the role now
        took: list[float] = []

        def blocking() -> None:
            started = time.monotonic()
            assert call(pair, "add", 2, 2) == 4
            took.append(time.monotonic() - started)

        thread = threading.Thread(target=blocking)
        thread.start()
        time.sleep(1.0)  # the loop is busy: it reads nothing meanwhile
        thread.join(WAIT)
        assert took
        assert took[0] < 0.5  # it read its reply itself, not after the loop's second
        result, delivered = await acall(pair, "add", 3, 3)  # and the loop has it back
        assert result == 6
        return delivered

    asyncio.run(main())


def test_a_loop_that_ended_holds_the_role_for_nobody(pair):
    async def one():
        return (await acall(pair, "add", 5, 5))[0]

    assert asyncio.run(one()) == 10  # its loop is closed now, and held the role
    assert call(pair, "add", 6, 6) == 12
    _, slot = send(pair, "add", 7, 7, lead=False)  # read by the connection's thread
    assert slot.wait(WAIT)
    assert resolve(slot) == 14
    assert asyncio.run(one()) == 10  # a new loop takes it again


def test_the_end_of_the_connection_fails_a_loop_that_reads(pair):
    async def main():
        assert (await acall(pair, "add", 1, 1))[0] == 2
        _, slot = send(pair, "sleep", 0.3)  # not answered before the end (short: a thread)
        pair.client.await_in(asyncio.get_running_loop())
        pair.server.close()
        await asyncio.wait_for(settled(slot), WAIT)
        with pytest.raises(BadTcp):
            resolve(slot)

    asyncio.run(main())


def test_blocking_calls_made_in_the_loops_own_thread_leave_nothing_behind(pair):
    """A blocking call inside a coroutine blocks the loop: the role must not be handed back
    to that loop meanwhile (a duplicate descriptor per call piled up until none was left)."""
    process = psutil.Process()

    async def main():
        assert (await acall(pair, "add", 1, 1))[0] == 2  # the loop holds the role
        before = process.num_fds()
        for i in range(2000):
            assert call(pair, "add", i, 1) == i + 1
        grown = process.num_fds() - before
        result, _ = await acall(pair, "add", 2, 2)  # and the loop reads again
        return grown, result

    grown, result = asyncio.run(main())
    assert grown <= 2
    assert result == 4

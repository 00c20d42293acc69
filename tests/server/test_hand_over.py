"""The server end runs what it reads in the reading thread, and hands the rest over when one
request runs long: a slow request never holds up those read with it, and the replies held for a
batch leave even when the batch is handed over. On a connection pair, no node."""

from __future__ import annotations

import time
from typing import Any

import pytest

from genrpc_actors import _protocol as wire
from genrpc_actors._client._reply import Reply
from genrpc_actors._node._requests import encode_request, resolve
from genrpc_actors.testing import ConnectionPair, connection_pair
from tests.waiting import WAIT, wait_for

SLOW = 1.5  # seconds; anything held behind a slow request would take at least this


@pytest.fixture
def pair() -> Any:
    with connection_pair() as made:
        assert made.wait_authenticated(WAIT)
        yield made


def batch(pair: ConnectionPair, *requests: tuple[str, str, tuple[Any, ...]]) -> list[Reply]:
    """Send ``requests`` in one write (queued while the send lock is held, then flushed), so
    that the server reads them together."""
    client = pair.client
    slots = []
    with client._outbox.lock:
        for module, function, args in requests:
            body, flags = encode_request(module, function, args, None)
            _, slot = client.request(wire.CALL, flags, body, None, reply=True)
            assert slot is not None
            slots.append(slot)
    writes = client._outbox.writes
    client._outbox.flush()
    assert client._outbox.writes == writes + 1  # one write carried them all
    return slots


def test_requests_read_after_a_slow_one_do_not_wait_for_it(pair):
    started = time.monotonic()
    slow, *fast = batch(
        pair, ("time", "sleep", (SLOW,)), *[("operator", "add", (i, i)) for i in range(5)]
    )
    for i, slot in enumerate(fast):
        assert slot.wait(WAIT)
        assert resolve(slot) == 2 * i
    assert time.monotonic() - started < SLOW / 2
    assert not slow.done
    assert slow.wait(WAIT)
    assert resolve(slow) is None


def test_replies_held_for_a_batch_leave_when_its_last_request_runs_long(pair):
    """Replies of requests read together wait for the last of them, to leave in one write; if
    that last one runs long, they must leave without it."""
    started = time.monotonic()
    *fast, slow = batch(
        pair, *[("operator", "add", (i, 1)) for i in range(4)], ("time", "sleep", (SLOW,))
    )
    for i, slot in enumerate(fast):
        assert slot.wait(WAIT)
        assert resolve(slot) == i + 1
    assert time.monotonic() - started < SLOW / 2
    assert not slow.done
    assert slow.wait(WAIT)


def test_a_batch_of_quick_requests_is_answered_in_one_write(pair):
    # the PONG to the PING a client sends once it is up is a write of its own: counted first
    wait_for(lambda: pair.server.describe()["sends"] >= 1)
    sends = pair.server.describe()["sends"]
    slots = batch(pair, *[("operator", "mul", (i, 3)) for i in range(20)])
    assert [resolve(slot) for slot in slots if slot.wait(WAIT)] == [3 * i for i in range(20)]
    # the server counts a write once sendmsg has returned, which may be after the replies arrive
    wait_for(lambda: pair.server.describe()["sends"] > sends)
    assert pair.server.describe()["sends"] == sends + 1

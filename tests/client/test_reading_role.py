"""The client end's reading role (leaders and followers), on a connection pair: no node, no
listener, no process. A waiting caller reads the socket itself and hands other callers their
replies; the connection's own thread reads for requests nobody waits on."""

from __future__ import annotations

import threading
import time
from typing import Any

import pytest

from genrpc_actors import BadRpc, BadTcp
from genrpc_actors import _protocol as wire
from genrpc_actors._client._reply import Reply
from genrpc_actors._node._requests import encode_request, resolve
from genrpc_actors.testing import ConnectionPair, connection_pair
from tests.waiting import WAIT, wait_for


@pytest.fixture
def pair() -> Any:
    with connection_pair() as made:
        assert made.wait_authenticated(WAIT)
        yield made


def send(pair: ConnectionPair, function: str, *args: Any, lead: bool = True) -> tuple[int, Reply]:
    module = "time" if function == "sleep" else "operator"
    body, flags = encode_request(module, function, args, None)
    request_id, slot = pair.client.request(wire.CALL, flags, body, None, reply=True, lead=lead)
    assert slot is not None
    return request_id, slot


def call(pair: ConnectionPair, function: str, *args: Any, timeout: float = WAIT) -> Any:
    request_id, slot = send(pair, function, *args)
    if not pair.client.wait(request_id, slot, timeout):
        raise BadRpc("timeout")
    return resolve(slot)


def test_the_pair_is_two_authenticated_ends(pair):
    assert pair.server.peer_name == "client@socketpair"
    assert call(pair, "add", 2, 3) == 5
    stats = pair.client.statistics()
    assert (stats.state, stats.pending_calls, stats.frames_sent, stats.frames_received) == (
        "connected",
        0,
        1,
        1,
    )


def test_different_cookies_end_both_ends_with_the_reason():
    with connection_pair(client_cookie=b"one", server_cookie=b"two") as pair:
        assert pair.client_closed.wait(WAIT)
        assert pair.server_closed.wait(WAIT)
        assert isinstance(pair.client_error, BadRpc)
        assert pair.client_error.reason == "invalid_cookie"
        # the server checks the client's proof first, refuses it (a RESULT with status 2 and no
        # proof of its own) and ends its side with the same reason
        assert pair.server_reason == "invalid_cookie"
        assert not pair.client.wait_connected(0)
        assert not pair.server.wait_authenticated(0)


def test_many_callers_on_one_connection_each_get_their_own_reply(pair):
    wrong: list[tuple[int, int, Any]] = []

    def caller(n: int) -> None:
        for i in range(100):
            result = call(pair, "add", n * 1000, i)
            if result != n * 1000 + i:
                wrong.append((n, i, result))

    threads = [threading.Thread(target=caller, args=(n,)) for n in range(16)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(30)
    assert not any(thread.is_alive() for thread in threads)
    assert wrong == []
    assert pair.client.statistics().pending_calls == 0
    assert pair.client.statistics().frames_received == 1600


def test_a_reply_that_overtakes_the_leaders_is_handed_to_its_caller(pair):
    """The first caller waits for a slow reply and holds the reading role; a second caller's
    fast reply arrives first: the leader reads it and hands it over, and keeps waiting."""
    slow_done = threading.Event()
    slow: list[Any] = []

    def slow_caller() -> None:
        slow.append(call(pair, "sleep", 1.0))
        slow_done.set()

    leader = threading.Thread(target=slow_caller)
    leader.start()
    wait_for(lambda: pair.client.statistics().pending_calls == 1)
    started = time.monotonic()
    assert call(pair, "add", 20, 22) == 42
    assert time.monotonic() - started < 0.5  # not after the slow one
    assert not slow_done.is_set()
    leader.join(WAIT)
    assert slow == [None]


def test_requests_nobody_waits_on_are_read_by_the_connections_own_thread(pair):
    slots = [send(pair, "add", i, i, lead=False)[1] for i in range(50)]
    for i, slot in enumerate(slots):
        assert slot.wait(WAIT)  # a plain wait: it never reads, somebody else must
        assert resolve(slot) == 2 * i


def test_a_late_reply_is_dropped_and_never_given_to_a_later_call(pair):
    """A caller that gives up without a CANCEL reaching the server (it crossed the reply, or
    the peer does not know CANCEL): the reply comes late and is dropped."""
    request_id, slot = send(pair, "sleep", 0.3, lead=False)
    pair.client.forget(request_id)
    assert pair.client.statistics().pending_calls == 0
    assert call(pair, "add", 1, 1) == 2
    wait_for(lambda: pair.client.statistics().frames_received == 2)  # the late one came
    assert not slot.done
    assert call(pair, "add", 2, 2) == 4


def test_the_end_of_the_connection_fails_every_waiting_caller_at_once(pair):
    outcomes: list[BaseException] = []

    def waiting_caller() -> None:
        try:
            call(pair, "sleep", 1.0, timeout=30)
        except BadTcp as exc:
            outcomes.append(exc)

    threads = [threading.Thread(target=waiting_caller) for _ in range(4)]
    for thread in threads:
        thread.start()
    wait_for(lambda: pair.client.statistics().pending_calls == 4)
    started = time.monotonic()
    pair.server.close()
    for thread in threads:
        thread.join(WAIT)
    assert time.monotonic() - started < 2.0  # at once, not at the 30 s timeout
    assert [exc.reason for exc in outcomes] == ["closed"] * 4
    assert pair.client_closed.wait(WAIT)
    assert pair.client.statistics().state == "closed"


def test_a_caller_that_stops_waiting_cancels_and_no_reply_comes(pair):
    """The call times out: the client sends CANCEL; the server lets the running request finish
    (a thread cannot be stopped) and sends no reply for it."""
    with pytest.raises(BadRpc) as info:
        call(pair, "sleep", 0.3, timeout=0.05)
    assert info.value.reason == "timeout"
    wait_for(lambda: not pair.server._open)  # the request has ended on the server
    assert pair.client.statistics().frames_received == 0
    assert call(pair, "add", 1, 1) == 2
    assert pair.client.statistics().frames_received == 1


def test_a_cancel_for_a_request_already_answered_is_ignored(pair):
    request_id, slot = send(pair, "add", 2, 2)
    assert pair.client.wait(request_id, slot, WAIT)
    pair.client.cancel(request_id)
    assert call(pair, "add", 3, 3) == 6
    assert not pair.server._cancelled

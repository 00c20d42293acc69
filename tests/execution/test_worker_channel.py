"""The channel to a process worker: small bodies cross the socket pair, bodies of 64 KiB and more
cross a shared memory region that either end grows when it needs more room, and an end that
goes, or breaks the protocol, reads as gone."""

from __future__ import annotations

import socket
from collections.abc import Iterator

import pytest

from genrpc_actors._execution._worker_channel import HEADER, SHARED_MIN, Channel, socket_pair


@pytest.fixture
def ends() -> Iterator[tuple[Channel, Channel]]:
    node, worker = socket_pair()
    a, b = Channel(node), Channel(worker)
    yield a, b
    a.close()
    b.close()


def raw_size(channel: Channel) -> int:
    """The bytes of the next message as they cross the socket (without consuming it)."""
    return len(channel.sock.recv(HEADER.size + SHARED_MIN, socket.MSG_PEEK))


def test_a_small_body_crosses_the_socket_in_one_message(ends):
    a, b = ends
    a.send(3, 1, [b"head", memoryview(b"-tail")])
    assert raw_size(b) == HEADER.size + 9
    got = b.receive()
    assert got is not None
    assert (got[0], got[1], bytes(got[2])) == (3, 1, b"head-tail")
    assert a.region_size == b.region_size == 0  # no region until one is needed


def test_a_large_body_crosses_shared_memory_not_the_socket(ends):
    a, b = ends
    body = bytes(range(256)) * (SHARED_MIN // 256)  # exactly SHARED_MIN bytes
    a.send(1, 0, [body[:10], memoryview(body)[10:]])
    assert raw_size(b) == HEADER.size  # only the header crossed the socket
    got = b.receive()
    assert got is not None
    assert bytes(got[2]) == body
    assert a.region_size == b.region_size >= len(body)


def test_either_end_grows_the_region_and_both_use_the_new_one(ends):
    a, b = ends
    a.send(1, 0, [b"x" * SHARED_MIN])
    assert b.receive() is not None
    first = b.region_size
    reply = b"y" * (first + 1)  # the worker's reply needs more room than the node made
    b.send(2, 0, [reply])
    got = a.receive()
    assert got is not None and bytes(got[2]) == reply
    assert a.region_size == b.region_size > first
    a.send(1, 0, [b"z" * (first + 1)])  # the node writes into the worker's region now
    got = b.receive()
    assert got is not None and bytes(got[2]) == b"z" * (first + 1)


def test_an_end_that_goes_reads_as_gone_and_sending_to_it_fails(ends):
    a, b = ends
    b.close()
    assert a.receive() is None
    with pytest.raises(OSError):
        a.send(1, 0, [b"anyone?"])


def test_a_shared_body_without_a_region_is_refused_not_read(ends):
    a, b = ends
    a.sock.send(HEADER.pack(1, 0, 1, SHARED_MIN))  # "in the region": there is none
    assert b.receive() is None


def test_a_message_too_large_for_the_socket_is_refused(ends):
    a, b = ends
    a.sock.send(HEADER.pack(1, 0, 0, SHARED_MIN + 10) + bytes(SHARED_MIN + 10))
    assert b.receive() is None  # truncated: never taken as a shorter body

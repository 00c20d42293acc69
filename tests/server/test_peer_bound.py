"""The bound a client's PINGs name: the seconds of silence after which the server takes its
node for frozen or cut off. Only a plain positive number counts; anything else names none, and
a PING is never a reason to close a connection."""

from __future__ import annotations

import pytest

from genrpc_actors._server._connection import _bound


@pytest.mark.parametrize(("body", "bound"), [(b"15", 15.0), (b"2", 2.0), (b"0.5", 0.5)])
def test_a_number_is_the_bound(body, bound):
    assert _bound(memoryview(body)) == bound


@pytest.mark.parametrize("body", [b"", b"x", b"0", b"-3", b"inf", b"nan", b"1e400", b"\xff"])
def test_anything_else_names_none(body):
    assert _bound(memoryview(body)) is None

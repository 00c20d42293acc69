"""A node whose module control is ``"whitelist"`` bounds the unpickling of the replies it
receives as it bounds requests: a reply that names any global beyond the whitelisted modules,
plain data and the built-in exceptions is refused with ``BadRpc("unauthorized")`` before any of
it runs; an error reply keeps its reason and text, and loses only an exception object it may
not decode. Without module control, the same reply does run: the gadget is real."""

from __future__ import annotations

import os
from collections.abc import Iterator
from typing import Any

import pytest

from genrpc_actors import BadRpc, Node, RemoteError
from tests.node_fixtures import COOKIE
from tests.waiting import WAIT

SERVER = "lenient@127.0.0.1"


class Reduces:
    """Pickles as ``function(*args)``: a reply a hostile node would send."""

    def __init__(self, function: Any, *args: Any) -> None:
        self.function, self.args = function, args

    def __reduce__(self) -> tuple[Any, ...]:
        return self.function, self.args


class Custom(Exception):  # noqa: N818 - a user's exception, from a module nobody whitelisted
    pass


@pytest.fixture
def server() -> Iterator[Node]:
    node = Node.start(SERVER, cookie=COOKIE, tcp_server_port=0)  # module control off
    yield node
    node.stop()


def caller(server: Node, **control: Any) -> Node:
    return Node.start(
        "careful@127.0.0.1",
        cookie=COOKIE,
        tcp_server_port=False,
        client_config_per_node={SERVER: server.port},
        **control,
    )


WHITELIST = {"rpc_module_control": "whitelist", "rpc_module_list": ["operator"]}


def test_a_whitelisted_caller_refuses_a_gadget_reply_before_it_runs(server, tmp_path):
    marker = tmp_path / "ran"
    touch = f"touch {marker}"
    with caller(server, **WHITELIST) as node:
        with pytest.raises(BadRpc) as info:
            node.call(SERVER, lambda: Reduces(os.system, touch), timeout=WAIT)
        assert info.value.reason == "unauthorized"
        key = node.async_call(SERVER, lambda: [{"nested": (1, Reduces(os.system, touch))}])
        with pytest.raises(BadRpc) as nested:
            node.yield_(key)
        assert nested.value.reason == "unauthorized"
        result = node.multicall([SERVER], lambda: Reduces(os.system, touch), timeout=WAIT)
        assert (result.results, result.bad_nodes) == ([], [SERVER])
        assert result.errors[SERVER].reason == "unauthorized"
        assert not marker.exists()
        assert node.call(SERVER, "operator", "add", (1, 2), timeout=WAIT) == 3  # plain: fine


def test_without_module_control_the_same_reply_runs(server, tmp_path):
    marker = tmp_path / "ran"
    touch = f"touch {marker}"
    with caller(server) as node:
        assert node.call(SERVER, lambda: Reduces(os.system, touch), timeout=WAIT) == 0
    assert marker.exists()


def test_error_replies_keep_their_reason_and_text(server):
    def fails_with(exc: BaseException) -> Any:
        def fail() -> None:
            raise exc

        return fail

    with caller(server, **WHITELIST) as node:
        with pytest.raises(RemoteError) as builtin:
            node.call(SERVER, fails_with(ValueError("bad value")), timeout=WAIT)
        assert isinstance(builtin.value.exception, ValueError)  # built-in: decoded
        with pytest.raises(RemoteError) as custom:
            node.call(SERVER, fails_with(Custom("not listed")), timeout=WAIT)
        assert custom.value.exception is None  # its class is not whitelisted: left out
        assert custom.value.type_name == "Custom"
        assert "not listed" in str(custom.value)
        with pytest.raises(BadRpc) as killed:
            node.call(SERVER, "no_such_module", "f", timeout=WAIT)
        assert killed.value.reason != "unauthorized"  # a plain reason passes

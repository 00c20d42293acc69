"""gen_rpc's local_SUITE on API.md: a node calling itself, and its own listener's behaviour."""

from __future__ import annotations

import asyncio
import errno
import socket
import threading
import time

import pytest

import genrpc_actors as gen_rpc
from genrpc_actors import BadRpc, Node, RemoteError, Value
from genrpc_actors.testing import free_port, incoming
from tests.node_fixtures import COOKIE, node_settings
from tests.waiting import wait_for

ME = "local@127.0.0.1"
HELPERS = "tests.remote.functions"


@pytest.fixture
def node():
    n = gen_rpc.start(ME, cookie=COOKIE, tcp_server_port=0, connect_timeout=0.5)
    yield n
    n.stop()


def peer(n: Node, name: str = "peer@127.0.0.1", **config) -> Node:
    """A second node in this process that reaches ``n`` (for cases that need a real socket)."""
    settings = {"cookie": COOKIE, "tcp_server_port": 0, "client_config_per_node": {ME: n.port}}
    settings.update(config)
    return Node.start(name, **settings)


def test_supervisor_black_box(node):
    children = {info.id: info.ref for info in node.tree.which_children()}
    assert set(children) == {"acceptors", "clients", "dispatcher", "tcp_listener"}
    assert all(ref is not None and ref.is_alive() for ref in children.values())


def test_module_level_api_uses_the_default_node(node):
    assert gen_rpc.node() == ME
    assert gen_rpc.nodes() == []
    assert isinstance(gen_rpc.call(ME, "time", "time"), float)


def test_no_node_gives_no_node_error():
    with pytest.raises(gen_rpc.NoNodeError):
        gen_rpc.call(ME, "time", "time")
    with pytest.raises(gen_rpc.NoNodeError):
        gen_rpc.node()


def test_call(node):
    before = time.time()
    assert before <= node.call(ME, "time", "time") <= time.time()


def test_call_anonymous_function(node):
    assert node.call(ME, lambda a: ("pid", repr(a)), args=("call_anonymous_function",)) == (
        "pid",
        "'call_anonymous_function'",
    )
    # a lambda as an argument of a named function, as gen_rpc's erlang:apply(Fun, Args)
    assert node.call(ME, "operator", "call", (lambda a: a * 2, 21)) == 42


def test_call_anonymous_undef(node):
    import os

    with pytest.raises(RemoteError) as caught:
        node.call(ME, lambda: os.timestamp_undef())  # type: ignore[attr-defined]
    assert isinstance(caught.value.exception, AttributeError)
    assert "timestamp_undef" in caught.value.remote_traceback


def test_call_mfa_undef(node):
    with pytest.raises(RemoteError) as caught:
        node.call(ME, "os", "timestamp_undef")
    assert caught.value.reason == "EXIT"
    assert isinstance(caught.value.exception, AttributeError)
    assert isinstance(caught.value.__cause__, AttributeError)
    with pytest.raises(RemoteError) as caught:
        node.call(ME, "no_such_module_anywhere", "f")
    assert isinstance(caught.value.exception, ModuleNotFoundError)


def test_call_mfa_exit(node):
    with pytest.raises(RemoteError) as caught:
        node.call(ME, "sys", "exit", ("die",))
    assert isinstance(caught.value.exception, SystemExit)
    assert caught.value.exception.code == "die"
    assert node.call(ME, "operator", "add", (1, 1)) == 2  # the node lives on


def test_call_mfa_throw_is_a_remote_error(node):
    # Python has no throw: any raise is an error, carried with its traceback.
    with pytest.raises(RemoteError) as caught:
        node.call(ME, HELPERS, "raise_value_error", ("throwXdown",))
    assert isinstance(caught.value.exception, ValueError)
    assert "throwXdown" in str(caught.value)
    assert "raise_value_error" in caught.value.remote_traceback


def test_call_with_receive_timeout(node):
    started = time.monotonic()
    with pytest.raises(BadRpc) as caught:
        node.call(ME, "time", "sleep", (0.5,), timeout=0.001)
    assert caught.value.reason == "timeout"
    assert time.monotonic() - started < 0.4


def test_call_with_worker_interrupt_keeps_the_node(node):
    # gen_rpc's kill_after(0) kills the worker; a thread cannot be killed, KeyboardInterrupt is
    # the nearest thing a function can do to its worker.
    with pytest.raises(RemoteError) as caught:
        node.call(ME, HELPERS, "raise_keyboard_interrupt")
    assert isinstance(caught.value.exception, KeyboardInterrupt)
    assert node.call(ME, "operator", "add", (1, 2)) == 3


def test_call_module_version_check(node):
    assert node.call(ME, (HELPERS, "1.0.0"), "stub_function") == "stub_function"
    for module in ((HELPERS, "X.Y.Z"), ("tests.remote.none", "X.Y.Z"), ("os", 1)):
        with pytest.raises(BadRpc) as caught:
            node.call(ME, module, "stub_function")
        assert caught.value.reason == "incompatible"


def test_interleaved_call(node):
    results: dict[int, object] = {}

    def caller(n: int, timeout: float | None) -> None:
        try:
            results[n] = node.call(ME, HELPERS, "sleep_then", ((3 - n) * 0.3, n), timeout=timeout)
        except BadRpc as exc:
            results[n] = exc.reason

    threads = [
        threading.Thread(target=caller, args=(n, t)) for n, t in ((1, None), (2, 0.01), (3, None))
    ]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(5)
    assert results == {1: 1, 2: "timeout", 3: 3}


def test_unpicklable_result_fails_fast(node):
    with pytest.raises(BadRpc) as caught:
        node.call(ME, HELPERS, "unpicklable_result", timeout=5)
    assert "pickl" in str(caught.value.reason)


def test_unpicklable_argument_fails_before_sending(node):
    with pytest.raises(BadRpc) as caught:
        node.call(ME, HELPERS, "echo", ((n for n in range(3)),))
    assert "pickl" in str(caught.value.reason)


def test_authentication_timeout(slave, driver):
    """Under ``ssl`` the silent client is on the TLS port: the TLS handshake counts against
    the authentication timeout too."""
    settings = node_settings(ME, driver, tcp_server_port=0, authentication_timeout=0.5)
    with (
        gen_rpc.Node.start(ME, **settings) as n,
        socket.create_connection(("127.0.0.1", driver.port(n))) as raw,
    ):
        wait_for(lambda: n.statistics().acceptors == 1)
        raw.settimeout(5)
        assert raw.recv(1) == b""  # closed by the node after 0.5 s, nothing sent
        wait_for(lambda: not n.statistics().acceptors)


@pytest.mark.parametrize(
    "args",
    [
        ("time", "time"),
        (lambda: time.time(),),
        ("os", "timestamp_undef"),
        (lambda: (_ for _ in ()).throw(SystemExit("die")),),
        (HELPERS, "raise_value_error", ("throwme",)),
    ],
    ids=["cast", "anonymous_function", "mfa_undef", "mfa_exit", "mfa_throw"],
)
def test_cast_returns_true(node, args):
    assert node.cast(ME, *args) is True
    assert node.call(ME, "operator", "add", (1, 1)) == 2


def test_cast_inexistent_node_returns_true_at_once(node, fake_port):
    n = peer(node, "other@127.0.0.1", client_config_per_node={"fake@127.0.0.1": fake_port})
    try:
        started = time.monotonic()
        assert n.cast("fake@127.0.0.1", "time", "time", send_timeout=1) is True
        assert time.monotonic() - started < 0.2
    finally:
        n.stop()


def test_async_call(node):
    key = node.async_call(ME, "time", "time")
    assert isinstance(node.yield_(key), float)
    key = node.async_call(ME, HELPERS, "echo", ("yield_key",))
    assert node.nb_yield(key, 0.5) == Value("yield_key")
    assert gen_rpc.yield_(gen_rpc.async_call(ME, HELPERS, "echo", ("k",))) == "k"


def test_async_call_yield_reentrant(node):
    key = node.async_call(ME, HELPERS, "echo", ("again",))
    assert node.yield_(key) == "again"
    assert node.yield_(key) == "again"  # gen_rpc's keys are single-use; ours are not
    assert node.nb_yield(key, 0) == Value("again")
    seen = []
    other = threading.Thread(target=lambda: seen.append(node.yield_(key)))
    other.start()
    other.join(5)
    assert seen == ["again"]


def test_async_call_anonymous_function_and_errors(node):
    assert node.yield_(node.async_call(ME, lambda: "anon")) == "anon"
    key = node.async_call(ME, "os", "timestamp_undef")
    for _ in range(2):
        with pytest.raises(RemoteError):
            node.yield_(key)
    with pytest.raises(RemoteError):
        node.nb_yield(key, 0.5)
    key = node.async_call(ME, "sys", "exit", ("die",))
    with pytest.raises(RemoteError) as caught:
        node.yield_(key)
    assert isinstance(caught.value.exception, SystemExit)


def test_async_call_yield_timeout(node):
    key = node.async_call(ME, "time", "sleep", (0.3,))
    assert node.nb_yield(key, 0.005) is None
    assert node.nb_yield(key) is None  # timeout 0
    assert node.nb_yield(key, None) == Value(None)


def test_async_call_inexistent_node(node, fake_port):
    n = peer(node, "other@127.0.0.1", client_config_per_node={"fake@127.0.0.1": fake_port})
    try:
        key = n.async_call("fake@127.0.0.1", "time", "time")
        with pytest.raises(BadRpc) as caught:
            n.yield_(key)
        assert caught.value.reason == "econnrefused"
        with pytest.raises(BadRpc):
            n.nb_yield(key, 10)
    finally:
        n.stop()


def test_async_key_is_awaitable(node):
    async def main():
        return await node.async_call(ME, HELPERS, "sleep_then", (0.05, "awaited"))

    assert asyncio.run(main()) == "awaited"


def test_async_call_inactivity_timeout(node):
    with peer(node, "other@127.0.0.1", async_call_inactivity_timeout=0.2) as n:
        key = n.async_call(ME, "time", "sleep", (2,))
        with pytest.raises(BadRpc) as caught:
            n.yield_(key)
        assert caught.value.reason == "timeout"


def test_client_inactivity_timeout(node):
    with peer(node, client_inactivity_timeout=0.5) as n:
        assert n.call(ME, "operator", "add", (1, 1)) == 2
        assert n.nodes() == [ME]
        wait_for(lambda: n.nodes() == [] and not n.statistics().connections)
        wait_for(lambda: not node.statistics().acceptors)


def test_client_inactivity_never_closes_under_a_pending_call(node):
    with peer(node, client_inactivity_timeout=0.2) as n:
        assert n.call(ME, HELPERS, "sleep_then", (0.6, "done")) == "done"


def test_server_inactivity_timeout():
    with (
        gen_rpc.Node.start(
            ME, cookie=COOKIE, tcp_server_port=0, server_inactivity_timeout=0.5
        ) as n,
        peer(n) as p,
    ):
        assert p.call(ME, "operator", "add", (1, 1)) == 2
        assert n.statistics().acceptors == 1
        wait_for(lambda: not n.statistics().acceptors)
        wait_for(lambda: p.nodes() == [])


def test_random_tcp_close(node):
    with peer(node) as p:
        assert p.call(ME, "operator", "add", (1, 1)) == 2
        for acceptor in incoming(node):
            acceptor.close()
        wait_for(lambda: p.nodes() == [] and not p.statistics().connections)
        wait_for(lambda: not node.statistics().acceptors)
        assert p.call(ME, "operator", "add", (2, 2)) == 4  # and the next call reconnects


def test_rpc_module_whitelist():
    config = {"rpc_module_control": "whitelist", "rpc_module_list": ["time", "genrpc_actors"]}
    with gen_rpc.start(ME, cookie=COOKIE, tcp_server_port=0, **config) as n:
        assert isinstance(n.call(ME, "time", "time"), float)
        assert n.call(ME, "genrpc_actors", "node") == ME
        for module, function in (("os", "getpid"), ("sys", "getrecursionlimit")):
            with pytest.raises(BadRpc) as caught:
                n.call(ME, module, function)
            assert caught.value.reason == "unauthorized"
        with pytest.raises(BadRpc) as caught:
            n.call(ME, lambda: 1)
        assert caught.value.reason == "unauthorized"
        with pytest.raises(BadRpc) as caught:  # unauthorized is checked before the version
            n.call(ME, ("os", "9"), "getpid")
        assert caught.value.reason == "unauthorized"


def test_rpc_module_blacklist():
    config = {"rpc_module_control": "blacklist", "rpc_module_list": ["time", "os"]}
    with gen_rpc.Node.start(ME, cookie=COOKIE, tcp_server_port=0, **config) as n:
        for module, function in (("time", "time"), ("os", "getpid")):
            with pytest.raises(BadRpc) as caught:
                n.call(ME, module, function)
            assert caught.value.reason == "unauthorized"
        assert n.call(ME, "operator", "mul", (60, 1000)) == 60000
        with pytest.raises(BadRpc):
            n.call(ME, lambda: 1)


@pytest.mark.parametrize(
    ("call_args", "kwargs", "error"),
    [
        (("noat", "os", "getpid"), {}, ValueError),
        ((3, "os", "getpid"), {}, TypeError),
        ((("a@b", "k", "x"), "os", "getpid"), {}, TypeError),
        ((ME, 3, "getpid"), {}, TypeError),
        ((ME, "os", 3), {}, TypeError),
        ((ME, "os", None), {}, TypeError),
        ((ME, lambda: 1, "f"), {}, TypeError),
        ((ME, "os", "getpid", "abc"), {}, TypeError),
        ((ME, "os", "getpid", (), [1]), {}, TypeError),
        ((ME, "os", "getpid"), {"timeout": -1}, ValueError),
        ((ME, "os", "getpid"), {"timeout": "1"}, TypeError),
        ((ME, ("os",), "getpid"), {}, TypeError),
    ],
)
def test_bad_arguments_fail_fast(node, call_args, kwargs, error):
    with pytest.raises(error):
        node.call(*call_args, **kwargs)


def test_stop_frees_the_port_and_joins_threads():
    port = free_port()
    for _ in range(2):
        n = gen_rpc.Node.start(ME, cookie=COOKIE, tcp_server_port=port)
        assert n.port == port
        assert n.call(ME, "operator", "add", (1, 1)) == 2
        n.stop()
    assert not [t for t in threading.enumerate() if t.name.startswith("genrpc-")]


@pytest.mark.parametrize("driver", ["tcp", "ssl"])
def test_a_port_in_use_fails_start_with_the_address_and_the_cause(driver, certificates):
    with socket.create_server(("127.0.0.1", 0)) as taken:
        port = taken.getsockname()[1]
        settings = {"tcp_server_port": False, "ssl_server_port": False}
        settings[f"{driver}_server_port"] = port
        if driver == "ssl":
            settings["ssl_server_options"] = certificates.files(ME).options()
        with pytest.raises(gen_rpc.ConfigError) as caught:
            gen_rpc.start(ME, cookie=COOKIE, listen_address="127.0.0.1", **settings)
    assert str(caught.value) == (
        f"{driver}_server_port: cannot listen on 127.0.0.1:{port} ({driver}):"
        " address already in use"
    )
    assert caught.value.key == f"{driver}_server_port"
    assert isinstance(caught.value.__cause__, OSError)
    assert caught.value.__cause__.errno == errno.EADDRINUSE
    with pytest.raises(gen_rpc.NoNodeError):
        gen_rpc.node()  # nothing half-started stays behind
    assert not [t for t in threading.enumerate() if t.name.startswith("genrpc-")]


def test_an_address_that_is_not_local_names_listen_address():
    with pytest.raises(gen_rpc.ConfigError) as caught:
        gen_rpc.start(ME, cookie=COOKIE, tcp_server_port=0, listen_address="192.0.2.1")
    assert caught.value.key == "listen_address"
    assert "cannot listen on 192.0.2.1:0 (tcp): cannot assign requested address" in str(
        caught.value
    )


def test_several_nodes_in_one_process(node):
    with peer(node, "b@127.0.0.1") as b, peer(node, "c@127.0.0.1") as c:
        assert b.call(ME, "operator", "add", (1, 2)) == 3
        assert c.call(ME, "operator", "add", (2, 2)) == 4
        assert gen_rpc.node() == ME


def test_statistics_and_repr(node):
    assert repr(node) == f"<Node {ME} port={node.port} running connections=0 acceptors=0>"
    node.call(ME, "operator", "add", (1, 1))
    stats = node.statistics()
    assert (stats.name, stats.port, stats.running, stats.connections) == (ME, node.port, True, 0)
    assert stats.workers >= 1
    assert stats.pending_calls == 0
    with peer(node) as p:
        p.call(ME, "operator", "add", (1, 1))
        assert p.statistics().connections == 1
        assert node.statistics().acceptors == 1
    node.stop()
    assert not node.statistics().running
    assert repr(node).endswith("stopped connections=0 acceptors=0>")

"""gen_rpc's remote_SUITE (groups ``tcp`` and ``ssl``) and remote_with_key_SUITE on API.md, plus
the failure cases of a real network: a killed and restarted peer, garbage on the port, nothing
unpickled before authentication, a peer that never reads.

The master is a node in this process, the slave a node in its own process (``LocalNode``).
Cases that reconfigure or kill a node start dedicated ones. Every test runs under both drivers
(``[tcp]``, ``[ssl]``; see node_fixtures.py): the raw clients and fake peers below speak the
plain handshake inside TLS under ``ssl``, and the garbage flood hits the TLS port.
"""

from __future__ import annotations

import contextlib
import os
import pickle
import random
import socket
import ssl
import struct
import sys
import threading
import time
from collections.abc import Iterator
from typing import Any

import pytest

from genrpc_actors import BadRpc, BadTcp, Node, RemoteError, Value
from genrpc_actors import _protocol as wire
from genrpc_actors._transport._tls import TlsTransport, client_context, server_context
from genrpc_actors.testing import connections, incoming, silent_listener
from tests.node_fixtures import (
    COOKIE,
    FAKE,
    INTRUDER,
    MASTER,
    SLAVE,
    Driver,
    node_settings,
    start_master,
)
from tests.remote.functions import WritesFile
from tests.waiting import WAIT, wait_for

HELPERS = "tests.remote.functions"
HELPERS2 = "tests.remote.acceptors"
STATS = "genrpc_actors.testing"
KEYED = (SLAVE, "random_key")
KEYED_2 = (SLAVE, "random_key_2")
TARGETS = pytest.mark.parametrize("target", [SLAVE, KEYED], ids=["plain", "keyed"])
DEAF = "deaf@127.0.0.1"
AT_ONCE = 1.0  # "at once": far below every timeout these tests set (>= 5 s)
REPEAT = 30  # attempts at a race, each one on a new connection
RACE_ATTEMPTS = 500  # the refused race below: 2000 connections, ~1.5 s if it never fails


@contextlib.contextmanager
def frequent_thread_switches() -> Iterator[None]:
    """Let the GIL change hands every microsecond: thread races show up on most tries."""
    before = sys.getswitchinterval()
    sys.setswitchinterval(1e-6)
    try:
        yield
    finally:
        sys.setswitchinterval(before)


def stats(node: Node, target: Any = SLAVE) -> dict[str, Any]:
    """The counters of the node behind ``target`` (asked over RPC)."""
    result: dict[str, Any] = node.call(target, STATS, "node_statistics", timeout=WAIT)
    return result


@pytest.fixture
def make_master(driver, slave, master_port, fake_port):
    """``make(extra_nodes=None, **config)``: a master in this process (instead of ``master``),
    reaching the slave, the fake node and ``extra_nodes`` ({name: its port for the driver});
    stopped after the test."""
    started: list[Node] = []

    def make(extra_nodes: dict[str, int] | None = None, **config: Any) -> Node:
        peers = {SLAVE: driver.port(slave), FAKE: fake_port, **(extra_nodes or {})}
        node = start_master(driver, master_port, peers, **config)
        started.append(node)
        return node

    yield make
    for node in reversed(started):
        node.stop()


def run_in_thread(function: Any, *args: Any, **kwargs: Any) -> tuple[threading.Thread, dict]:
    """Run ``function`` in a daemon thread; the dict gets ``"value"`` or ``"error"``."""
    outcome: dict[str, Any] = {}

    def run() -> None:
        try:
            outcome["value"] = function(*args, **kwargs)
        except BaseException as exc:
            outcome["error"] = exc

    thread = threading.Thread(target=run, daemon=True)
    thread.start()
    return thread, outcome


def joined(thread: threading.Thread, timeout: float = WAIT) -> None:
    thread.join(timeout)
    assert not thread.is_alive(), "the thread did not finish in time"


# -- call ------------------------------------------------------------------------------------------


@TARGETS
def test_call(master, slave, target):
    before = time.time()
    assert before <= master.call(target, "time", "time") <= time.time()
    assert master.call(target, HELPERS, "pid") == slave.pid != os.getpid()


@TARGETS
def test_call_mfa_undef(master, target):
    with pytest.raises(RemoteError) as info:
        master.call(target, "time", "time_undef")
    assert info.value.reason == "EXIT"
    assert isinstance(info.value.exception, AttributeError)
    assert info.value.__cause__ is info.value.exception
    assert "time_undef" in info.value.remote_traceback
    with pytest.raises(RemoteError) as info:
        master.call(target, "tests.no_such_module", "f")
    assert isinstance(info.value.exception, ModuleNotFoundError)


@TARGETS
def test_call_mfa_exit(master, slave, target):
    with pytest.raises(RemoteError) as info:
        master.call(target, "sys", "exit", ["die"])
    assert info.value.reason == "EXIT"
    assert isinstance(info.value.exception, SystemExit)
    assert info.value.exception.code == "die"
    assert master.call(target, HELPERS, "pid") == slave.pid  # the slave lives on


@TARGETS
def test_call_mfa_throw(master, target):
    """Python has no throw: a remote raise is a RemoteError carrying the exception."""
    with pytest.raises(RemoteError) as info:
        master.call(target, HELPERS, "raise_value_error", ["throwXdown"])
    assert info.value.reason == "EXIT"
    assert isinstance(info.value.exception, ValueError)
    assert info.value.exception.args == ("throwXdown",)
    assert "raise_value_error" in info.value.remote_traceback


def test_call_with_receive_timeout(master):
    start = time.monotonic()
    with pytest.raises(BadRpc) as info:
        master.call(SLAVE, "time", "sleep", [0.5], timeout=0.1)
    assert info.value.reason == "timeout"
    assert not isinstance(info.value, RemoteError)
    assert time.monotonic() - start < 0.45
    # The late reply (at ~0.5 s) arrives while this call is pending: it must not be delivered here.
    assert master.call(SLAVE, HELPERS, "sleep_then", [0.6, "second"], timeout=WAIT) == "second"
    assert master.call(SLAVE, HELPERS, "echo", ["third"]) == "third"


def test_a_short_timeout_after_long_ones_still_holds(master):
    """Each call bounds its own wait, whatever the calls before it waited for."""
    for _ in range(3):
        assert master.call(SLAVE, HELPERS, "echo", ["long"], timeout=60.0) == "long"
    start = time.monotonic()
    with pytest.raises(BadRpc) as info:
        master.call(SLAVE, "time", "sleep", [2.0], timeout=0.2)
    assert info.value.reason == "timeout"
    assert 0.2 <= time.monotonic() - start < 1.0
    assert master.call(SLAVE, HELPERS, "sleep_then", [0.3, "after"], timeout=60.0) == "after"


@TARGETS
def test_call_module_version_check_success(master, target):
    assert master.call(target, (HELPERS, "1.0.0"), "stub_function") == "stub_function"


@TARGETS
def test_call_module_version_check_incompatible(master, target):
    with pytest.raises(BadRpc) as info:
        master.call(target, (HELPERS, "X.Y.Z"), "stub_function")
    assert info.value.reason == "incompatible"
    assert not isinstance(info.value, RemoteError)


@pytest.mark.parametrize(
    "module",
    [("tests.remote.functions1", "X.Y.Z"), ("os", "1"), (HELPERS, 1)],
    ids=["missing-module", "no-version", "other-type"],
)
def test_call_module_version_check_invalid(master, module):
    with pytest.raises(BadRpc) as info:
        master.call(SLAVE, module, "stub_function")
    assert info.value.reason == "incompatible"


@TARGETS
def test_interleaved_call(master, target):
    """Three callers on one connection; replies come back out of order, each to its caller."""
    finished: list[int] = []
    lock = threading.Lock()

    def caller(n: int, timeout: float | None) -> Any:
        try:
            return master.call(target, HELPERS, "sleep_then", [(3 - n) * 0.3, n], timeout=timeout)
        finally:
            with lock:
                finished.append(n)

    runs = [
        run_in_thread(caller, 1, WAIT),
        run_in_thread(caller, 2, 0.1),
        run_in_thread(caller, 3, WAIT),
    ]
    for thread, _ in runs:
        joined(thread)
    outcomes = [outcome for _, outcome in runs]
    assert outcomes[0] == {"value": 1}
    assert isinstance(outcomes[1].get("error"), BadRpc)
    assert outcomes[1]["error"].reason == "timeout"
    assert outcomes[2] == {"value": 3}
    assert finished.index(3) < finished.index(1)  # 3 answered before 1: out of order


@TARGETS
def test_call_node(master, target):
    assert master.call(target, "genrpc_actors", "node") == SLAVE


@TARGETS
def test_call_with_worker_kill(master, slave, target):
    """gen_rpc's kill_after(0): a remote KeyboardInterrupt; the slave keeps running."""
    with pytest.raises(RemoteError) as info:
        master.call(target, HELPERS, "raise_keyboard_interrupt")
    assert info.value.reason == "EXIT"
    assert isinstance(info.value.exception, KeyboardInterrupt)
    assert slave.is_alive()
    assert master.call(target, HELPERS, "pid") == slave.pid


def test_unpicklable_result_fails_at_once(master, slave):
    for call in (
        lambda: master.call(SLAVE, HELPERS, "generator_result", timeout=30),
        lambda: master.yield_(master.async_call(SLAVE, HELPERS, "generator_result")),
    ):
        start = time.monotonic()
        with pytest.raises(BadRpc) as info:
            call()
        assert time.monotonic() - start < AT_ONCE
        assert "pickl" in str(info.value.reason).lower() or "pickl" in str(info.value).lower()
    assert master.call(SLAVE, HELPERS, "pid") == slave.pid


def test_unpicklable_argument_fails_at_once(master):
    start = time.monotonic()
    with pytest.raises(BadRpc) as info:
        master.call(SLAVE, HELPERS, "echo", [(n for n in range(3))], timeout=30)
    assert time.monotonic() - start < AT_ONCE
    assert "pickl" in str(info.value.reason).lower()


# -- cast ------------------------------------------------------------------------------------------


@TARGETS
def test_cast(master, target, tmp_path):
    assert master.cast(target, "time", "time") is True
    canary = tmp_path / "cast"
    assert master.cast(target, HELPERS, "write_file", [str(canary)]) is True
    wait_for(canary.exists)


def test_cast_anonymous_function(master, tmp_path):
    canary = tmp_path / "lambda"
    path = str(canary)
    assert master.cast(SLAVE, lambda: time.time()) is True
    assert master.cast(SLAVE, lambda: open(path, "w").write("x")) is True  # noqa: SIM115
    wait_for(canary.exists)


@pytest.mark.parametrize(
    ("module", "function", "args"),
    [
        ("time", "time_undef", []),
        ("sys", "exit", ["die"]),
        (HELPERS, "raise_value_error", ["throwme"]),
        (HELPERS, "raise_keyboard_interrupt", []),
    ],
    ids=["undef", "exit", "throw", "kill"],
)
def test_cast_mfa_failures(master, slave, module, function, args):
    assert master.cast(SLAVE, module, function, args) is True
    assert master.call(SLAVE, HELPERS, "pid") == slave.pid  # still serving


def test_cast_inexistent_node(master):
    """Every attempt connects anew (plain target after the last one failed, a fresh key)."""
    start = time.monotonic()
    with frequent_thread_switches():
        for attempt in range(REPEAT):
            assert master.cast(FAKE, "time", "time") is True
            assert master.cast((FAKE, attempt), "time", "time", send_timeout=1.0) is True
    assert time.monotonic() - start < AT_ONCE


# -- async_call ------------------------------------------------------------------------------------


@TARGETS
def test_async_call(master, target):
    before = time.time()
    assert before <= master.yield_(master.async_call(target, "time", "time")) <= time.time()
    value = master.nb_yield(master.async_call(target, "time", "time"), WAIT)
    assert isinstance(value, Value)
    assert before <= value.value <= time.time()
    assert master.yield_(master.async_call(target, HELPERS, "echo", ["yield_key"])) == "yield_key"
    key = master.async_call(target, HELPERS, "echo", ["nb_yield_key"])
    assert master.nb_yield(key, WAIT) == Value("nb_yield_key")


@TARGETS
def test_async_call_yield_reentrant(master, target):
    """API.md departs from gen_rpc: a key may be yielded again, giving the same outcome."""
    key = master.async_call(target, "time", "time")
    first = master.yield_(key)
    thread, outcome = run_in_thread(master.yield_, key)  # another thread, the same key
    joined(thread)
    assert outcome == {"value": first}
    key2 = master.async_call(target, "time", "time")
    value = master.nb_yield(key2, WAIT)
    assert isinstance(value, Value)
    assert master.nb_yield(key2, 0.01) == value
    assert master.nb_yield(key2) == value
    assert master.yield_(key2) == value.value


@TARGETS
@pytest.mark.parametrize(
    ("module", "function", "args", "exception"),
    [
        ("time", "time_undef", [], AttributeError),
        ("sys", "exit", ["die"], SystemExit),
        (HELPERS, "raise_value_error", ["throwXdown"], ValueError),
    ],
    ids=["undef", "exit", "throw"],
)
def test_async_call_mfa_failures(master, target, module, function, args, exception):
    key = master.async_call(target, module, function, args)
    with pytest.raises(RemoteError) as info:
        master.yield_(key)
    assert isinstance(info.value.exception, exception)
    with pytest.raises(RemoteError) as again:  # the same outcome again
        master.nb_yield(key, WAIT)
    assert isinstance(again.value.exception, exception)
    key = master.async_call(target, module, function, args)
    with pytest.raises(RemoteError) as info:
        master.nb_yield(key, WAIT)
    assert isinstance(info.value.exception, exception)


def test_async_call_yield_timeout(master):
    key = master.async_call(SLAVE, HELPERS, "sleep_then", [1.0, "late"])
    start = time.monotonic()
    assert master.nb_yield(key, 0.005) is None
    assert master.nb_yield(key) is None
    assert time.monotonic() - start < 0.5


@TARGETS
def test_async_call_nb_yield_infinity(master, target):
    key = master.async_call(target, HELPERS, "sleep_then", [0.5, "ok"])
    key2 = master.async_call(target, HELPERS, "sleep_then", [0.5, "ok"])
    assert master.yield_(key) == "ok"
    assert master.nb_yield(key2, None) == Value("ok")


def test_async_call_never_blocks_on_connecting(make_master):
    with silent_listener() as port:
        silent = "silent@127.0.0.1"
        master = make_master({silent: port}, authentication_timeout=1.0)
        start = time.monotonic()
        key = master.async_call(silent, "time", "time")
        assert time.monotonic() - start < AT_ONCE
        assert master.nb_yield(key, 0.05) is None


# -- sharding --------------------------------------------------------------------------------------


def test_keys_get_their_own_connections(master, slave):
    assert isinstance(master.call(KEYED, "time", "time"), float)
    assert isinstance(master.call(KEYED_2, "time", "time"), float)
    assert master.statistics().connections == 2
    assert master.nodes() == [SLAVE]  # keyed connections count once
    assert master.call(KEYED, HELPERS, "echo", ["again"]) == "again"
    assert master.statistics().connections == 2  # a key reuses its connection
    assert isinstance(master.call(SLAVE, "time", "time"), float)
    assert master.statistics().connections == 3
    assert master.nodes() == [SLAVE]
    wait_for(lambda: stats(master, KEYED)["acceptors"] == 3)  # three sockets on the slave too


# -- inactivity ------------------------------------------------------------------------------------


@TARGETS
def test_client_inactivity_timeout(make_master, target):
    master = make_master(client_inactivity_timeout=0.5)
    assert isinstance(master.call(target, "time", "time"), float)
    answered = time.monotonic()
    assert master.nodes() == [SLAVE]
    assert master.statistics().connections == 1
    wait_for(lambda: not master.statistics().connections and master.nodes() == [])
    assert time.monotonic() - answered >= 0.4  # idle for the timeout, not closed earlier
    # The slave's end went too: the only acceptor left is the one that asks.
    wait_for(lambda: stats(master, (SLAVE, "ask"))["acceptors"] == 1)


def test_client_inactivity_never_closes_under_a_pending_call(make_master):
    master = make_master(client_inactivity_timeout=0.5)
    assert master.call(SLAVE, HELPERS, "sleep_then", [1.2, "done"], timeout=WAIT) == "done"


@TARGETS
def test_server_inactivity_timeout(make_node, make_master, driver, target):
    idle = "idle@127.0.0.1"
    node = make_node(idle, server_inactivity_timeout=0.5)
    master = make_master({idle: driver.port(node)})
    shard = idle if target == SLAVE else (idle, "random_key")
    assert master.call(shard, "genrpc_actors", "node") == idle
    answered = time.monotonic()
    assert master.statistics().connections == 1
    wait_for(lambda: not master.statistics().connections and master.nodes() == [])
    assert time.monotonic() - answered >= 0.4
    assert master.call(shard, HELPERS, "pid") == node.pid  # a new connection works


# -- a connection closed by one side ---------------------------------------------------------------


def test_random_local_tcp_close(master):
    """The slave calls the master; the master closes its end: the slave forgets the master."""
    nested = [MASTER, "genrpc_actors", "node"]
    assert master.call(SLAVE, "genrpc_actors", "call", nested, {"timeout": WAIT}) == MASTER
    assert stats(master)["nodes"] == [MASTER]
    assert master.statistics().acceptors == 1
    for connection in incoming(master):
        connection.close()
    wait_for(lambda: not master.statistics().acceptors)
    wait_for(lambda: stats(master)["nodes"] == [] and stats(master)["clients"] == 0)


def test_random_remote_tcp_close(master):
    """The master calls the slave; the slave closes its end: the master forgets the slave."""
    assert isinstance(master.call(SLAVE, "time", "time"), float)
    assert master.nodes() == [SLAVE]
    assert master.cast(SLAVE, HELPERS, "close_acceptors") is True
    wait_for(lambda: master.nodes() == [] and not master.statistics().connections)
    wait_for(lambda: stats(master)["acceptors"] == 1)  # only the new connection that asks


def test_random_local_tcp_close_with_key(master):
    for key in ("random_key", "random_key2"):
        nested = [(MASTER, key), "genrpc_actors", "node"]
        assert master.call(SLAVE, "genrpc_actors", "call", nested, {"timeout": WAIT}) == MASTER
    assert stats(master)["clients"] == 2
    wait_for(lambda: master.statistics().acceptors == 2)
    next(iter(incoming(master))).close()
    wait_for(lambda: master.statistics().acceptors == 1)
    wait_for(lambda: stats(master)["clients"] == 1)
    assert stats(master)["nodes"] == [MASTER]
    for key in ("random_key", "random_key2"):  # the closed key reconnects, the other lives on
        nested = [(MASTER, key), "genrpc_actors", "node"]
        assert master.call(SLAVE, "genrpc_actors", "call", nested, {"timeout": WAIT}) == MASTER


def test_random_remote_tcp_close_with_key(master):
    assert isinstance(master.call(KEYED, "time", "time"), float)
    before = set(master.call(KEYED, HELPERS2, "acceptor_peer_ports"))
    assert isinstance(master.call(KEYED_2, "time", "time"), float)
    after = set(master.call(KEYED, HELPERS2, "acceptor_peer_ports"))
    (port_2,) = after - before  # the slave's end of KEYED_2's connection
    assert master.call(KEYED, HELPERS2, "close_acceptors_from", [port_2]) == 1
    wait_for(lambda: master.statistics().connections == 1)
    assert KEYED in connections(master)
    assert master.nodes() == [SLAVE]
    wait_for(lambda: stats(master, KEYED)["acceptors"] == 1)


# -- module control --------------------------------------------------------------------------------


def test_rpc_module_whitelist(make_node, make_master, driver):
    guarded = "guarded@127.0.0.1"
    node = make_node(
        guarded,
        rpc_module_control="whitelist",
        rpc_module_list=["time", "genrpc_actors", HELPERS],
    )
    master = make_master({guarded: driver.port(node)})
    assert isinstance(master.call(guarded, "time", "time"), float)
    assert master.call(guarded, "genrpc_actors", "node") == guarded
    for module in ("os", ("os", "1.0"), lambda: 1):  # unauthorized wins over incompatible
        with pytest.raises(BadRpc) as info:
            master.call(guarded, module, None if callable(module) else "getpid")
        assert info.value.reason == "unauthorized"
        assert not isinstance(info.value, RemoteError)
    with pytest.raises(BadRpc) as info:
        master.call(guarded, (HELPERS, "X.Y.Z"), "stub_function")
    assert info.value.reason == "incompatible"  # allowed, then the version is checked


def test_rpc_module_blacklist(make_node, make_master, driver):
    guarded = "guarded@127.0.0.1"
    node = make_node(guarded, rpc_module_control="blacklist", rpc_module_list=["time", "os"])
    master = make_master({guarded: driver.port(node)})
    for module, function in [("time", "time"), ("os", "getpid"), (("os", "X"), "getpid")]:
        with pytest.raises(BadRpc) as info:
            master.call(guarded, module, function)
        assert info.value.reason == "unauthorized"
    with pytest.raises(BadRpc) as info:
        master.call(guarded, lambda: 1)  # shipped code: refused whenever control is on
    assert info.value.reason == "unauthorized"
    assert master.call(guarded, "operator", "mul", [60, 1000]) == 60000
    key = master.async_call(guarded, "time", "time")
    with pytest.raises(BadRpc) as info:
        master.yield_(key)
    assert info.value.reason == "unauthorized"


# -- client configuration --------------------------------------------------------------------------


class ExternalSource:
    """An external client config source: ``get_config(node) -> (driver, port)``."""

    def __init__(self, ports: dict[str, int], driver: str = "tcp") -> None:
        self.ports, self.driver = ports, driver
        self.asked: list[str] = []

    def get_config(self, node: str) -> tuple[str, int]:
        self.asked.append(node)
        return self.driver, self.ports[node]


class BrokenSource:
    def get_config(self, node: str) -> tuple[str, int]:
        raise LookupError(f"no entry for {node}")


def test_external_client_config_source(make_master, slave, driver):
    source = ExternalSource({SLAVE: driver.port(slave)}, driver.name)
    master = make_master(client_config_per_node=source)
    before = time.time()
    assert before <= master.call(SLAVE, "time", "time") <= time.time()
    assert master.call(KEYED, "genrpc_actors", "node") == SLAVE
    assert SLAVE in source.asked


def test_external_client_config_source_error(make_master):
    master = make_master(client_config_per_node=BrokenSource())
    with pytest.raises(BadRpc) as info:
        master.call(SLAVE, "time", "time")
    assert isinstance(info.value.reason, tuple)
    assert info.value.reason[0] == "external_source_error"
    assert "no entry for" in str(info.value.reason[1])
    with pytest.raises(BadRpc) as info:
        master.yield_(master.async_call(SLAVE, "time", "time"))
    assert info.value.reason[0] == "external_source_error"
    assert master.cast(SLAVE, "time", "time") is True


# -- authentication and addressing failures --------------------------------------------------------


def test_wrong_cookie_on_the_caller(make_master):
    master = make_master(cookie="not-the-cookie")
    with pytest.raises(BadRpc) as info:
        master.call(SLAVE, "time", "time")
    assert info.value.reason == "invalid_cookie"
    assert master.nodes() == []


def test_wrong_cookie_on_the_callee(make_node, make_master, driver):
    stranger = "stranger@127.0.0.1"
    node = make_node(stranger, cookie="not-the-cookie")
    master = make_master({stranger: driver.port(node)})
    with pytest.raises(BadRpc) as info:
        master.call(stranger, "time", "time")
    assert info.value.reason == "invalid_cookie"
    with pytest.raises(BadRpc) as info:
        master.yield_(master.async_call((stranger, "k"), "time", "time"))
    assert info.value.reason == "invalid_cookie"


def test_wrong_cookie_from_the_slave_side(make_master, slave, driver):
    """The slave calls a master whose cookie differs: the slave's call fails the same way."""
    master = make_master(cookie="not-the-cookie")
    assert driver.port(master)  # listening, reached by the slave through its MASTER mapping
    name = "asker@127.0.0.1"
    settings = node_settings(
        name, driver, {SLAVE: driver.port(slave)}, tcp_server_port=False, ssl_server_port=False
    )
    with Node.start(name, **settings) as asker:
        nested = [MASTER, "time", "time"]
        with pytest.raises(RemoteError) as info:
            asker.call(SLAVE, "genrpc_actors", "call", nested, {"timeout": WAIT})
    assert isinstance(info.value.exception, BadRpc)
    assert info.value.exception.reason == "invalid_cookie"


def test_server_rejects_a_wrong_proof(slave, driver):
    """A client that does not know the cookie gets a CHALLENGE with nothing keyed in it, then
    RESULT invalid_cookie with a zero proof and a closed socket (under ``ssl``: a TLS client
    with a trusted certificate of its own)."""
    with driver.raw_client(driver.port(slave)) as sock:
        hello = wire.ClientHandshake(b"guess", INTRUDER, SLAVE, os.urandom(32))
        sock.sendall(hello.start())
        challenge = read_frame(sock)
        head = wire.MAGIC + bytes([wire.VERSION, wire.CHALLENGE, wire.OK])
        name = SLAVE.encode()
        assert challenge == head + challenge[7:39] + struct.pack(">H", len(name)) + name
        sock.sendall(hello.receive(challenge))  # a well-formed PROOF, made with the guess
        rest = read_until_closed(sock)
    refusal = wire.MAGIC + bytes([wire.VERSION, wire.RESULT, wire.INVALID_COOKIE]) + bytes(32)
    assert rest == wire.frame(refusal)


def test_name_mismatch_is_badnode(make_master, slave, driver):
    """Under ``ssl`` the slave's certificate does not name ``other``: the TLS check says so
    first (API.md: a certificate that does not name the node)."""
    other = "other@127.0.0.1"
    master = make_master({other: driver.port(slave)})
    with pytest.raises(BadRpc) as info:
        master.call(other, "time", "time")
    assert info.value.reason == ("node_certificate_mismatch" if driver.tls else "badnode")
    assert master.nodes() == []
    assert master.call(SLAVE, "genrpc_actors", "node") == SLAVE


def test_connection_refused(master):
    """Every attempt connects anew: each must be refused the same way, at once."""
    with frequent_thread_switches():
        for attempt in range(RACE_ATTEMPTS):
            for target in (FAKE, (FAKE, attempt)):
                start = time.monotonic()
                with pytest.raises(BadRpc) as info:
                    master.call(target, "time", "time", timeout=WAIT)
                assert info.value.reason == "econnrefused"
                key = master.async_call(target, "time", "time")
                with pytest.raises(BadRpc) as info:
                    master.yield_(key)
                assert info.value.reason == "econnrefused"
                with pytest.raises(BadRpc) as info:
                    master.nb_yield(key, WAIT)
                assert info.value.reason == "econnrefused"
                assert time.monotonic() - start < AT_ONCE
    assert master.nodes() == []


def test_silent_node_times_out(make_master):
    silent = "silent@127.0.0.1"
    with silent_listener() as port:
        master = make_master({silent: port}, authentication_timeout=1.0)
        start = time.monotonic()
        with pytest.raises(BadRpc) as info:
            master.call(silent, "time", "time", timeout=0.3)
        assert info.value.reason == "timeout"
        assert time.monotonic() - start < 0.3 + AT_ONCE


def test_casts_wait_for_a_connection_without_spinning(make_master):
    """Casts made while the connection is still being made wait for it, idle: this process
    uses almost no CPU meanwhile."""
    silent = "silent@127.0.0.1"
    with silent_listener() as port:
        master = make_master({silent: port}, authentication_timeout=2.0, connect_timeout=2.0)
        for _ in range(10):
            assert master.cast(silent, "time", "time") is True
        wait_for(lambda: master.statistics().connections == 1)  # being made: not up
        assert master.nodes() == []
        cpu = time.process_time()
        threading.Event().wait(0.5)  # a window to measure CPU over, not a synchronisation
        assert time.process_time() - cpu < 0.25


def test_stop_does_not_wait_for_a_silent_handshake(make_master):
    """Node.stop closes every socket: a connection still authenticating does not hold it up."""
    silent = "silent@127.0.0.1"
    with silent_listener() as port:
        master = make_master({silent: port}, authentication_timeout=3.0)
        with pytest.raises(BadRpc):
            master.call(silent, "time", "time", timeout=0.2)
        start = time.monotonic()
        master.stop()
        assert time.monotonic() - start < 1.5


# -- a peer that dies, restarts, or never reads ----------------------------------------------------


def test_pending_calls_fail_at_once_when_the_peer_is_killed_then_reconnect(
    make_node, make_master, driver
):
    victim_name = "victim@127.0.0.1"
    victim = make_node(victim_name)
    master = make_master({victim_name: driver.port(victim)}, call_receive_timeout=30.0)
    old_pid = master.call(victim_name, HELPERS, "pid")
    key = master.async_call(victim_name, HELPERS, "sleep_then", [30, "late"])
    thread, outcome = run_in_thread(
        master.call, victim_name, HELPERS, "sleep_then", [30, "late"], timeout=20.0
    )
    connection = connections(master)[victim_name]
    wait_for(lambda: connection.pending == 2)
    start = time.monotonic()
    victim.kill()
    with pytest.raises(BadTcp):
        master.nb_yield(key, 10.0)
    joined(thread)
    assert isinstance(outcome.get("error"), BadTcp)
    assert time.monotonic() - start < 3.0  # at once, not at the 20/30 s timeouts
    wait_for(lambda: master.nodes() == [])
    port, ssl_port = victim.port, victim.ssl_port
    victim.restart()
    assert victim.port == port
    assert victim.ssl_port == ssl_port
    assert master.call(victim_name, HELPERS, "pid", timeout=WAIT) == victim.pid != old_pid
    assert master.nodes() == [victim_name]


def read_frame(sock: socket.socket) -> bytes:
    head = recv_exactly(sock, 4)
    (size,) = struct.unpack(">I", head)
    return recv_exactly(sock, size)


def recv_exactly(sock: socket.socket, size: int) -> bytes:
    data = b""
    while len(data) < size:
        chunk = sock.recv(size - len(data))
        if not chunk:
            raise AssertionError("the connection closed early")
        data += chunk
    return data


def read_until_closed(sock: socket.socket, timeout: float = WAIT) -> bytes:
    """Everything the peer still sends, until it closes (a timeout fails the test; a TLS
    error is the end of a TLS stream that the peer cut)."""
    sock.settimeout(timeout)
    received = b""
    while True:
        try:
            chunk = sock.recv(4096)
        except (ConnectionResetError, ssl.SSLError):
            return received
        if not chunk:
            return received
        received += chunk


def garbage_connection(
    driver: Driver, port: int, kind: int, rng: random.Random, *, inside_tls: bool
) -> socket.socket:
    """A connection that sends garbage of ``kind``: on the bare socket, or ``inside_tls`` (a TLS
    session with a trusted certificate, garbage in place of the handshake)."""
    if inside_tls:
        sock = driver.raw_client(port)
    else:
        sock = socket.create_connection(("127.0.0.1", port), timeout=WAIT)
    with contextlib.suppress(OSError):  # the node may already have closed it
        if kind == 0:  # random bytes
            sock.sendall(rng.randbytes(rng.randint(1, 4096)))
        elif kind == 1:  # an oversized length prefix
            sock.sendall(struct.pack(">I", rng.randint(513, 2**32 - 1)) + rng.randbytes(64))
        elif kind == 2:  # a frame that never completes
            sock.sendall(struct.pack(">I", 300) + rng.randbytes(10))
        elif kind == 3:  # a HELLO-shaped frame full of noise
            sock.sendall(wire.frame(wire.MAGIC + bytes([1, 1]) + rng.randbytes(100)))
        # kind 4: nothing at all
    return sock


def test_garbage_flood_leaves_a_working_connection_untouched(make_node, make_master, driver):
    """Under ``ssl`` the flood hits the TLS port: half of it raw bytes where a TLS handshake
    belongs, half of it inside TLS sessions that never authenticate."""
    target = "flooded@127.0.0.1"
    node = make_node(target, authentication_timeout=1.0)
    port = driver.port(node)
    master = make_master({target: port})
    assert master.call(target, HELPERS, "echo", [0]) == 0
    connection = connections(master)[target]
    done = threading.Event()
    results: list[Any] = []

    def keep_calling() -> None:
        n = 0
        while not done.is_set():
            n += 1
            try:
                results.append(master.call(target, HELPERS, "echo", [n], timeout=WAIT) == n)
            except Exception as exc:
                results.append(exc)

    thread, _ = run_in_thread(keep_calling)
    rng = random.Random(1234)
    sockets: list[socket.socket] = []
    try:
        for i in range(200):
            inside_tls = driver.tls and i % 2 == 1
            sockets.append(garbage_connection(driver, port, i % 5, rng, inside_tls=inside_tls))
        # Connections that never authenticate are dropped after authentication_timeout.
        wait_for(lambda: stats(master, target)["acceptors"] == 1, timeout=10.0)
        done.set()
        joined(thread)
    finally:
        done.set()
        for sock in sockets:
            sock.close()
    assert results, "no call ran during the flood"
    assert all(result is True for result in results), [r for r in results if r is not True][:3]
    assert connections(master)[target] is connection
    assert not connection.closed
    assert master.call(target, HELPERS, "pid") == node.pid
    assert master.call((target, "new"), HELPERS, "pid") == node.pid  # still accepting


@pytest.mark.parametrize("side", ["slave", "master"])
def test_nothing_is_unpickled_before_authentication(master, slave, driver, tmp_path, side):
    """Under ``ssl`` the frames go inside TLS sessions with a trusted certificate: TLS proves
    who the client is, not that it knows the cookie."""
    name, node = (SLAVE, slave) if side == "slave" else (MASTER, master)
    port = driver.port(node)
    canary = tmp_path / "canary"
    payload = pickle.dumps(WritesFile(str(canary)))
    frames = [
        wire.frame(payload),
        wire.message(wire.CALL, 0, 1, payload),
        wire.frame(payload + bytes(1000)),
    ]
    for data in frames:
        with driver.raw_client(port) as sock:
            sock.sendall(data)  # as the very first frame
            read_until_closed(sock)
        with driver.raw_client(port) as sock:
            hello = wire.ClientHandshake(b"guess", INTRUDER, name, os.urandom(32))
            sock.sendall(hello.start())
            assert read_frame(sock)[:6] == wire.MAGIC + bytes([wire.VERSION, wire.CHALLENGE])
            sock.sendall(data)  # after a valid HELLO, in place of the PROOF
            read_until_closed(sock)
    assert not canary.exists()
    # An authenticated call still works, and the canary does fire once authenticated.
    assert master.call(SLAVE, HELPERS, "pid") == slave.pid
    fired = tmp_path / "fired"
    assert master.call(SLAVE, HELPERS, "echo", [WritesFile(str(fired))]) is None
    assert fired.read_text() == "written"


@contextlib.contextmanager
def deaf_peer(name: str, driver: Driver) -> Iterator[tuple[int, threading.Event]]:
    """A loopback node that authenticates as ``name`` (under ``ssl``, inside TLS with ``name``'s
    certificate) and then never reads a byte; yields its port and an event set once a client
    has authenticated."""
    server = socket.create_server(("127.0.0.1", 0))
    server.settimeout(WAIT)
    authenticated, release = threading.Event(), threading.Event()

    def serve() -> None:
        try:
            accepted, _ = server.accept()
        except OSError:
            return
        accepted.settimeout(WAIT)
        try:
            conn = driver.server_socket(accepted, name)
        except OSError:
            accepted.close()
            return
        with conn:
            handshake = wire.ServerHandshake(COOKIE.encode(), name, os.urandom(32))
            decoder = wire.FrameDecoder()
            with contextlib.suppress(OSError, wire.HandshakeError):
                while not handshake.done:
                    data = conn.recv(wire.PREAUTH_MAX)
                    if not data:
                        return
                    for payload in decoder.feed(data):
                        conn.sendall(handshake.receive(payload))
            authenticated.set()
            release.wait(30.0)

    thread = threading.Thread(target=serve, daemon=True)
    thread.start()
    try:
        yield int(server.getsockname()[1]), authenticated
    finally:
        release.set()
        server.close()
        joined(thread)


BIG = b"x" * (64 * 1024 * 1024)  # far more than the loopback socket buffers hold


def connected_to_deaf_peer(
    make_master: Any, port: int, authenticated: threading.Event, **config: Any
) -> Node:
    master = make_master({DEAF: port}, **config)
    assert master.nb_yield(master.async_call(DEAF, "time", "time"), 0.05) is None
    assert authenticated.wait(WAIT)
    wait_for(lambda: master.nodes() == [DEAF])
    return master


def test_send_timeout_on_a_peer_that_never_reads(make_master, driver):
    with deaf_peer(DEAF, driver) as (port, authenticated):
        master = connected_to_deaf_peer(make_master, port, authenticated)
        start = time.monotonic()
        with pytest.raises(BadTcp) as info:
            master.call(DEAF, HELPERS, "echo", [BIG], timeout=20.0, send_timeout=0.3)
        assert info.value.reason == "send_timeout"
        assert time.monotonic() - start < 5.0  # long before the call's timeout
        wait_for(lambda: master.nodes() == [])


def tls_encryption_time(driver: Driver, data: bytes) -> float:
    """How long this machine takes to encrypt ``data`` as one TLS write, as the ``ssl`` driver
    does before the first byte of a frame goes out (0 under ``tcp``)."""
    if not driver.tls:
        return 0.0
    client_end, server_end = socket.socketpair()
    with client_end, server_end:
        options = driver.certificates.options(MASTER)
        client = TlsTransport(client_end, client_context(options), server=False)
        server = TlsTransport(server_end, server_context(options), server=True)
        thread, outcome = run_in_thread(server.handshake, WAIT)
        client.handshake(WAIT)
        joined(thread)
        assert "error" not in outcome, outcome
        start = time.monotonic()
        client.encrypt(data)
        return time.monotonic() - start


def test_send_timeout_bounds_the_whole_send(make_master, driver):
    """A send that has not completed within send_timeout fails then, not several times later.
    Under ``ssl`` the frame is encrypted whole before its first byte is sent; that CPU time
    (about 0.2 s for these 64 MiB) comes on top, measured here rather than guessed."""
    encryption = tls_encryption_time(driver, BIG)
    with deaf_peer(DEAF, driver) as (port, authenticated):
        master = connected_to_deaf_peer(make_master, port, authenticated)
        start = time.monotonic()
        with pytest.raises(BadTcp):
            master.call(DEAF, HELPERS, "echo", [BIG], timeout=20.0, send_timeout=0.5)
        assert time.monotonic() - start < 0.5 + 0.5 + encryption


def test_cast_returns_at_once_to_a_peer_that_never_reads(make_master, driver):
    with deaf_peer(DEAF, driver) as (port, authenticated):
        master = connected_to_deaf_peer(make_master, port, authenticated, send_timeout=1.0)
        start = time.monotonic()
        assert master.cast(DEAF, HELPERS, "echo", [BIG]) is True
        assert time.monotonic() - start < AT_ONCE

"""gen_rpc's multi_rpc_SUITE and multi_rpc_with_key_SUITE on API.md, on more than two nodes.

``multicall``, ``eval_everywhere``, ``abcast`` and ``sbcast``, plain and keyed (``(node, key)``);
the named actors they target; module control on broadcasts; callables shipped by value; and a key
streaming large payloads next to a key making small calls.

The master is a node in this process (a fresh one per test); the other nodes run in processes of
their own: the session's slave plus this module's ``n2``, ``n3`` and three nodes with module
control on. Every remote node maps the master's name to its port, so pongs and broadcasts made
on the remote side come back to the master. Every test runs under both drivers (``[tcp]``,
``[ssl]``; see node_fixtures.py): under ``ssl`` the whole cluster calls over TLS.
"""

from __future__ import annotations

import contextlib
import functools
import importlib
import itertools
import operator
import os
import queue
import threading
import time
import uuid
from collections.abc import Callable, Iterator
from typing import Any

import pykka
import pytest

import genrpc_actors as gen_rpc
from genrpc_actors import (
    BadRpc,
    BadTcp,
    MultiResult,
    NameTakenError,
    Node,
    NoNodeError,
    RemoteError,
    RpcError,
)
from genrpc_actors.testing import LocalNode, connections, silent_listener
from tests.actors import Recorder
from tests.node_fixtures import FAKE, MASTER, SLAVE, Driver, node_settings, start_master
from tests.remote import multi as remote_multi
from tests.waiting import WAIT, wait_for

HM = "tests.remote.multi"
N2 = "n2@127.0.0.1"
N3 = "n3@127.0.0.1"
WDENY = "wdeny@127.0.0.1"  # whitelist without "pykka": broadcasts refused
WALLOW = "wallow@127.0.0.1"  # whitelist with "pykka": broadcasts delivered
BDENY = "bdeny@127.0.0.1"  # blacklist with "pykka": broadcasts refused
SILENT = "silent@127.0.0.1"  # mapped to a listener that never answers
REMOTES = (SLAVE, N2, N3)


# -- fixtures and helpers ------------------------------------------------------------------------


@pytest.fixture(scope="module")
def cluster(
    driver: Driver, slave: LocalNode, master_port: int, fake_port: int
) -> Iterator[dict[str, LocalNode]]:
    """The remote nodes by name: the session's slave and this module's own nodes."""
    peers = {MASTER: master_port, FAKE: fake_port}
    common: dict[str, Any] = {"connect_timeout": 0.5, "send_timeout": 0.5}
    controlled = {
        WDENY: {"rpc_module_control": "whitelist", "rpc_module_list": [HM, "os"]},
        WALLOW: {"rpc_module_control": "whitelist", "rpc_module_list": [HM, "os", "pykka"]},
        BDENY: {"rpc_module_control": "blacklist", "rpc_module_list": ["pykka"]},
    }
    with contextlib.ExitStack() as stack:
        nodes = {SLAVE: slave}
        for name in (N2, N3):
            settings = node_settings(name, driver, peers, **common)
            nodes[name] = stack.enter_context(LocalNode(name, **settings))
        for name, control in controlled.items():
            settings = node_settings(name, driver, peers, **common, **control)
            nodes[name] = stack.enter_context(LocalNode(name, **settings))
        yield nodes


@pytest.fixture
def make_master(
    driver: Driver, cluster: dict[str, LocalNode], master_port: int, fake_port: int
) -> Iterator[Callable[..., Node]]:
    """``make(extra_nodes=None, **config)``: the master (this process's default node), reaching
    every node of the cluster, the fake node and ``extra_nodes`` ({name: its port for the
    driver}); stopped after the test."""
    started: list[Node] = []

    def make(extra_nodes: dict[str, int] | None = None, **config: Any) -> Node:
        peers: dict[str, int] = {name: driver.port(node) for name, node in cluster.items()}
        peers[FAKE] = fake_port
        peers.update(extra_nodes or {})
        node = start_master(driver, master_port, peers, **config)
        started.append(node)
        return node

    yield make
    for node in reversed(started):
        node.stop()
    # The next test's master has this name and port: until every cluster node has seen its
    # connection to this one close, a broadcast back to "the master" could be written into the
    # dying connection and lost (fire and forget, as in gen_rpc). An observer waits for that.
    askable = {
        n: driver.port(c)
        for n, c in cluster.items()
        if c.config.get("rpc_module_control", "disabled") == "disabled"
    }
    if started and askable:
        with Node.start(
            "observer@127.0.0.1",
            **node_settings("observer@127.0.0.1", driver, askable, tcp_server_port=0),
        ) as obs:
            for name in askable:
                wait_for(lambda name=name: MASTER not in obs.call(name, "genrpc_actors", "nodes"))


@pytest.fixture
def m(make_master: Callable[..., Node]) -> Node:
    return make_master()


def unique(prefix: str = "proc") -> str:
    return f"{prefix}_{uuid.uuid4().hex[:10]}"


class Mailbox:
    """A ``Recorder`` registered under a fresh name on a node of this process."""

    def __init__(self, node: Node) -> None:
        self.name = unique("mailbox")
        self.queue: queue.Queue[Any] = queue.Queue()
        self.ref = Recorder.start(self.queue)
        node.register(self.name, self.ref)

    def take(self, count: int, timeout: float = WAIT) -> list[Any]:
        """The next ``count`` messages; fails if they do not all come within ``timeout``."""
        deadline = time.monotonic() + timeout
        got = []
        for _ in range(count):
            try:
                got.append(self.queue.get(timeout=max(0.0, deadline - time.monotonic())))
            except queue.Empty:
                pytest.fail(f"got {len(got)} of {count} messages within {timeout} s: {got}")
        return got

    def nothing_before_marker(self) -> None:
        """Tell the actor a marker and check that it is the next message (the actor's mailbox is
        FIFO: anything delivered before the marker would come first)."""
        marker = ("marker", uuid.uuid4().hex)
        self.ref.tell(marker)
        assert self.take(1) == [marker]


@pytest.fixture
def pongs(m: Node) -> Mailbox:
    return Mailbox(m)


@pytest.fixture
def inboxes(make_master: Callable[..., Node]) -> Iterator[Callable[[Node, Any, str], None]]:
    """``make(master, target, name)``: an inbox registered as ``name`` on the remote ``target``;
    unregistered and stopped after the test."""
    made: list[tuple[Node, Any, str]] = []

    def make(master: Node, target: Any, name: str) -> None:
        assert master.call(target, HM, "register_inbox", (name,), timeout=WAIT) is True
        made.append((master, target, name))

    yield make
    for master, target, name in made:
        with contextlib.suppress(RpcError):
            master.call(target, HM, "drop_inbox", (name,), timeout=WAIT)


def received(master: Node, target: Any, name: str) -> list[Any]:
    result: list[Any] = master.call(target, HM, "received", (name,), timeout=WAIT)
    return result


def wait_received(master: Node, target: Any, name: str, expected: list[Any]) -> None:
    """Wait (bounded) until the inbox ``name`` on ``target`` holds exactly ``expected``."""
    wait_for(lambda: len(received(master, target, name)) >= len(expected))
    assert received(master, target, name) == expected


def ident(cluster: dict[str, LocalNode], name: str) -> tuple[str, int]:
    """What ``whoami`` returns on the node ``name``."""
    return (name, os.getpid() if name == MASTER else cluster[name].pid)


def no_link_to_master(master: Node, target: str) -> None:
    """Wait until ``target`` holds no connection to a master of an earlier test (it closes when
    that master stops), so that what it sends next goes to this test's master."""
    wait_for(lambda: MASTER not in master.call(target, HM, "nodes", timeout=WAIT))


def name_of(target: Any) -> str:
    """The node name of a target, keyed or not."""
    return str(target[0] if isinstance(target, tuple) else target)


def same_actor(found: pykka.ActorRef[Any] | None, ref: pykka.ActorRef[Any]) -> bool:
    return found is not None and found.actor_urn == ref.actor_urn


def pong_senders(messages: list[Any]) -> list[str]:
    return sorted(message[1][0] for message in messages)


# -- eval_everywhere (multi_rpc_SUITE, multi_rpc_with_key_SUITE) -------------------------------


def test_eval_everywhere_no_node(m):
    assert gen_rpc.eval_everywhere([], "os", "getpid") is None
    assert m.eval_everywhere([], "os", "getpid", send_timeout=0.01) is None
    assert m.statistics().connections == 0
    children = m.tree.which_children()
    assert {info.id for info in children} >= {"acceptors", "clients", "dispatcher"}
    assert all(info.ref is not None and info.ref.is_alive() for info in children)


def test_eval_everywhere_one_node(m, pongs):
    assert gen_rpc.eval_everywhere([SLAVE], HM, "ping", (MASTER, pongs.name, "one")) is None
    assert pongs.take(1) == [("pong", (SLAVE, pongs.name, "one"))]


@pytest.mark.parametrize("send_timeout", [None, 0.01], ids=["no_send_timeout", "send_timeout"])
def test_eval_everywhere_repeated_nodes(m, pongs, send_timeout):
    targets = [SLAVE, SLAVE, N2, N3, N3, N2]
    assert (
        m.eval_everywhere(
            targets, HM, "ping", (MASTER, pongs.name, "many"), send_timeout=send_timeout
        )
        is None
    )
    got = pongs.take(len(targets))
    assert pong_senders(got) == sorted(targets)
    assert all(message[1][1:] == (pongs.name, "many") for message in got)
    assert m.nodes() == sorted(REMOTES)


@pytest.mark.parametrize("kind", ["exit", "interrupt", "raise"])
def test_eval_everywhere_remote_failure_leaves_nodes_up(m, cluster, pongs, kind):
    """``SystemExit``, ``KeyboardInterrupt`` or an exception in a cast: the nodes, their
    connections and the master's tree all stay up."""
    targets = [SLAVE, SLAVE, N2, N3, MASTER]
    assert (
        m.eval_everywhere(targets, HM, "ping_then_raise", (MASTER, pongs.name, kind, kind)) is None
    )
    assert pong_senders(pongs.take(len(targets))) == sorted(targets)
    held = {name: connections(m)[name] for name in REMOTES}
    assert all(cluster[name].is_alive() for name in REMOTES)
    results, bad = m.multicall([*REMOTES, MASTER], HM, "whoami", timeout=WAIT)
    assert results == [ident(cluster, name) for name in [*REMOTES, MASTER]]
    assert bad == []
    assert all(connections(m)[name] is held[name] for name in REMOTES)
    assert not any(connection.closed for connection in held.values())
    assert all(info.ref is not None and info.ref.is_alive() for info in m.tree.which_children())


def test_eval_everywhere_nodes_none_is_self_plus_nodes(m, cluster, pongs):
    assert m.multicall([N3, SLAVE], HM, "whoami", timeout=WAIT).bad_nodes == []
    assert m.eval_everywhere(None, HM, "ping", (MASTER, pongs.name, "all")) is None
    assert pong_senders(pongs.take(3)) == sorted([MASTER, N3, SLAVE])


def test_eval_everywhere_keyed(m, pongs):
    targets = [(SLAVE, "key1"), SLAVE, (N2, "key1"), (N2, "key2")]
    assert m.eval_everywhere(targets, HM, "ping", (MASTER, pongs.name, "keyed")) is None
    assert pong_senders(pongs.take(4)) == sorted([SLAVE, SLAVE, N2, N2])
    assert m.statistics().connections == 4
    assert set(connections(m)) == set(targets)
    assert m.nodes() == [N2, SLAVE]


def test_eval_everywhere_with_bad_nodes_reaches_the_good_ones(make_master):
    with silent_listener() as port:
        m = make_master({SILENT: port})
        box = Mailbox(m)
        started = time.monotonic()
        targets = [FAKE, SILENT, SLAVE, (FAKE, "k"), N2]
        assert m.eval_everywhere(targets, HM, "ping", (MASTER, box.name, "x")) is None
        assert time.monotonic() - started < 1.0  # a cast never waits on a connect (5 s here)
        assert pong_senders(box.take(2)) == [N2, SLAVE]


# -- multicall (multi_rpc_SUITE) -----------------------------------------------------------------


def test_multicall_local_node_only(m):
    result = gen_rpc.multicall(None, HM, "whoami")
    assert isinstance(result, MultiResult)
    results, bad = result
    assert results == [(MASTER, os.getpid())]
    assert bad == []
    assert result.errors == {}
    assert MASTER not in gen_rpc.nodes()
    assert gen_rpc.nodes() == []


def test_multicall_multiple_nodes_in_input_order(m, cluster):
    targets = [SLAVE, N2, N3, SLAVE, MASTER, N2]
    results, bad = m.multicall(targets, HM, "whoami", timeout=WAIT)
    assert results == [ident(cluster, name) for name in targets]
    assert bad == []
    assert m.nodes() == sorted(REMOTES)
    assert MASTER not in m.nodes()


def test_multicall_with_bad_module_version(m):
    targets = [SLAVE, N2, N3, SLAVE, MASTER]
    result = m.multicall(targets, (HM, "X.Y.Z"), "stub_function", timeout=WAIT)
    assert result.results == []
    assert result.bad_nodes == targets
    assert set(result.errors) == set(targets)
    for error in result.errors.values():
        assert type(error) is BadRpc
        assert error.reason == "incompatible"
    missing = m.multicall([N2, MASTER], ("tests.no_such_module", "1.0.0"), "f", timeout=WAIT)
    assert missing.bad_nodes == [N2, MASTER]
    assert all(error.reason == "incompatible" for error in missing.errors.values())


def test_multicall_with_good_module_version(m):
    results, bad = m.multicall([SLAVE, N2, N3, MASTER], (HM, "1.0.0"), "stub_function")
    assert results == ["stub_function"] * 4
    assert bad == []


def test_multicall_nodes_none_is_self_plus_nodes(m, cluster):
    results, bad = m.multicall([N3, SLAVE, N3], HM, "whoami", timeout=WAIT)
    assert results == [ident(cluster, N3), ident(cluster, SLAVE), ident(cluster, N3)]
    assert bad == []
    assert m.nodes() == [N3, SLAVE]
    expected = [ident(cluster, name) for name in [MASTER, N3, SLAVE]]
    assert tuple(m.multicall(None, HM, "whoami", timeout=WAIT)) == (expected, [])
    assert tuple(gen_rpc.multicall(None, HM, "whoami")) == (expected, [])


def test_multicall_timeout_is_one_deadline_for_all_nodes(m, cluster):
    slow = list(REMOTES)
    assert m.multicall(slow, HM, "whoami", timeout=WAIT).bad_nodes == []  # connected
    timeout = 0.5
    started = time.monotonic()
    result = m.multicall(slow, HM, "sleep_then", (1.5, "late"), timeout=timeout)
    elapsed = time.monotonic() - started
    assert result.results == []
    assert result.bad_nodes == slow
    for error in result.errors.values():
        assert type(error) is BadRpc
        assert error.reason == "timeout"
    assert timeout - 0.05 <= elapsed < 2 * timeout  # one deadline, not one per node


def test_multicall_timeout_some_nodes_and_late_replies_dropped(m, cluster):
    """The slow node is bad, the others answer; its late reply never reaches a later call."""
    targets = [SLAVE, N2, N3]
    assert m.multicall(targets, HM, "whoami", timeout=WAIT).bad_nodes == []
    result = m.multicall(targets, HM, "sleep_on", ([N2], 0.8), timeout=0.3)
    assert result.results == [ident(cluster, SLAVE), ident(cluster, N3)]
    assert result.bad_nodes == [N2]
    assert result.errors[N2].reason == "timeout"
    # the late reply (a whoami tuple) arrives while this call is pending on the same connection
    assert m.call(N2, HM, "sleep_then", (1.0, "fresh"), timeout=WAIT) == "fresh"
    assert connections(m)[N2].pending == 0


def test_multicall_with_refused_node(m, cluster):
    targets = [SLAVE, FAKE, N2, (FAKE, "k"), FAKE]
    result = m.multicall(targets, HM, "whoami", timeout=WAIT)
    assert result.results == [ident(cluster, SLAVE), ident(cluster, N2)]
    assert result.bad_nodes == [FAKE, (FAKE, "k"), FAKE]
    assert set(result.errors) == {FAKE, (FAKE, "k")}
    for error in result.errors.values():
        assert type(error) is BadRpc
        assert error.reason == "econnrefused"
    assert FAKE not in m.nodes()
    assert m.nodes() == [N2, SLAVE]


def test_multicall_with_silent_node(make_master, cluster):
    with silent_listener() as port:
        m = make_master({SILENT: port})
        targets = [SLAVE, SILENT, N2, (SILENT, "k")]
        started = time.monotonic()
        result = m.multicall(targets, HM, "whoami", timeout=1.0)
        elapsed = time.monotonic() - started
        assert result.results == [ident(cluster, SLAVE), ident(cluster, N2)]
        assert result.bad_nodes == [SILENT, (SILENT, "k")]
        for error in result.errors.values():
            assert type(error) is BadRpc
            assert error.reason == "timeout"
        assert elapsed < 2.0


def test_multicall_remote_exception_makes_the_node_bad(m, cluster):
    targets = [SLAVE, N2, N3, MASTER]
    result = m.multicall(targets, HM, "raise_on", ([N2, MASTER],), timeout=WAIT)
    assert result.results == [ident(cluster, SLAVE), ident(cluster, N3)]
    assert result.bad_nodes == [N2, MASTER]
    for name in (N2, MASTER):
        error = result.errors[name]
        assert isinstance(error, RemoteError)
        assert error.reason == "EXIT"
        assert isinstance(error.exception, ValueError)
        assert f"failing on {name}" in str(error.exception)


def test_multi_result_unpacks_and_maps_errors(m, cluster):
    result = m.multicall([N2, FAKE, SLAVE], HM, "whoami", timeout=WAIT)
    results, bad = result
    assert results is result.results
    assert bad is result.bad_nodes
    assert len(result) == 2
    assert list(result) == [results, bad]
    assert results == [ident(cluster, N2), ident(cluster, SLAVE)]
    assert bad == [FAKE]
    assert list(result.errors) == [FAKE]
    assert isinstance(result.errors[FAKE], RpcError)
    empty = m.multicall([], HM, "whoami")
    assert tuple(empty) == ([], [])
    assert empty.errors == {}
    assert m.multicall(iter([N2]), HM, "whoami", timeout=WAIT).results == [ident(cluster, N2)]


def test_multi_bad_arguments_fail_before_sending(m):
    with pytest.raises(TypeError):
        m.multicall(SLAVE, HM, "whoami")  # a node, not a list of nodes
    with pytest.raises(TypeError):
        m.multicall([SLAVE], 42, "whoami")
    with pytest.raises(ValueError):
        m.multicall([SLAVE], HM, "whoami", timeout=-1)
    with pytest.raises(TypeError):
        m.eval_everywhere(SLAVE, HM, "whoami")
    with pytest.raises(TypeError):
        m.eval_everywhere([SLAVE], 42, "whoami")
    with pytest.raises(TypeError):
        m.abcast([SLAVE], 42, "msg")
    with pytest.raises(TypeError):
        m.sbcast([SLAVE], None, "msg")
    with pytest.raises(ValueError):
        m.sbcast([SLAVE], "name", "msg", timeout=-1)
    assert m.statistics().connections == 0


def test_multi_calls_on_a_stopped_node_fail_as_rpc_errors(m, cluster):
    """Using a stopped node is local misuse: an RpcError, or the outcome of nodes that all
    failed; never an exception of Pykka or of the worker pool."""
    assert m.call(SLAVE, HM, "whoami", timeout=WAIT) == ident(cluster, SLAVE)
    m.stop()
    targets = [SLAVE, MASTER]
    operations: list[tuple[Callable[[], Any], Any]] = [
        (lambda: m.eval_everywhere(targets, HM, "whoami"), None),
        (lambda: m.abcast(targets, "svc", "x"), None),
        (lambda: tuple(m.multicall(targets, HM, "whoami", timeout=WAIT)), ([], targets)),
        (lambda: m.sbcast(targets, "svc", "x", timeout=WAIT), ([], targets)),
    ]
    outcomes = []
    for operation, failed in operations:
        try:
            outcomes.append(operation() == failed)
        except RpcError:
            outcomes.append(True)
        except Exception as exc:
            outcomes.append(repr(exc))
    assert outcomes == [True] * len(operations)


# -- multicall with keys (multi_rpc_with_key_SUITE) ---------------------------------------------


def test_multicall_keyed_and_local(m, cluster):
    results, bad = m.multicall([(SLAVE, "random_key"), SLAVE], HM, "whoami", timeout=WAIT)
    assert results == [ident(cluster, SLAVE)] * 2
    assert bad == []
    assert m.nodes() == [SLAVE]
    assert m.statistics().connections == 2
    results, bad = m.multicall(None, HM, "whoami", timeout=WAIT)  # keyed ones count once
    assert results == [ident(cluster, MASTER), ident(cluster, SLAVE)]
    assert bad == []
    assert m.nodes() == [SLAVE]
    assert {(SLAVE, "random_key"), SLAVE} <= set(connections(m))


def test_multicall_each_key_its_own_connection(m, cluster):
    targets = [
        (SLAVE, "k1"),
        (SLAVE, "k2"),
        (N2, "k1"),
        (N2, "k2"),
        (SLAVE, "k1"),
        (N3, 7),
        (N3, ("t", 1)),
        N3,
    ]
    results, bad = m.multicall(targets, HM, "whoami", timeout=WAIT)
    assert results == [ident(cluster, name_of(t)) for t in targets]
    assert bad == []
    assert m.statistics().connections == len(set(targets)) == 7
    assert len({id(connection) for connection in connections(m).values()}) == 7
    assert m.nodes() == sorted(REMOTES)


def test_multicall_keyed_with_timeout(m, cluster):
    targets = [(SLAVE, "random_key"), SLAVE]
    assert m.multicall(targets, HM, "whoami", timeout=WAIT).results == [ident(cluster, SLAVE)] * 2
    assert m.nodes() == [SLAVE]
    started = time.monotonic()
    result = m.multicall(targets, HM, "sleep_then", (1.5, "late"), timeout=0.3)
    assert time.monotonic() - started < 0.6
    assert tuple(result) == ([], targets)
    assert all(error.reason == "timeout" for error in result.errors.values())


def test_closing_one_keyed_connection_leaves_the_others(m, cluster):
    """Close only (N2, "k1")'s connection, from the remote side: a call pending on it fails at
    once with BadTcp; N2 and (N2, "k2") keep their connections; (N2, "k1") reconnects."""
    me = ident(cluster, N2)
    assert m.call(N2, HM, "whoami", timeout=WAIT) == me
    assert m.call((N2, "k2"), HM, "whoami", timeout=WAIT) == me
    before = set(m.call(N2, HM, "acceptor_peer_ports", timeout=WAIT))
    assert m.call((N2, "k1"), HM, "whoami", timeout=WAIT) == me
    new = set(m.call(N2, HM, "acceptor_peer_ports", timeout=WAIT)) - before
    assert len(new) == 1  # (N2, "k1") is a TCP connection of its own
    plain, k1, k2 = (connections(m)[t] for t in (N2, (N2, "k1"), (N2, "k2")))
    assert len({id(plain), id(k1), id(k2)}) == 3

    pending = m.async_call((N2, "k1"), HM, "sleep_then", (3.0, "never"))
    assert m.call(N2, HM, "close_acceptor_from", (new.pop(),), timeout=WAIT) == 1
    started = time.monotonic()
    with pytest.raises(BadTcp):
        m.nb_yield(pending, timeout=WAIT)
    assert time.monotonic() - started < 1.0  # at once, not when the remote sleep ends
    wait_for(lambda: k1.closed)

    assert not plain.closed
    assert not k2.closed
    assert m.call((N2, "k2"), HM, "whoami", timeout=WAIT) == me
    assert m.call(N2, HM, "whoami", timeout=WAIT) == me
    assert connections(m)[N2] is plain
    assert connections(m)[(N2, "k2")] is k2
    assert m.call((N2, "k1"), HM, "whoami", timeout=WAIT) == me  # a new connection
    assert connections(m)[(N2, "k1")] is not k1
    assert m.nodes() == [N2]


# -- abcast (multi_rpc_SUITE, multi_rpc_with_key_SUITE) ------------------------------------------


def test_abcast_from_a_remote_node(m, pongs, inboxes):
    no_link_to_master(m, N2)
    assert m.call(N2, HM, "do_abcast", ([MASTER], pongs.name, "this_is_a_test")) is None
    assert pongs.take(1) == ["this_is_a_test"]
    assert m.call(N2, HM, "nodes", timeout=WAIT) == [MASTER]
    assert m.call(N2, HM, "do_abcast", (None, pongs.name, "again")) is None  # = [N2, MASTER]
    assert pongs.take(1) == ["again"]
    inboxes(m, N2, pongs.name)  # now N2 has the name too
    assert m.call(N2, HM, "do_abcast", (None, pongs.name, "both")) is None
    assert pongs.take(1) == ["both"]
    wait_received(m, N2, pongs.name, ["both"])


def test_abcast_to_remote_and_local_nodes(m, pongs, inboxes):
    for name in REMOTES:
        inboxes(m, name, pongs.name)
    assert gen_rpc.abcast([SLAVE, N2, MASTER, N3], pongs.name, ("hello", 1)) is None
    assert pongs.take(1) == [("hello", 1)]
    for name in REMOTES:
        wait_received(m, name, pongs.name, [("hello", 1)])
    assert m.abcast(None, pongs.name, ("hello", 2)) is None  # = [MASTER, *nodes()]
    assert pongs.take(1) == [("hello", 2)]
    for name in REMOTES:
        wait_received(m, name, pongs.name, [("hello", 1), ("hello", 2)])


def test_abcast_with_bad_server(m, pongs, inboxes):
    no_link_to_master(m, N2)
    assert m.call(N2, HM, "do_abcast", ([MASTER, FAKE], pongs.name, "from_n2")) is None
    assert pongs.take(1) == ["from_n2"]
    inboxes(m, SLAVE, pongs.name)
    assert m.abcast([FAKE, SLAVE, (FAKE, "k"), MASTER], pongs.name, "from_master") is None
    assert pongs.take(1) == ["from_master"]
    wait_received(m, SLAVE, pongs.name, ["from_master"])
    assert FAKE not in m.nodes()


def test_abcast_to_an_unregistered_name(m, cluster, pongs, inboxes):
    """Nothing is delivered, nothing crashes, the same connection goes on working."""
    inboxes(m, SLAVE, pongs.name)
    assert m.call(SLAVE, HM, "whoami", timeout=WAIT) == ident(cluster, SLAVE)
    connection = connections(m)[SLAVE]
    nobody = unique("nobody")
    assert m.abcast([SLAVE, MASTER, N2], nobody, "lost") is None
    assert gen_rpc.abcast(None, nobody, "lost") is None
    assert m.call(SLAVE, HM, "whoami", timeout=WAIT) == ident(cluster, SLAVE)
    assert connections(m)[SLAVE] is connection
    assert not connection.closed
    assert m.sbcast([SLAVE, MASTER], nobody, "lost", timeout=WAIT) == ([], [SLAVE, MASTER])
    assert received(m, SLAVE, pongs.name) == []  # the actor of another name got nothing
    pongs.nothing_before_marker()
    assert m.abcast([SLAVE], pongs.name, "afterwards") is None
    wait_received(m, SLAVE, pongs.name, ["afterwards"])
    assert connections(m)[SLAVE] is connection
    assert all(cluster[name].is_alive() for name in (SLAVE, N2))


def test_abcast_keyed(m, pongs, inboxes):
    no_link_to_master(m, N2)
    rk = (MASTER, "random_key")
    assert m.call(N2, HM, "do_abcast", ([rk], pongs.name, "keyed")) is None
    assert pongs.take(1) == ["keyed"]
    assert m.call(N2, HM, "nodes", timeout=WAIT) == [MASTER]
    assert m.call(N2, HM, "do_abcast", (None, pongs.name, "all")) is None
    assert pongs.take(1) == ["all"]
    assert m.call(N2, HM, "do_abcast", ([rk, FAKE], pongs.name, "bad_server")) is None
    assert pongs.take(1) == ["bad_server"]
    inboxes(m, SLAVE, pongs.name)
    targets = [(SLAVE, "k1"), (SLAVE, "k2"), (MASTER, "k")]
    assert m.abcast(targets, pongs.name, "to_keys") is None
    assert pongs.take(1) == ["to_keys"]
    wait_received(m, SLAVE, pongs.name, ["to_keys", "to_keys"])
    assert m.nodes() == [N2, SLAVE]  # N2: the calls above


# -- sbcast (multi_rpc_SUITE, multi_rpc_with_key_SUITE) ------------------------------------------


def test_sbcast_from_a_remote_node(m, pongs):
    no_link_to_master(m, N2)
    assert m.call(N2, HM, "do_sbcast", ([MASTER], pongs.name, "this_is_a_test")) == (
        [MASTER],
        [],
    )
    assert pongs.take(1) == ["this_is_a_test"]
    assert m.call(N2, HM, "nodes", timeout=WAIT) == [MASTER]
    assert m.call(N2, HM, "do_sbcast", (None, pongs.name, "again")) == ([MASTER], [N2])
    assert pongs.take(1) == ["again"]


def test_sbcast_good_and_bad_in_input_order(m, pongs, inboxes):
    inboxes(m, SLAVE, pongs.name)
    inboxes(m, N3, pongs.name)
    targets = [N2, SLAVE, MASTER, N3, FAKE, N2]
    good, bad = gen_rpc.sbcast(targets, pongs.name, "sb", timeout=WAIT)
    assert good == [SLAVE, MASTER, N3]
    assert bad == [N2, FAKE, N2]
    assert pongs.take(1) == ["sb"]
    assert received(m, SLAVE, pongs.name) == ["sb"]  # delivered before the answer
    assert received(m, N3, pongs.name) == ["sb"]


def test_sbcast_with_bad_server(m, pongs):
    no_link_to_master(m, N2)
    assert m.call(N2, HM, "do_sbcast", ([MASTER, FAKE], pongs.name, "x", 0.5)) == (
        [MASTER],
        [FAKE],
    )
    assert pongs.take(1) == ["x"]
    assert m.sbcast([FAKE, SLAVE, MASTER], pongs.name, "y", timeout=WAIT) == (
        [MASTER],
        [FAKE, SLAVE],
    )
    assert pongs.take(1) == ["y"]


def test_sbcast_silent_node_is_bad_after_the_timeout(make_master, inboxes):
    with silent_listener() as port:
        m = make_master({SILENT: port}, sbcast_receive_timeout=0.5)
        box = Mailbox(m)
        inboxes(m, SLAVE, box.name)
        started = time.monotonic()
        assert m.sbcast([SLAVE, SILENT, MASTER], box.name, "sb") == ([SLAVE, MASTER], [SILENT])
        elapsed = time.monotonic() - started
        assert 0.45 <= elapsed < 1.0  # sbcast_receive_timeout from the config
        assert box.take(1) == ["sb"]
        silent = [(SILENT, "a"), SILENT, (SILENT, "b")]
        started = time.monotonic()
        assert m.sbcast(silent, box.name, "sb", timeout=0.3) == ([], silent)
        assert time.monotonic() - started < 0.6  # one deadline for all of them
        started = time.monotonic()
        assert m.abcast([SILENT, SLAVE], box.name, "ab") is None
        assert time.monotonic() - started < 1.0  # abcast does not wait for the silent node
        wait_received(m, SLAVE, box.name, ["sb", "ab"])


def test_sbcast_nodes_none(m, pongs, inboxes):
    inboxes(m, SLAVE, pongs.name)
    assert m.multicall([SLAVE, N2], HM, "whoami", timeout=WAIT).bad_nodes == []
    assert m.sbcast(None, pongs.name, "all", timeout=WAIT) == ([MASTER, SLAVE], [N2])
    assert pongs.take(1) == ["all"]
    assert received(m, SLAVE, pongs.name) == ["all"]


def test_sbcast_keyed(m, pongs, inboxes):
    no_link_to_master(m, N2)
    rk = (MASTER, "random_key")
    assert m.call(N2, HM, "do_sbcast", ([rk], pongs.name, "keyed")) == ([rk], [])
    assert pongs.take(1) == ["keyed"]
    assert m.call(N2, HM, "nodes", timeout=WAIT) == [MASTER]
    assert m.call(N2, HM, "do_sbcast", (None, pongs.name, "all")) == ([MASTER], [N2])
    assert pongs.take(1) == ["all"]
    assert m.call(N2, HM, "do_sbcast", ([rk, FAKE], pongs.name, "bad", 0.5)) == ([rk], [FAKE])
    assert pongs.take(1) == ["bad"]
    inboxes(m, SLAVE, pongs.name)
    targets = [(SLAVE, "k1"), (N2, "k1"), (MASTER, "k"), (FAKE, "k")]
    assert m.sbcast(targets, pongs.name, "to_keys", timeout=WAIT) == (
        [(SLAVE, "k1"), (MASTER, "k")],
        [(N2, "k1"), (FAKE, "k")],
    )
    assert pongs.take(1) == ["to_keys"]
    assert received(m, SLAVE, pongs.name) == ["to_keys"]


# -- named actors --------------------------------------------------------------------------------


def test_register_whereis_registered_unregister(m):
    a, b = Recorder.start(), Recorder.start()
    assert gen_rpc.whereis("svc") is None
    assert gen_rpc.registered() == []
    assert gen_rpc.register("svc", a) is None
    gen_rpc.register("other", b)
    assert same_actor(gen_rpc.whereis("svc"), a)
    assert same_actor(m.whereis("other"), b)
    assert gen_rpc.registered() == ["other", "svc"]
    with pytest.raises(NameTakenError) as info:
        gen_rpc.register("svc", b)  # a live owner keeps its name
    assert isinstance(info.value, RpcError)
    assert same_actor(gen_rpc.whereis("svc"), a)
    assert gen_rpc.unregister("svc") is None
    assert gen_rpc.whereis("svc") is None
    assert gen_rpc.registered() == ["other"]
    gen_rpc.register("svc", b)  # free again
    assert same_actor(gen_rpc.whereis("svc"), b)


def test_a_dead_actors_name_is_free_again(m):
    a, b = Recorder.start(), Recorder.start()
    gen_rpc.register("svc", a)
    a.stop()
    assert gen_rpc.whereis("svc") is None
    assert "svc" not in gen_rpc.registered()
    assert m.sbcast([MASTER], "svc", "x", timeout=WAIT) == ([], [MASTER])
    assert m.abcast([MASTER], "svc", "x") is None  # nothing crashes
    gen_rpc.register("svc", b)
    assert same_actor(gen_rpc.whereis("svc"), b)
    assert m.sbcast([MASTER], "svc", "x", timeout=WAIT) == ([MASTER], [])


def test_register_bad_arguments(m):
    ref = Recorder.start()
    with pytest.raises(TypeError):
        gen_rpc.register(42, ref)  # type: ignore[arg-type]
    with pytest.raises(TypeError):
        gen_rpc.register(None, ref)  # type: ignore[arg-type]
    with pytest.raises(TypeError):
        gen_rpc.register("svc", "not an actor ref")  # type: ignore[arg-type]
    with pytest.raises(TypeError):
        gen_rpc.register("svc", object())  # type: ignore[arg-type]
    assert gen_rpc.registered() == []


def test_named_actors_need_a_node(m):
    m.stop()
    ref = Recorder.start()
    with pytest.raises(NoNodeError):
        gen_rpc.register("svc", ref)
    with pytest.raises(NoNodeError):
        gen_rpc.registered()
    with pytest.raises(NoNodeError):
        gen_rpc.multicall([SLAVE], HM, "whoami")
    with pytest.raises(NoNodeError):
        gen_rpc.abcast([SLAVE], "svc", "x")


# -- module control on broadcasts ----------------------------------------------------------------


@pytest.mark.parametrize(("target", "delivered"), [(WDENY, False), (BDENY, False), (WALLOW, True)])
def test_module_control_on_broadcasts(m, inboxes, target, delivered):
    name = unique()
    inboxes(m, target, name)
    inboxes(m, SLAVE, name)
    assert m.abcast([target, SLAVE], name, "ab") is None
    wait_received(m, SLAVE, name, ["ab"])
    good, bad = m.sbcast([target, SLAVE], name, "sb", timeout=WAIT)
    if delivered:
        assert (good, bad) == ([target, SLAVE], [])
        wait_received(m, target, name, ["ab", "sb"])
    else:
        assert (good, bad) == ([SLAVE], [target])
        # the abcast went before the sbcast on the same connection: it would be there by now
        assert received(m, target, name) == []
    # the node's own broadcasts, to itself, obey the same control
    expected = ([target], []) if delivered else ([], [target])
    assert m.call(target, HM, "do_sbcast", ([target], name, "self"), timeout=WAIT) == expected


def test_module_control_on_the_local_node(make_master):
    m = make_master(rpc_module_control="blacklist", rpc_module_list=["pykka"])
    box = Mailbox(m)
    assert m.abcast([MASTER], box.name, "ab") is None
    box.nothing_before_marker()
    assert m.sbcast([MASTER], box.name, "sb", timeout=WAIT) == ([], [MASTER])
    box.nothing_before_marker()
    with pytest.raises(BadRpc) as info:
        m.call(MASTER, lambda: 1)
    assert type(info.value) is BadRpc
    assert info.value.reason == "unauthorized"
    result = m.multicall([MASTER], lambda: 1, timeout=WAIT)
    assert tuple(result) == ([], [MASTER])
    assert result.errors[MASTER].reason == "unauthorized"


# -- callables shipped by value ------------------------------------------------------------------
#
# The shipped callables reach the library through ``importlib`` (a stdlib module, which dill
# pickles by reference): see test_shipped_lambda_may_use_an_imported_module for why.


def shipped_callables() -> list[tuple[str, Callable[..., Any], tuple[Any, ...], Any]]:
    """``(label, callable, args, expected result after the node name)``: a lambda, a closure
    over a local variable, a partial of a local function, a function with a nested function, and
    a partial of a module-level function (which the C pickle carries, by reference)."""
    offset = 40

    def add_offset(x: int) -> tuple[str, int]:
        return importlib.import_module("genrpc_actors").node(), x + offset

    def tag(label: str, x: int) -> tuple[str, str, int]:
        return importlib.import_module("genrpc_actors").node(), label, x

    def nested() -> tuple[str, int]:
        def double(x: int) -> int:
            return 2 * x

        return importlib.import_module("genrpc_actors").node(), double(21)

    return [
        ("lambda", lambda x: (importlib.import_module("genrpc_actors").node(), x * 3), (14,), 42),
        ("closure", add_offset, (2,), 42),
        ("partial", functools.partial(tag, "partial"), (42,), ("partial", 42)),
        ("nested", nested, (), 42),
        ("partial_of_builtin", functools.partial(operator.add, 40), (2,), None),
    ]


def check_shipped(result: Any, where: str, expected: Any) -> None:
    if expected is None:  # operator.add: no node name in the result
        assert result == 42
    elif isinstance(expected, tuple):
        assert result == (where, *expected)
    else:
        assert result == (where, expected)


def pong_function(name: str, salt: str) -> Callable[[str], None]:
    """A closure that abcasts ``("pong", (node, label, salt))`` to ``name`` on the master."""

    def pong(label: str) -> None:
        gen = importlib.import_module("genrpc_actors")
        gen.abcast([MASTER], name, ("pong", (gen.node(), label, salt)))

    return pong


def test_shipped_callables_call_and_async_call(m):
    for _label, function, args, expected in shipped_callables():
        for target in [SLAVE, N2, (N3, "k"), MASTER]:
            where = name_of(target)
            check_shipped(m.call(target, function, args=args, timeout=WAIT), where, expected)
            check_shipped(m.yield_(m.async_call(target, function, args=args)), where, expected)
            key = gen_rpc.async_call(target, function, args=args)
            check_shipped(gen_rpc.yield_(key), where, expected)


def test_shipped_callables_multicall(m):
    targets = [SLAVE, N2, MASTER, N3, (SLAVE, "k")]
    for _label, function, args, expected in shipped_callables():
        results, bad = m.multicall(targets, function, args=args, timeout=WAIT)
        assert bad == []
        for target, result in zip(targets, results, strict=True):
            check_shipped(result, name_of(target), expected)


def test_shipped_callables_cast_and_eval_everywhere(m, pongs):
    salt = uuid.uuid4().hex  # a value the closure carries
    pong = pong_function(pongs.name, salt)
    assert m.cast(N2, pong, args=("cast",)) is True
    assert pongs.take(1) == [("pong", (N2, "cast", salt))]
    assert m.cast(SLAVE, functools.partial(pong, "partial")) is True
    assert pongs.take(1) == [("pong", (SLAVE, "partial", salt))]
    assert m.cast(N3, lambda: pong("lambda")) is True
    assert pongs.take(1) == [("pong", (N3, "lambda", salt))]
    targets = [SLAVE, N2, N3, MASTER, (N2, "k")]
    assert m.eval_everywhere(targets, pong, args=("everywhere",)) is None
    got = pongs.take(len(targets))
    assert pong_senders(got) == sorted(name_of(t) for t in targets)
    assert all(message[1][1:] == ("everywhere", salt) for message in got)


@pytest.mark.parametrize("target", [WDENY, BDENY])
def test_shipped_callables_refused_under_module_control(m, cluster, pongs, target):
    for label, function, args, _expected in shipped_callables():
        with pytest.raises(BadRpc) as info:
            m.call(target, function, args=args, timeout=WAIT)
        assert type(info.value) is BadRpc, label
        assert info.value.reason == "unauthorized", label
        with pytest.raises(BadRpc) as info:
            m.yield_(m.async_call(target, function, args=args))
        assert (type(info.value), info.value.reason) == (BadRpc, "unauthorized"), label
        result = m.multicall([SLAVE, target], function, args=args, timeout=WAIT)
        assert result.bad_nodes == [target], label
        assert len(result.results) == 1
        error = result.errors[target]
        assert (type(error), error.reason) == (BadRpc, "unauthorized"), label

    pong = pong_function(pongs.name, "refused")
    assert m.cast(target, pong, args=("cast",)) is True
    assert m.eval_everywhere([target, SLAVE], pong, args=("everywhere",)) is None
    assert pongs.take(1) == [("pong", (SLAVE, "everywhere", "refused"))]
    # a named function may still run there: its pong comes; the shipped ones never ran
    assert m.call(target, HM, "ping", (MASTER, pongs.name, "barrier"), timeout=WAIT) is True
    assert pongs.take(1) == [("pong", (target, pongs.name, "barrier"))]
    pongs.nothing_before_marker()
    assert cluster[target].is_alive()


def test_shipped_lambda_may_use_an_imported_module(m):
    """API.md: a lambda is shipped by value and run remotely; the modules it uses are the
    remote's own (imported there), as for a function named by module and attribute."""
    assert m.call(N2, lambda: gen_rpc.node(), timeout=WAIT) == N2


def test_shipping_a_callable_leaves_the_remote_modules_alone(m):
    m.call(N2, HM, "set_mark", ("remote",), timeout=WAIT)
    assert remote_multi.MARK == "unset"  # this process's copy
    assert m.call(N2, lambda: remote_multi.stub_function(), timeout=WAIT) == ("stub_function")
    assert m.call(N2, HM, "get_mark", timeout=WAIT) == "remote"


# -- a bulk key next to a small key --------------------------------------------------------------


BULK_ECHOES = 120  # here the 50 small calls complete within 3 to 25 bulk echoes, even under load
SMALL_CALLS = 50


def test_bulk_key_does_not_delay_small_calls_on_another_key(m):
    """A thread echoes 500 KB payloads, one after another, on (SLAVE, "bulk") while this thread
    makes small calls on (SLAVE, "small"). Completions are numbered in order: the small calls
    all complete while the bulk stream is still going (they do not wait for it to finish)."""
    bulk_key, small_key = (SLAVE, "bulk"), (SLAVE, "small")
    payload = os.urandom(500_000)
    numbers = itertools.count()
    completions: list[tuple[int, str]] = []
    failures: list[BaseException] = []
    stop = threading.Event()

    def stream() -> None:
        try:
            for _ in range(BULK_ECHOES):
                if stop.is_set():
                    return
                echoed = m.call(bulk_key, HM, "echo", (payload,), timeout=WAIT)
                if echoed != payload:
                    raise AssertionError("a bulk echo came back altered")
                completions.append((next(numbers), "bulk"))
        except BaseException as exc:
            failures.append(exc)

    assert m.call(small_key, HM, "echo", (-1,), timeout=WAIT) == -1
    thread = threading.Thread(target=stream, name="bulk-stream", daemon=True)
    thread.start()
    try:
        wait_for(lambda: completions or failures)  # the stream is under way
        for i in range(SMALL_CALLS):
            assert m.call(small_key, HM, "echo", (i,), timeout=WAIT) == i
            completions.append((next(numbers), "small"))
    except BaseException:
        stop.set()
        raise
    finally:
        thread.join(30.0)
    assert not thread.is_alive(), "the bulk stream did not end"
    assert not failures, failures
    bulk = [n for n, kind in completions if kind == "bulk"]
    small = [n for n, kind in completions if kind == "small"]
    assert len(bulk) == BULK_ECHOES
    assert len(small) == SMALL_CALLS
    assert min(bulk) < min(small)  # the stream had started when the small calls began
    assert max(small) < max(bulk)  # and was still going when the last small call completed
    assert m.statistics().connections == 2

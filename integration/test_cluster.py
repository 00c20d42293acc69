"""gen_rpc's integration_SUITE, and failures across hosts: kill -9, cut links, a stopped node.

Each test runs under both drivers (``[tcp]``, ``[ssl]``): see ``conftest``.
"""

from __future__ import annotations

import itertools
import socket
import time
from pathlib import Path

import pytest

from genrpc_actors import BadRpc, BadTcp, RpcError, testing
from genrpc_actors._node import default_node
from integration.lab import LabInfo, link
from integration.nodes import (
    KEEPALIVE,
    PORT,
    SSL_PORT,
    Driver,
    NodeProcess,
    thread_states,
    wait_until,
)

SILENT_PEER = KEEPALIVE["socket_keepalive_idle"] + (
    KEEPALIVE["socket_keepalive_interval"] * KEEPALIVE["socket_keepalive_count"]
)
_ids = itertools.count()


def needs_links(lab: LabInfo) -> None:
    if lab.kind != "netns":
        pytest.skip("a loopback lab has no links to cut")


def test_call(runner, lab):
    for host in lab.hosts:
        assert isinstance(runner.call(host.name, "time", "time"), float)
        assert runner.call(host.name, "genrpc_actors", "node") == host.name
    assert runner.nodes() == sorted(h.name for h in lab.hosts)


def test_each_node_listens_on_the_driver_alone(runner, lab, driver: Driver):
    """So a call that succeeds under ``ssl`` went over TLS, with certificates naming the nodes."""
    other_port = PORT if driver.name == "ssl" else SSL_PORT
    for host in lab.hosts:
        info = runner.call(host.name, "genrpc_actors.introspection", "describe", timeout=5)
        expected = {"tcp": None, "ssl": None, driver.name: driver.port}
        assert {"tcp": info["port"] or None, "ssl": info["ssl_port"]} == expected
        with pytest.raises(ConnectionRefusedError):
            socket.create_connection((host.address, other_port), timeout=5).close()


def test_multicall(runner, lab):
    for host in lab.hosts:
        runner.call(host.name, "os", "getpid")
    results, bad = runner.multicall(None, "genrpc_actors", "node", timeout=5)
    assert bad == []
    assert len(results) == len(runner.nodes()) + 1 == len(lab.hosts) + 1
    assert sorted(results) == sorted([runner.name, *(h.name for h in lab.hosts)])


def test_remote_socket_close(runner, lab):
    for host in lab.hosts:
        count = runner.call(host.name, lambda: len(testing.incoming(default_node())))
        assert count == 1  # exactly one acceptor on each peer: ours
        runner.cast(host.name, lambda: [c.close() for c in testing.incoming(default_node())])
    wait_until(lambda: runner.nodes() == [], timeout=2)


def test_kill_9_and_restart(runner, lab, cluster):
    victim: NodeProcess = cluster[lab.hosts[0].name]
    name = victim.host.name
    assert runner.call(name, "os", "getpid") == victim.pid
    pending = runner.async_call(name, "time", "sleep", (30,))
    started = time.monotonic()
    victim.kill()
    with pytest.raises(BadTcp):
        runner.yield_(pending)
    assert time.monotonic() - started < 5
    with pytest.raises(BadRpc):
        runner.call(name, "os", "getpid", timeout=3)
    victim.start()
    assert runner.call(name, "os", "getpid", timeout=5) == victim.pid
    for other in lab.hosts[1:]:  # nobody else was restarted
        assert runner.call(other.name, "genrpc_actors", "node") == other.name


def test_cut_link_and_heal(runner, lab):
    needs_links(lab)
    host = lab.hosts[-1]
    assert runner.call(host.name, "os", "getpid")
    in_flight = runner.async_call(host.name, "time", "sleep", (1,))
    link(lab, host, up=False)
    try:
        started = time.monotonic()
        with pytest.raises(BadRpc) as caught:
            runner.call(host.name, "os", "getpid", timeout=1.5)
        assert caught.value.reason == "timeout"
        assert time.monotonic() - started < 1.5 + 1
        # keepalive notices the silent peer: the connection and its pending call fail
        with pytest.raises(RpcError):
            runner.nb_yield(in_flight, SILENT_PEER + 5)
        wait_until(lambda: host.name not in runner.nodes(), timeout=SILENT_PEER + 5)
    finally:
        link(lab, host, up=True)
    assert runner.call(host.name, "genrpc_actors", "node", timeout=5) == host.name


def test_exactly_once(runner, lab, tmp_path: Path):
    """Every call that returned ran exactly once; one that failed ran at most once."""
    journal = tmp_path / "journal"  # the hosts share this machine's file system

    def record(path: str, call_id: int, seconds: float) -> int:  # shipped by value
        with open(path, "a") as stream:
            stream.write(f"{call_id}\n")
        time.sleep(seconds)
        return call_id

    outcomes: dict[int, bool] = {}
    for host in lab.hosts:
        for _ in range(40):
            call_id = next(_ids)
            delay = 0.2 if call_id % 5 == 0 else 0.0
            timeout = 0.05 if call_id % 10 == 0 else 5
            try:
                runner.call(host.name, record, args=(str(journal), call_id, delay), timeout=timeout)
                outcomes[call_id] = True
            except (BadRpc, BadTcp):
                outcomes[call_id] = False
    assert any(outcomes.values())
    wait_until(lambda: len(journal.read_text().split()) >= sum(outcomes.values()), timeout=5)
    runs = [int(line) for line in journal.read_text().split()]
    for call_id, returned in outcomes.items():
        count = runs.count(call_id)
        assert count == 1 if returned else count <= 1, (call_id, returned, count)


def test_a_stopped_consumer_does_not_block_the_others(runner, lab, cluster):
    """SIGSTOP one node (it reads nothing more): calls to it time out, calls to the others flow."""
    if len(lab.hosts) < 2:
        pytest.skip("needs two nodes")
    frozen, other = cluster[lab.hosts[0].name], lab.hosts[1]
    runner.call(frozen.host.name, "os", "getpid")
    frozen.freeze()
    try:
        stuck = runner.async_call(frozen.host.name, "operator", "add", (1, 1))
        runner.cast(frozen.host.name, "os", "getpid")
        started = time.monotonic()
        for _ in range(50):
            assert runner.call(other.name, "operator", "add", (1, 1), timeout=2) == 2
        assert time.monotonic() - started < 5
        assert frozen.stopped, thread_states(frozen.pid)
        with pytest.raises(BadRpc) as caught:
            runner.call(frozen.host.name, "os", "getpid", timeout=0.5)
        assert caught.value.reason == "timeout"
    finally:
        frozen.thaw()
    assert runner.yield_(stuck) == 2  # it was queued, not lost, and ran once it woke

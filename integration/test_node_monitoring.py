"""Node monitoring across hosts: a node killed, cut off or frozen is reported down to a
``monitor_node`` watcher with its reason, within the bounds of API.md (at once for a kill, the
keepalive bound plus a second for a cut link or a stopped process); ``monitor_nodes`` sees it
come back. Both drivers."""

from __future__ import annotations

import os
import queue
import signal
import time
from typing import Any

import pykka
import pytest

from genrpc_actors import NodeDown, NodeUp, RpcError
from integration.lab import link
from integration.nodes import KEEPALIVE, NodeProcess, wait_until
from integration.test_cluster import needs_links

BOUND = KEEPALIVE["socket_keepalive_idle"] + (
    KEEPALIVE["socket_keepalive_interval"] * KEEPALIVE["socket_keepalive_count"]
)


class Inbox(pykka.ThreadingActor):
    def __init__(self, box: queue.Queue[Any]) -> None:
        super().__init__()
        self.box = box

    def on_receive(self, message: Any) -> None:
        self.box.put(message)


@pytest.fixture
def watcher():
    box: queue.Queue[Any] = queue.Queue()
    ref = Inbox.start(box)
    yield ref, box
    ref.stop()


def _down_within(box: queue.Queue[Any], seconds: float) -> tuple[NodeDown, float]:
    started = time.monotonic()
    down = box.get(timeout=seconds + 5)
    return down, time.monotonic() - started


def test_a_killed_node_is_down_at_once_and_comes_back_up(runner, lab, cluster, watcher):
    ref, box = watcher
    victim: NodeProcess = cluster[lab.hosts[0].name]
    name = victim.host.name
    assert runner.call(name, "os", "getpid") == victim.pid
    every = runner.monitor_nodes(ref)
    once = runner.monitor_node(name, ref)
    victim.kill()
    first, took = _down_within(box, 1)
    second = box.get(timeout=5)
    assert {first.monitor_ref, second.monitor_ref} == {every, once}
    assert (first.node, first.reason, second.reason) == (name, "closed", "closed")
    print(f"detected: killed node down after {took:.3f} s")
    assert took < 1.0
    victim.start()
    assert runner.call(name, "os", "getpid", timeout=5) == victim.pid
    assert box.get(timeout=5) == NodeUp(every, name)
    runner.demonitor_node(every)


def test_a_cut_off_node_is_down_within_the_keepalive_bound(runner, lab, watcher):
    needs_links(lab)
    ref, box = watcher
    host = lab.hosts[-1]
    assert runner.call(host.name, "os", "getpid")
    mref = runner.monitor_node(host.name, ref)
    link(lab, host, up=False)
    try:
        down, took = _down_within(box, BOUND + 1)
        assert down == NodeDown(mref, host.name, down.reason)
        assert down.reason == "timeout"
        print(f"detected: cut-off node down after {took:.2f} s (bound {BOUND} s)")
        assert took < BOUND + 1 + 0.5
        assert host.name not in runner.nodes()
    finally:
        link(lab, host, up=True)
    assert runner.call(host.name, "genrpc_actors", "node", timeout=5) == host.name


def test_a_frozen_node_is_down_within_the_keepalive_bound(runner, lab, cluster, watcher):
    ref, box = watcher
    frozen: NodeProcess = cluster[lab.hosts[1].name]
    name = frozen.host.name
    assert runner.call(name, "os", "getpid") == frozen.pid
    mref = runner.monitor_node(name, ref)
    os.kill(frozen.pid, signal.SIGSTOP)  # its kernel still answers TCP keepalive probes
    try:
        down, took = _down_within(box, BOUND + 1)
        assert down == NodeDown(mref, name, "timeout")
        print(f"detected: frozen node down after {took:.2f} s (bound {BOUND} s)")
        assert took < BOUND + 1 + 0.5
    finally:
        os.kill(frozen.pid, signal.SIGCONT)
    wait_until(lambda: _answers(runner, name) == frozen.pid, timeout=10)


def _answers(runner: Any, name: str) -> int | None:
    try:
        return int(runner.call(name, "os", "getpid", timeout=2))
    except RpcError:
        return None

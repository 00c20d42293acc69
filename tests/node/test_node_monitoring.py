"""Node up and down: ``nodes()`` lists the nodes a connection has authenticated to, and
``monitor_node`` / ``monitor_nodes`` watchers are told ``NodeUp`` / ``NodeDown`` with the reason.
Both drivers; the nodes that are killed are nodes of their own."""

from __future__ import annotations

import os
import queue
import signal
import time
from typing import Any

import pytest

from genrpc_actors import BadRpc, BadTcp, Node, NodeDown, NodeUp
from genrpc_actors.testing import silent_listener
from tests.actors import Recorder
from tests.node_fixtures import FAKE, SLAVE, node_settings
from tests.waiting import WAIT, wait_for

WATCHER = "watching@127.0.0.1"
VICTIM = "victim@127.0.0.1"
HANGER = "hanger@127.0.0.1"
COUNTER = "tests.remote.remote_actors:Counter"


@pytest.fixture
def victim(make_node):
    return make_node(VICTIM)


@pytest.fixture
def watching(driver, slave, victim, fake_port):
    """A node of this process reaching the slave, the victim, the fake node and one that hangs."""
    with silent_listener() as silent:
        peers = {
            SLAVE: driver.port(slave),
            VICTIM: driver.port(victim),
            FAKE: fake_port,
            HANGER: silent,
        }
        settings = node_settings(WATCHER, driver, peers, tcp_server_port=False, connect_timeout=0.5)
        with Node.start(WATCHER, **settings) as node:
            yield node


def _asleep(sleeper: Any) -> bool:
    """Whether the sleeper is busy with its ask: a second ask waits behind it."""
    probe = sleeper.ask("count", block=False, timeout=0.05)
    try:
        probe.get()
    except BadRpc:
        return True  # no answer within 50 ms: it is asleep
    return False


def _next(box: queue.Queue[Any], timeout: float = WAIT) -> Any:
    return box.get(timeout=timeout)


def test_nodes_lists_only_nodes_a_connection_has_authenticated_to(watching):
    assert watching.nodes() == []
    key = watching.async_call(HANGER, "os", "getpid")  # TCP accepted, the handshake hangs
    assert watching.call(SLAVE, "os", "getpid") > 0
    assert watching.nodes() == [SLAVE]  # the hanging node is not up
    started = time.monotonic()
    with pytest.raises(BadRpc) as info:
        watching.yield_(key)
    assert info.value.reason == "timeout"
    assert time.monotonic() - started < 2.0  # connect_timeout (0.5 s) bounds the handshake too
    assert watching.nodes() == [SLAVE]


def test_a_killed_node_is_reported_down_at_once(watching, victim, watcher, inbox):
    watching.call(VICTIM, "os", "getpid")
    mref = watching.monitor_node(VICTIM, watcher)
    sleeper = watching.spawn(VICTIM, COUNTER)
    pending = sleeper.ask(("sleep", 60), block=False, timeout=120)  # an ask it is answering
    wait_for(lambda: _asleep(sleeper))
    os.kill(victim.pid, signal.SIGKILL)
    started = time.monotonic()
    down = _next(inbox)
    assert time.monotonic() - started < 1.0
    assert down == NodeDown(mref, VICTIM, down.reason)
    assert down.reason == "closed"
    with pytest.raises(BadTcp):  # the pending ask ends with its node, at once
        pending.get(timeout=1)
    assert time.monotonic() - started < 2.0
    assert VICTIM not in watching.nodes()
    with pytest.raises(queue.Empty):  # once
        inbox.get(timeout=0.2)


def test_monitoring_a_node_that_cannot_be_reached_reports_it_down_at_once(watching, watcher, inbox):
    mref = watching.monitor_node(FAKE, watcher)
    down = _next(inbox)
    assert down == NodeDown(mref, FAKE, "econnrefused")


def test_monitoring_a_node_that_is_not_up_connects_to_it(watching, watcher, inbox):
    assert SLAVE not in watching.nodes()
    watching.monitor_node(SLAVE, watcher)
    wait_for(lambda: SLAVE in watching.nodes())
    with pytest.raises(queue.Empty):  # it is up: nothing to tell
        inbox.get(timeout=0.2)


def test_monitor_nodes_sees_nodes_come_and_go_and_come_back(watching, victim, watcher, inbox):
    mref = watching.monitor_nodes(watcher)
    watching.call(VICTIM, "os", "getpid")
    assert _next(inbox) == NodeUp(mref, VICTIM)
    watching.call((VICTIM, "another key"), "os", "getpid")  # the same node: no news
    os.kill(victim.pid, signal.SIGKILL)
    down = _next(inbox)
    assert (down.monitor_ref, down.node) == (mref, VICTIM)
    victim.start()  # the same ports
    watching.call(VICTIM, "os", "getpid")
    assert _next(inbox) == NodeUp(mref, VICTIM)
    watching.demonitor_node(mref)
    watching.call(SLAVE, "os", "getpid")
    with pytest.raises(queue.Empty):
        inbox.get(timeout=0.2)


def test_a_demonitored_or_dead_watcher_is_told_nothing(watching, victim, watcher, inbox):
    watching.call(VICTIM, "os", "getpid")
    mref = watching.monitor_node(VICTIM, watcher)
    watching.demonitor_node(mref)
    dead = Recorder.start()
    watching.monitor_node(VICTIM, dead)
    every = watching.monitor_nodes(dead)
    dead.stop()
    os.kill(victim.pid, signal.SIGKILL)
    wait_for(lambda: VICTIM not in watching.nodes())
    with pytest.raises(queue.Empty):
        inbox.get(timeout=0.2)
    assert "monitors=0" in repr(watching._monitors)  # the dead watcher was dropped
    watching.demonitor_node(every)  # harmless


def test_a_thousand_monitors_on_a_node_cost_one_connection(watching, watcher):
    for _ in range(1000):
        watching.monitor_node(SLAVE, watcher)
    wait_for(lambda: SLAVE in watching.nodes())
    assert watching.statistics().connections == 1


def test_bad_arguments_fail_fast(watching, watcher):
    with pytest.raises(TypeError):
        watching.monitor_node(SLAVE, "not an actor")
    with pytest.raises(TypeError):
        watching.monitor_nodes(None)
    with pytest.raises(ValueError):
        watching.monitor_node("no-at-sign", watcher)
    with pytest.raises(TypeError):
        watching.monitor_node((SLAVE, "key"), watcher)
    with pytest.raises(TypeError):
        watching.demonitor_node("mref")


QUICK_KEEPALIVE = {  # the keepalive bound: 1 + 1 x 1 = 2 s
    "socket_keepalive_idle": 1,
    "socket_keepalive_interval": 1,
    "socket_keepalive_count": 1,
}


@pytest.fixture
def quick(driver, slave, victim):
    """A watching node whose keepalive bound is 2 s."""
    peers = {SLAVE: driver.port(slave), VICTIM: driver.port(victim)}
    name = "quickwatch@127.0.0.1"
    settings = node_settings(name, driver, peers, tcp_server_port=False, **QUICK_KEEPALIVE)
    with Node.start(name, **settings) as node:
        yield node


def test_a_frozen_node_is_reported_down_within_the_keepalive_bound(quick, victim, watcher, inbox):
    quick.call(VICTIM, "os", "getpid")
    mref = quick.monitor_node(VICTIM, watcher)
    key = quick.async_call(VICTIM, "time", "sleep", (0.5,), timeout=60)
    asked = quick.spawn(VICTIM, COUNTER).ask(("sleep", 0.5), block=False, timeout=60)
    os.kill(victim.pid, signal.SIGSTOP)  # its kernel still answers TCP keepalive probes
    try:
        started = time.monotonic()
        down = _next(inbox, timeout=10)
        waited = time.monotonic() - started
        assert down == NodeDown(mref, VICTIM, "timeout")
        assert waited < 2 + 1 + 0.5  # the bound, plus the heartbeat's second, plus slack
        with pytest.raises(BadTcp):  # the call pending on it ends with it, not at 60 s
            quick.yield_(key)
        with pytest.raises(BadTcp):  # and so does the ask
            asked.get(timeout=1)
        assert VICTIM not in quick.nodes()
    finally:
        os.kill(victim.pid, signal.SIGCONT)


def test_a_quiet_node_that_answers_stays_up(quick):
    quick.call(SLAVE, "os", "getpid")
    connection_before = quick.statistics().connections
    time.sleep(4.5)  # more than twice the keepalive bound, with nothing to say
    assert quick.nodes() == [SLAVE]
    assert quick.statistics().connections == connection_before
    # a call that waits longer than the bound is not cut short either
    assert quick.call(SLAVE, "tests.remote.functions", "sleep_then", (3.0, "done")) == "done"

"""A supervisor whose children live on other nodes (``ChildSpec(id, start=factory)``, the factory
spawning them there): every strategy, restart type and intensity as for local children; a
restart may be placed on another node; terminating such a child stops the remote actor; the
supervisor's node going stops its remote children (they were spawned linked). Both drivers."""

from __future__ import annotations

import os
import queue
import signal
from collections.abc import Callable
from typing import Any

import pykka
import pytest

import supervision as sv
from genrpc_actors import BadRpc, Node, RemoteActorRef
from tests.actors import Recorder
from tests.node_fixtures import SLAVE, VICTIM, node_settings
from tests.waiting import WAIT, wait_for

ACTORS = "tests.remote.remote_actors"
WORKER = f"{ACTORS}:Worker"
COUNTER = f"{ACTORS}:Counter"


@pytest.fixture
def supervisors():
    """``start(children, **options)``: a supervisor, stopped after the test."""
    started: list[sv.Supervisor] = []

    def start(children: list[sv.ChildSpec], **options: Any) -> sv.Supervisor:
        sup = sv.start_supervisor(children, **options)
        started.append(sup)
        return sup

    yield start
    for sup in started:
        if sup.is_alive():
            sup.stop()


def _remote(node: Any, where: str, *args: Any) -> Callable[[], RemoteActorRef]:
    return lambda: node.spawn(where, WORKER, args)


def _replaced(sup: sv.Supervisor, child_id: str, old: Any) -> Any:
    """The child's new ref, once the supervisor has restarted it."""
    return wait_for(lambda: (ref := sup.child(child_id)) not in (None, old) and ref)


def test_a_crashed_remote_child_is_restarted(master, supervisors):
    sup = supervisors([sv.ChildSpec("w", start=_remote(master, SLAVE))])
    first = sup.child("w")
    assert isinstance(first, RemoteActorRef)
    assert first.ask("node") == SLAVE
    first.tell("crash")
    second = _replaced(sup, "w", first)
    assert second.ask("node") == SLAVE
    assert not first.is_alive()
    assert sup.statistics().restarts == 1
    assert [info.id for info in sup.which_children()] == ["w"]


@pytest.mark.parametrize("strategy", ["one_for_all", "rest_for_one"])
def test_strategies_reach_local_siblings(master, supervisors, strategy):
    sup = supervisors(
        [
            sv.ChildSpec("remote", start=_remote(master, SLAVE)),
            sv.ChildSpec("local", Recorder),
        ],
        strategy=strategy,
    )
    remote, local = sup.child("remote"), sup.child("local")
    remote.tell("crash")
    _replaced(sup, "remote", remote)
    new_local = _replaced(sup, "local", local)  # after it in start order: both strategies
    assert new_local.is_alive()


def test_a_transient_remote_child_that_stops_normally_stays_stopped(master, supervisors):
    spec = sv.ChildSpec("w", start=_remote(master, SLAVE), restart="transient")
    sup = supervisors([spec])
    child = sup.child("w")
    child.tell("stop")
    wait_for(lambda: sup.statistics().active == 0)
    assert sup.child("w") is None
    assert sup.statistics().restarts == 0
    assert not child.is_alive()


def test_too_many_remote_restarts_escalate(master, supervisors):
    sup = supervisors([sv.ChildSpec("w", start=_remote(master, SLAVE))], intensity=5, period=10)
    child = sup.child("w")
    crashes = 0
    while child is not None and crashes < 10:
        child.tell("crash")
        crashes += 1
        child = wait_for(lambda c=child: _next_child(sup, c))
        child = None if child == "gone" else child
    assert crashes == 6  # the sixth exit in the period escalated
    wait_for(lambda: not sup.is_alive())
    stats = sup.statistics()
    assert stats.escalated
    assert stats.restarts == 5


def _next_child(sup: sv.Supervisor, old: Any) -> Any:
    """The child that replaced ``old``, ``"gone"`` once the supervisor is, or None meanwhile."""
    try:
        ref = sup.child("w", timeout=WAIT)
    except pykka.ActorDeadError:
        return "gone"
    except sv.SupervisionError:  # shutting down
        return "gone"
    return ref if ref is not None and ref != old else None


def test_terminating_a_remote_child_stops_it_with_shutdown(master, supervisors):
    box: queue.Queue[Any] = queue.Queue()
    watcher = Recorder.start(box)
    try:
        sup = supervisors([sv.ChildSpec("w", start=_remote(master, SLAVE))])
        child = sup.child("w")
        sv.monitor(watcher, child)
        sup.terminate_child("w")
        down = box.get(timeout=WAIT)
        assert down.reason is sv.SHUTDOWN
        assert sup.child("w") is None
        sup.restart_child("w")
        again = sup.child("w")
        sv.monitor(watcher, again)
        sup.stop()  # the supervisor's own stop: its remote child too
        assert box.get(timeout=WAIT).reason is sv.SHUTDOWN
    finally:
        watcher.stop()


def test_a_factory_of_a_plain_actor_cannot_start(master):
    spec = sv.ChildSpec("plain", start=lambda: master.spawn(SLAVE, COUNTER))
    with pytest.raises(sv.StartError) as failed:
        sv.start_supervisor([spec])
    assert isinstance(failed.value.__cause__, TypeError)


def test_a_child_whose_node_is_killed_is_restarted_elsewhere(reaching, victim, supervisors):
    def place() -> RemoteActorRef:
        for where in (VICTIM, SLAVE):  # the victim while it lives, then the slave
            try:
                return reaching.spawn(where, WORKER)
            except BadRpc:
                continue
        raise RuntimeError("no node to place the child on")

    sup = supervisors([sv.ChildSpec("w", start=place)])
    first = sup.child("w")
    assert first.node == VICTIM
    os.kill(victim.pid, signal.SIGKILL)
    second = _replaced(sup, "w", first)
    assert second.node == SLAVE
    assert second.ask("node") == SLAVE


def test_the_supervisors_node_killed_stops_its_remote_children(make_node, driver, slave, master):
    host = make_node("supervisorhost@127.0.0.1", {SLAVE: driver.port(slave)})
    name = "supervised-from-afar"
    peers = {host.name: driver.port(host), SLAVE: driver.port(slave)}
    caller = "svcaller@127.0.0.1"
    with Node.start(caller, **node_settings(caller, driver, peers, tcp_server_port=False)) as node:
        assert node.call(host.name, ACTORS, "supervise_remote", (SLAVE, name)) is True
        child = node.actor(SLAVE, name)
        assert child.ask("node") == SLAVE
        os.kill(host.pid, signal.SIGKILL)
        wait_for(lambda: not child.is_alive())  # it was spawned linked to that node

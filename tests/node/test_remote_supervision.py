"""``supervision`` across nodes: monitors and links on another node's actors
(``RemoteActorRef`` implements ``supervision.ForeignRef``). A remote actor's death arrives with
its exit reason (its ``repr`` when it cannot be unpickled), its node's with
``("noconnection", node)``. Both drivers."""

from __future__ import annotations

import os
import queue
import signal
import time
from typing import Any

import pytest

import supervision as sv
from genrpc_actors import RemoteActorRef
from tests.actors import Recorder
from tests.node_fixtures import SLAVE, VICTIM
from tests.remote.remote_actors import WorkerCrashed
from tests.waiting import WAIT, wait_for

WORKER = "tests.remote.remote_actors:Worker"
FRAGILE = "tests.remote.remote_actors:Fragile"
COUNTER = "tests.remote.remote_actors:Counter"


@pytest.fixture
def spawned(master):
    """``spawn(node, cls, *args)``: a remote actor, stopped after the test if still alive."""
    refs: list[RemoteActorRef] = []

    def spawn(node: str, cls: str, *args: Any) -> RemoteActorRef:
        ref = master.spawn(node, cls, args)
        refs.append(ref)
        return ref

    yield spawn
    for ref in refs:
        if ref.is_alive():
            ref.sv_exit(sv.SHUTDOWN)


def _down(inbox: queue.Queue[Any], timeout: float = WAIT) -> sv.Down:
    message = inbox.get(timeout=timeout)
    assert isinstance(message, sv.Down), message
    return message


def test_a_remote_ref_is_a_foreign_ref(master):
    assert isinstance(master.actor(SLAVE, "anyone"), sv.ForeignRef)


def test_a_monitor_tells_how_a_remote_actor_died(master, spawned, watcher, inbox):
    crasher = spawned(SLAVE, WORKER)
    mref = sv.monitor(watcher, crasher)
    crasher.tell("crash")
    down = _down(inbox)
    assert (down.monitor_ref, down.ref) == (mref, crasher)
    assert isinstance(down.reason, WorkerCrashed)  # the exception itself
    assert str(down.reason) == "None crashed"

    stopper = spawned(SLAVE, WORKER)
    sv.monitor(watcher, stopper)
    stopper.tell("stop")
    assert _down(inbox).reason is sv.NORMAL  # the same object, not a copy

    fragile = spawned(SLAVE, FRAGILE)
    sv.monitor(watcher, fragile)
    fragile.tell("die")
    reason = _down(inbox).reason
    assert isinstance(reason, str)  # it could not travel: its repr did
    assert "Unpicklable" in reason


def test_a_monitor_on_a_dead_or_unknown_actor_is_down_at_once(master, spawned, watcher, inbox):
    gone = spawned(SLAVE, WORKER)
    gone.ask("stop")
    wait_for(lambda: not gone.is_alive())
    sv.monitor(watcher, gone)
    assert _down(inbox, timeout=1).reason == "noproc"
    sv.monitor(watcher, master.actor(SLAVE, "nobody-has-this-name"))
    assert _down(inbox, timeout=1).reason == "noproc"


def test_only_supervised_actors_can_be_watched(master, spawned, watcher):
    plain = spawned(SLAVE, COUNTER)
    with pytest.raises(TypeError, match="SupervisedActor"):
        sv.monitor(watcher, plain)


def test_a_demonitored_remote_actor_tells_nothing(master, spawned, watcher, inbox):
    worker = spawned(SLAVE, WORKER)
    mref = sv.monitor(watcher, worker)
    sv.demonitor(mref)
    other = spawned(SLAVE, WORKER)
    sv.monitor(watcher, other)  # a Down that comes after any the first monitor would send
    worker.tell("crash")
    wait_for(lambda: not worker.is_alive())
    other.tell("crash")
    assert _down(inbox).ref == other


def test_a_killed_node_is_a_noconnection_down(reaching, victim, watcher, inbox):
    ref = reaching.spawn(VICTIM, WORKER)
    mref = sv.monitor(watcher, ref)
    os.kill(victim.pid, signal.SIGKILL)
    started = time.monotonic()
    down = _down(inbox)
    assert down == sv.Down(mref, ref, ("noconnection", VICTIM))
    assert time.monotonic() - started < 1.0


def test_a_link_works_both_ways(master, spawned):
    local = Recorder.start()
    remote = spawned(SLAVE, WORKER)
    sv.link(local, remote)
    remote.tell("crash")  # the remote actor dies abnormally: the local one with it
    wait_for(lambda: not local.is_alive())

    inbox: queue.Queue[Any] = queue.Queue()
    trapper = Recorder.start(inbox, trap=True)
    remote = spawned(SLAVE, WORKER)
    sv.link(trapper, remote)
    sv.link(trapper, remote)  # one link, one Exit
    remote.tell("crash")
    exit_message = inbox.get(timeout=WAIT)
    assert exit_message.ref == remote
    assert isinstance(exit_message.reason, WorkerCrashed)
    with pytest.raises(queue.Empty):
        inbox.get(timeout=0.3)
    trapper.stop()

    doomed = Recorder.start()
    survivor = spawned(SLAVE, WORKER, True)  # it traps exits
    sv.link(doomed, survivor)
    sv.exit(doomed, WorkerCrashed("local"))  # the local one dies: the remote one is told
    exits = wait_for(lambda: survivor.ask("exits"))
    ((sender, reason),) = exits
    assert isinstance(sender, RemoteActorRef)  # the dead local actor, as a ref there
    assert isinstance(reason, WorkerCrashed)
    assert str(reason) == "local"


def test_a_normal_exit_or_an_unlink_kills_nobody(master, spawned):
    local = Recorder.start()
    remote = spawned(SLAVE, WORKER)
    sv.link(local, remote)
    remote.tell("stop")
    wait_for(lambda: not remote.is_alive())
    assert local.is_alive()

    remote = spawned(SLAVE, WORKER)
    sv.link(local, remote)
    sv.unlink(local, remote)
    remote.tell("crash")
    wait_for(lambda: not remote.is_alive())
    other = spawned(SLAVE, WORKER)
    sv.link(other, local)  # foreign first: the same link
    local.stop()  # normally
    assert other.ask("node") == SLAVE  # alive


def test_a_local_crash_kills_the_linked_remote_actor(master, spawned, watcher, inbox):
    local = Recorder.start()
    remote = spawned(SLAVE, WORKER)
    sv.link(local, remote)
    mref = sv.monitor(watcher, remote)
    sv.exit(local, WorkerCrashed("from here"))
    down = _down(inbox)
    assert down.monitor_ref == mref
    assert isinstance(down.reason, WorkerCrashed)
    assert str(down.reason) == "from here"


def test_exit_stops_a_remote_actor_with_the_reason(master, spawned, watcher, inbox):
    remote = spawned(SLAVE, WORKER)
    sv.monitor(watcher, remote)
    sv.exit(remote, sv.SHUTDOWN)
    assert _down(inbox).reason is sv.SHUTDOWN


def test_two_remote_actors_on_two_other_nodes_link(reaching, watcher, inbox):
    first = reaching.spawn(VICTIM, WORKER)
    second = reaching.spawn(SLAVE, WORKER)
    try:
        sv.link(first, second)  # made where ``first`` lives, which reaches the slave itself
        mref = sv.monitor(watcher, second)
        first.tell("crash")
        down = _down(inbox)
        assert down.monitor_ref == mref
        assert isinstance(down.reason, WorkerCrashed)
    finally:
        if second.is_alive():
            second.sv_exit(sv.SHUTDOWN)

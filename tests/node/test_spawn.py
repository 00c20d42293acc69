"""``spawn``: a Pykka actor started on another node, linked to the node that spawned it (it
stops when that node is killed or freezes). Both drivers."""

from __future__ import annotations

import os
import signal
import time
from typing import Any

import pykka
import pytest

from genrpc_actors import BadRpc, Node, RemoteActorRef, RemoteError
from tests.node_fixtures import MASTER, SLAVE, node_settings
from tests.waiting import wait_for

ACTORS = "tests.remote.remote_actors"
COUNTER = f"{ACTORS}:Counter"


def test_spawn_starts_an_actor_there(master, request):
    ref = master.spawn(SLAVE, COUNTER)
    try:
        assert isinstance(ref, RemoteActorRef)
        assert ref.node == SLAVE
        assert ref.ask("one") == ("got", "one", 1)
        assert ref.proxy().add(5).get(timeout=5) == 6
    finally:
        ref.proxy().stop()
    name = f"spawned-{request.node.name}"
    named = master.spawn(SLAVE, COUNTER, name=name)
    try:
        assert named == master.actor(SLAVE, name)
        with pytest.raises(RemoteError):  # the name is taken by a live actor
            master.spawn(SLAVE, COUNTER, name=name)
    finally:
        master.call(SLAVE, ACTORS, "stop_actor", (name,))
    here = master.spawn(MASTER, COUNTER)  # this node too
    assert here.ask("x") == ("got", "x", 1)
    here.proxy().stop()


def test_what_cannot_be_spawned_fails_with_the_reason(master):
    with pytest.raises(RemoteError) as missing:
        master.spawn(SLAVE, "tests.remote.no_such_module:Thing")
    assert missing.value.type_name == "ModuleNotFoundError"
    with pytest.raises(RemoteError) as not_actor:
        master.spawn(SLAVE, "builtins:dict")
    assert not_actor.value.type_name == "TypeError"
    with pytest.raises(ValueError):
        master.spawn(SLAVE, "no colon here")
    with pytest.raises(TypeError):
        master.spawn(SLAVE, 42)
    with pytest.raises(BadRpc) as refused:
        master.spawn("fake@127.0.0.1", COUNTER)
    assert refused.value.reason == "econnrefused"


def test_spawned_actors_stop_when_their_spawner_is_killed(make_node, driver, slave):
    spawner = make_node("spawner@127.0.0.1", {SLAVE: driver.port(slave)})
    name = "spawnwatcher@127.0.0.1"
    peers = {spawner.name: driver.port(spawner), SLAVE: driver.port(slave)}
    with Node.start(name, **node_settings(name, driver, peers, tcp_server_port=False)) as node:
        actor_name = "linked-to-the-spawner"
        assert node.call(spawner.name, ACTORS, "spawn_on", (SLAVE, COUNTER, actor_name)) is True
        linked = node.actor(SLAVE, actor_name)
        assert linked.is_alive()
        os.kill(spawner.pid, signal.SIGKILL)
        wait_for(lambda: not linked.is_alive())  # the slave saw the spawner's connection end


def _class_by_value() -> type:
    """A Pykka actor class that only this process defines, as a script's class is: it can
    travel by value only."""

    class Doubler(pykka.ThreadingActor):
        def on_receive(self, message: Any) -> Any:
            return message * 2

    Doubler.__module__ = "__main__"
    Doubler.__qualname__ = "Doubler_of_test_spawn"
    return Doubler


def test_a_class_object_spawns_by_name_or_by_value_with_module_control_off(master):
    from tests.remote.remote_actors import Counter

    by_name = master.spawn(SLAVE, Counter)  # an importable class travels by name
    try:
        assert by_name.ask("n") == ("got", "n", 1)
    finally:
        by_name.proxy().stop()
    by_value = master.spawn(SLAVE, _class_by_value())  # module control is off on the slave
    try:
        assert by_value.ask(21) == 42
    finally:
        by_value.proxy().stop()


def test_a_class_by_value_is_refused_under_module_control(make_node, driver):
    guarded = make_node(
        "guarded@127.0.0.1", rpc_module_control="whitelist", rpc_module_list=["pykka"]
    )
    name = "classcaller@127.0.0.1"
    peers = {guarded.name: driver.port(guarded)}
    with Node.start(name, **node_settings(name, driver, peers, tcp_server_port=False)) as node:
        with pytest.raises(BadRpc) as refused:
            node.spawn(guarded.name, _class_by_value())
        assert refused.value.reason == "unauthorized"


def test_spawned_actors_stop_when_their_spawner_freezes(make_node, driver, slave):
    # The spawner's bound (idle 1 + interval 1 x count 1 = 2 s) travels in its PINGs: the slave
    # ends the spawner's connection, and its actors, once it has said nothing for 3 s.
    spawner = make_node(
        "frozenspawner@127.0.0.1",
        {SLAVE: driver.port(slave)},
        socket_keepalive_idle=1,
        socket_keepalive_interval=1,
        socket_keepalive_count=1,
    )
    name = "freezewatcher@127.0.0.1"
    peers = {spawner.name: driver.port(spawner), SLAVE: driver.port(slave)}
    with Node.start(name, **node_settings(name, driver, peers, tcp_server_port=False)) as node:
        actor_name = "linked-to-a-frozen-spawner"
        assert node.call(spawner.name, ACTORS, "spawn_on", (SLAVE, COUNTER, actor_name)) is True
        linked = node.actor(SLAVE, actor_name)
        assert linked.is_alive()
        os.kill(spawner.pid, signal.SIGSTOP)
        try:
            frozen = time.monotonic()
            wait_for(lambda: not linked.is_alive(), timeout=15)
            # the bound + 1 s, and a heartbeat's look (each second) on either side
            assert time.monotonic() - frozen < 3 + 2 + 1
        finally:
            os.kill(spawner.pid, signal.SIGCONT)

"""``spawn``: a Pykka actor started on another node, linked to the node that spawned it (it
stops when that node is killed). Both drivers."""

from __future__ import annotations

import os
import signal

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

"""A local ``pykka.ActorRef`` that crosses to another node arrives as a ``RemoteActorRef`` to the
same actor: a reply-to address, across three nodes; a ref to a dead actor gives ``noproc``; the
export table holds the live actors only. Both drivers."""

from __future__ import annotations

import pytest

from genrpc_actors import BadRpc, Node, RemoteActorRef, _protocol
from tests.actors import Recorder
from tests.node_fixtures import MASTER, SLAVE, node_settings
from tests.waiting import wait_for

ACTORS = "tests.remote.remote_actors"


def test_a_local_ref_arrives_as_a_remote_ref_that_answers(master, recorder):
    ref, box = recorder
    assert master.call(SLAVE, ACTORS, "ask_ref", (ref, "reply to me")) == "reply to me"
    assert box.get(timeout=5) == "reply to me"
    back = master.call(SLAVE, "tests.remote.functions", "echo", (ref,))
    assert isinstance(back, RemoteActorRef)
    assert back.node == MASTER
    assert back.ask("from home") == "from home"  # the same actor


def test_a_reply_to_address_crosses_three_nodes(master, make_node, driver, master_port, recorder):
    ref, box = recorder
    third = make_node("third@127.0.0.1", {MASTER: master_port})
    second = make_node(
        "second@127.0.0.1", {MASTER: master_port, "third@127.0.0.1": driver.port(third)}
    )
    # a node of this process that reaches only the second; the recorder is exported by the
    # process's default node (the master), which the third one reaches
    name = "threehops@127.0.0.1"
    settings = node_settings(
        name, driver, {"second@127.0.0.1": driver.port(second)}, tcp_server_port=False
    )
    with Node.start(name, **settings) as first:
        text = first.call("second@127.0.0.1", ACTORS, "forward", ("third@127.0.0.1", ref, "hop"))
    assert text.startswith("<RemoteActorRef '#")
    assert box.get(timeout=5) == "hop"  # told by the third node, straight to this one


def test_a_ref_to_a_dead_actor_gives_noproc(master, recorder):
    ref, _ = recorder
    remote = master.call(SLAVE, "tests.remote.functions", "echo", (ref,))
    ref.stop()
    with pytest.raises(BadRpc) as info:
        master.call(SLAVE, ACTORS, "ask_ref", (remote, "anyone?"))
    assert "noproc" in str(info.value)  # the slave's ask failed: no other actor answered
    assert not remote.is_alive()


def test_the_export_table_holds_live_actors_only(master):
    exports = master._registry.exports
    before = len(exports)
    for _ in range(10_000):
        ref = Recorder.start()
        _protocol.encode_body(ref)  # exported, as any send of it would
        ref.stop()
    wait_for(lambda: len(exports) < before + 600)
    assert len(exports) < before + 600  # swept as it grew: not 10,000

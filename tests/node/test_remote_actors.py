"""Actors on other nodes: ``actor(node, name)`` gives a ``RemoteActorRef`` that tells, asks
(in the actor's own thread), proxies and probes as Pykka's refs do. Both drivers."""

from __future__ import annotations

import asyncio
import pickle

import pytest

from genrpc_actors import BadRpc, RemoteActorRef, RemoteError
from tests.node_fixtures import FAKE, MASTER, SLAVE
from tests.waiting import wait_for

ACTORS = "tests.remote.remote_actors"


@pytest.fixture
def counter(master, request):
    name = f"counter-{request.node.name}"
    assert master.call(SLAVE, ACTORS, "start_counter", (name,))
    yield master.actor(SLAVE, name)
    master.call(SLAVE, ACTORS, "stop_actor", (name,))


def test_ask_tell_and_is_alive(master, counter):
    assert counter.ask("hello") == ("got", "hello", 1)
    counter.tell("quiet")
    wait_for(lambda: counter.ask("again")[2] == 3)  # the told one was counted, in order
    assert counter.is_alive()
    assert not master.actor(SLAVE, "nobody-has-this-name").is_alive()
    assert not master.actor(FAKE, "anything").is_alive()  # a node that cannot be reached


def test_an_ask_runs_in_the_actors_own_thread(counter):
    thread = counter.ask("thread")
    assert not thread.startswith("genrpc-")  # not a worker, not a reader: the actor's own


def test_outcomes_are_those_of_call(master, counter):
    with pytest.raises(RemoteError) as raised:
        counter.ask("boom")
    assert isinstance(raised.value.exception, ValueError)
    with pytest.raises(BadRpc) as missing:
        master.actor(SLAVE, "nobody-has-this-name").ask("hi")
    assert missing.value.reason == "noproc"
    with pytest.raises(BadRpc) as slow:
        counter.ask(("sleep", 2), timeout=0.2)
    assert slow.value.reason == "timeout"
    with pytest.raises(BadRpc) as refused:
        master.actor(FAKE, "anything").ask("hi")
    assert refused.value.reason == "econnrefused"
    master.actor(SLAVE, "nobody-has-this-name").tell("dropped")  # nothing breaks


def test_ask_without_blocking_gives_a_key(master, counter):
    key = counter.ask("later", block=False)
    assert key.get(timeout=5) == ("got", "later", 1)
    assert master.yield_(key) == ("got", "later", 1)

    async def main():
        return await counter.ask("awaited", block=False)

    assert asyncio.run(main()) == ("got", "awaited", 2)


def test_a_proxy_calls_methods_and_reads_attributes(counter):
    proxy = counter.proxy()
    assert proxy.add(10).get(timeout=5) == 10
    assert proxy.count.get() == 10
    with pytest.raises(RemoteError):
        proxy.no_such_method().get(timeout=5)

    async def main():
        return await proxy.add(5), await proxy.count

    assert asyncio.run(main()) == (15, 15)


def test_refs_are_equal_by_node_and_name_and_travel(master, counter):
    again = master.actor(SLAVE, counter.name)
    assert again == counter
    assert hash(again) == hash(counter)
    assert master.actor(MASTER, counter.name) != counter
    assert len({counter, again}) == 1
    copied = pickle.loads(pickle.dumps(counter))
    assert copied == counter
    # sent to the slave and back, it is still a ref to the same actor
    assert master.call(SLAVE, "builtins", "repr", (counter,)) == repr(counter)
    assert master.call(SLAVE, "tests.remote.functions", "echo", (counter,)) == counter


def test_bad_arguments_fail_fast(master):
    with pytest.raises(ValueError):
        master.actor("no-at-sign", "x")
    with pytest.raises(TypeError):
        master.actor(SLAVE, "")
    with pytest.raises(TypeError):
        master.actor((SLAVE, "key"), "x")
    with pytest.raises(TypeError):
        RemoteActorRef(SLAVE, 5)

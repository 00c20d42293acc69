"""Discovery: the static map, external sources, and an etcd source against a real etcd."""

from __future__ import annotations

import itertools
import threading
import time

import pytest

import genrpc_actors as gen_rpc
from genrpc_actors import BadRpc
from genrpc_actors.discovery import EtcdSource
from genrpc_actors.testing import LocalNode, free_port
from tests.node_fixtures import COOKIE
from tests.waiting import wait_for

_prefixes = itertools.count()


@pytest.fixture
def source(etcd_url):
    """A source with a prefix of its own, so tests never see each other's nodes."""
    return EtcdSource(etcd_url, prefix=f"/genrpc-test/{next(_prefixes)}/", ttl=2)


def test_publish_resolve_withdraw(source):
    source.publish("x@127.0.0.1", {"tcp": 4001, "ssl": 4002})
    assert source.get_config("x@127.0.0.1") == ("tcp", 4001)
    assert EtcdSource(source.url, prefix=source.prefix, prefer="ssl").get_config("x@127.0.0.1") == (
        "ssl",
        4002,
    )
    source.withdraw("x@127.0.0.1")
    with pytest.raises(LookupError):
        source.get_config("x@127.0.0.1")


def test_an_entry_outlives_its_ttl_while_kept_alive(source):
    source.publish("kept@127.0.0.1", {"tcp": 4100})
    pace = threading.Event()  # never set: paces the observation, waits for nothing
    try:
        # for two TTLs, only the keep-alive thread keeps the entry
        deadline = time.monotonic() + 2 * source.ttl
        while time.monotonic() < deadline:
            assert source.get_config("kept@127.0.0.1") == ("tcp", 4100)
            pace.wait(0.25)
    finally:
        source.withdraw("kept@127.0.0.1")


def test_nodes_find_each_other_through_etcd(source):
    with LocalNode("etcd-b@127.0.0.1", cookie=COOKIE, client_config_per_node=source) as b:
        assert source.get_config("etcd-b@127.0.0.1") == ("tcp", b.port)
        node = gen_rpc.start(
            "etcd-a@127.0.0.1", cookie=COOKIE, tcp_server_port=0, client_config_per_node=source
        )
        try:
            assert source.get_config("etcd-a@127.0.0.1") == ("tcp", node.port)
            assert node.call("etcd-b@127.0.0.1", "genrpc_actors", "node") == "etcd-b@127.0.0.1"
            # and b reaches a the same way
            assert (
                node.call(
                    "etcd-b@127.0.0.1",
                    "genrpc_actors",
                    "call",
                    ("etcd-a@127.0.0.1", "genrpc_actors", "node"),
                )
                == "etcd-a@127.0.0.1"
            )
        finally:
            node.stop()
        with pytest.raises(LookupError):
            source.get_config("etcd-a@127.0.0.1")  # a clean stop withdraws at once


def test_a_killed_node_disappears_when_its_lease_expires(source):
    node = gen_rpc.start(
        "etcd-c@127.0.0.1", cookie=COOKIE, tcp_server_port=False, client_config_per_node=source
    )
    try:
        victim = LocalNode("etcd-d@127.0.0.1", cookie=COOKIE, client_config_per_node=source).start()
        assert node.call("etcd-d@127.0.0.1", "operator", "add", (1, 1)) == 2
        victim.kill()  # SIGKILL: no withdraw, only the lease's expiry
        wait_for(lambda: _gone(source, "etcd-d@127.0.0.1"), timeout=4 * source.ttl)
        with pytest.raises(BadRpc) as caught:
            node.call("etcd-d@127.0.0.1", "operator", "add", (1, 1))
        assert caught.value.reason[0] == "external_source_error"
    finally:
        node.stop()


def _gone(source: EtcdSource, name: str) -> bool:
    try:
        source.get_config(name)
    except LookupError:
        return True
    return False


def test_an_unreachable_etcd_is_an_external_source_error():
    dead = EtcdSource(f"http://127.0.0.1:{free_port()}", timeout=0.5)
    node = gen_rpc.start(
        "etcd-e@127.0.0.1", cookie=COOKIE, tcp_server_port=False, client_config_per_node=dead
    )
    try:
        with pytest.raises(BadRpc) as caught:
            node.call("anyone@127.0.0.1", "os", "getpid")
        assert caught.value.reason[0] == "external_source_error"
        assert node.cast("anyone@127.0.0.1", "os", "getpid") is True
    finally:
        node.stop()


def test_a_node_that_cannot_publish_does_not_start_and_says_where_etcd_is():
    dead = EtcdSource(f"http://127.0.0.1:{free_port()}", timeout=0.5)
    with pytest.raises(BadRpc) as caught:
        gen_rpc.start(
            "etcd-f@127.0.0.1", cookie=COOKIE, tcp_server_port=0, client_config_per_node=dead
        )
    assert caught.value.reason == (
        "external_source_error",
        f"cannot publish etcd-f@127.0.0.1: cannot reach etcd at {dead.url}: connection refused",
    )
    assert isinstance(caught.value.__cause__, OSError)
    with pytest.raises(gen_rpc.NoNodeError):
        gen_rpc.node()
    assert not [t for t in threading.enumerate() if t.name.startswith("genrpc-")]


def test_an_unreachable_etcd_names_its_url_in_lookups():
    dead = EtcdSource(f"http://127.0.0.1:{free_port()}", timeout=0.5)
    with pytest.raises(OSError, match=f"^cannot reach etcd at {dead.url}: connection refused$"):
        dead.get_config("anyone@127.0.0.1")


@pytest.mark.parametrize(
    ("kwargs", "error"),
    [
        ({"url": "127.0.0.1:2379"}, ValueError),
        ({"ttl": 1}, ValueError),
        ({"prefer": "udp"}, ValueError),
    ],
)
def test_bad_source_arguments(kwargs, error):
    with pytest.raises(error):
        EtcdSource(**{"url": "http://127.0.0.1:1", **kwargs})

"""Prometheus metrics: real nodes, real traffic, scraped over HTTP and parsed with
prometheus_client's own parser; each figure is the one the traffic implies."""

from __future__ import annotations

import asyncio
import re
import socket
import sys
import threading
import urllib.request
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import pytest
from prometheus_client.parser import text_string_to_metric_families

import supervision as sv
from genrpc_actors import BadRpc, BadTcp, ConfigError, Node, RemoteError, _observability
from genrpc_actors._node import _call_times
from genrpc_actors._node._call_times import outcome_of
from genrpc_actors.testing import LocalNode
from tests.node_fixtures import COOKIE
from tests.waiting import WAIT, wait_for

SERVER = "served@127.0.0.1"
CLIENT = "caller@127.0.0.1"
PEER = "peer@127.0.0.1"
FUNCTIONS = "tests.remote.process_functions"
PAYLOAD = 100_000  # bytes, each way
LOCAL = {"cookie": COOKIE, "tcp_server_port": 0, "listen_address": "127.0.0.1"}

Samples = dict[tuple[str, frozenset[tuple[str, str]]], float]


def scrape(port: int) -> Samples:
    """Every sample of ``/metrics`` on ``port``, by name and labels."""
    with urllib.request.urlopen(f"http://127.0.0.1:{port}/metrics", timeout=WAIT) as response:
        assert response.status == 200
        text = response.read().decode()
    return {
        (sample.name, frozenset(sample.labels.items())): sample.value
        for family in text_string_to_metric_families(text)
        for sample in family.samples
    }


def value(samples: Samples, name: str, **labels: str) -> float | None:
    return samples.get((name, frozenset(labels.items())))


def scraped_until(
    port: int, condition: Callable[[Samples], bool], timeout: float = WAIT
) -> Samples:
    """Scrape until ``condition`` holds of what is scraped (bounded)."""
    found: list[Samples] = []

    def holds() -> bool:
        found[:] = [scrape(port)]
        return condition(found[0])

    wait_for(holds, timeout, interval=0.02)
    return found[0]


@pytest.fixture
def nodes() -> Iterator[Callable[..., Node]]:
    """``start(name, **config)``: an in-process node on the loopback, stopped after the test."""
    started: list[Node] = []

    def start(name: str, **config: Any) -> Node:
        node = Node.start(name, **{**LOCAL, **config})
        started.append(node)
        return node

    yield start
    for node in reversed(started):
        node.stop()


@pytest.fixture
def server(nodes: Callable[..., Node]) -> Node:
    return nodes(SERVER, metrics_port=0, worker_processes=1, process_modules=[FUNCTIONS])


@pytest.fixture
def client(nodes: Callable[..., Node], server: Node) -> Node:
    return nodes(CLIENT, metrics_port=0, client_config_per_node={SERVER: server.port})


def test_calls_are_counted_by_node_and_outcome_on_both_sides(server, client):
    assert client.call(SERVER, "builtins", "len", (b"x" * PAYLOAD,)) == PAYLOAD
    assert len(client.call(SERVER, "builtins", "bytes", (PAYLOAD,))) == PAYLOAD
    assert client.call(SERVER, "operator", "add", (2, 3)) == 5
    assert asyncio.run(client.acall(SERVER, "operator", "mul", (2, 3))) == 6
    with pytest.raises(RemoteError):
        client.call(SERVER, "operator", "truediv", (1, 0))
    with pytest.raises(BadRpc) as timed_out:
        client.call(SERVER, "time", "sleep", (0.3,), timeout=0.05)
    assert timed_out.value.reason == "timeout"
    with pytest.raises(BadRpc) as killed:
        client.call(SERVER, FUNCTIONS, "exit_with", (3,))
    assert killed.value.reason == ("killed", "exit 3")
    assert client.yield_(client.async_call(SERVER, "operator", "sub", (3, 1))) == 2
    with pytest.raises(RemoteError):
        client.yield_(client.async_call(SERVER, "operator", "truediv", (1, 0)))
    client.cast(SERVER, "operator", "add", (1, 1))
    client.cast(SERVER, "operator", "add", (1, 2))

    # the server: 9 calls answered (8 replies sent: the timed-out one's caller had cancelled),
    # 3 of them errors, and the sleep served once it ends; 9 calls, a cancel, 2 casts read
    served = scraped_until(
        server.metrics_port,
        lambda s: (
            value(s, "genrpc_calls_served_total", node=CLIENT, outcome="ok") == 6
            and value(
                s, "genrpc_frames_total", node=CLIENT, connection="incoming", direction="received"
            )
            == 12
        ),
    )
    assert value(served, "genrpc_calls_served_total", node=CLIENT, outcome="error") == 3
    frames = {
        direction: value(
            served, "genrpc_frames_total", node=CLIENT, connection="incoming", direction=direction
        )
        for direction in ("sent", "received")
    }
    assert frames == {"sent": 8, "received": 12}
    incoming = {
        direction: value(
            served, "genrpc_bytes_total", node=CLIENT, connection="incoming", direction=direction
        )
        for direction in ("sent", "received")
    }
    assert incoming["sent"] >= PAYLOAD
    assert incoming["received"] >= PAYLOAD
    assert value(served, "genrpc_process_worker_kills_total", reason="exit 3") == 1
    assert value(served, "genrpc_connections", node=CLIENT, connection="incoming") == 1
    assert value(served, "genrpc_workers", kind="process") == 1
    assert not [key for key in served if key[0] == "genrpc_calls_total"]  # it made none

    # the caller: each call by outcome (an async call's once its reply is in), and as many
    # latencies
    made = scraped_until(
        client.metrics_port,
        lambda s: value(s, "genrpc_call_duration_seconds_count", node=SERVER) == 9,
    )
    outcomes = {
        dict(labels)["outcome"]: count
        for (name, labels), count in made.items()
        if name == "genrpc_calls_total"
    }
    assert outcomes == {"ok": 5, "badrpc:EXIT": 2, "timeout": 1, "badrpc:killed": 1}
    assert value(made, "genrpc_call_duration_seconds_bucket", node=SERVER, le="+Inf") == 9
    buckets = sorted(
        (float(dict(labels)["le"]), count)
        for (name, labels), count in made.items()
        if name == "genrpc_call_duration_seconds_bucket"
    )
    counts = [count for _, count in buckets]
    assert len(counts) == 17
    assert counts == sorted(counts)  # cumulative
    assert value(made, "genrpc_call_duration_seconds_bucket", node=SERVER, le="0.05") < 9
    assert value(made, "genrpc_call_duration_seconds_bucket", node=SERVER, le="10.0") == 9
    assert value(made, "genrpc_call_duration_seconds_sum", node=SERVER) >= 0.05  # the timeout
    sent = value(made, "genrpc_frames_total", node=SERVER, connection="outgoing", direction="sent")
    assert sent == 12  # 9 calls, the cancel, 2 casts
    received = value(
        made, "genrpc_frames_total", node=SERVER, connection="outgoing", direction="received"
    )
    assert received == 8
    for direction in ("sent", "received"):
        assert (
            value(
                made, "genrpc_bytes_total", node=SERVER, connection="outgoing", direction=direction
            )
            >= PAYLOAD
        )
    assert value(made, "genrpc_connections", node=SERVER, connection="outgoing") == 1
    assert value(made, "genrpc_node_events_total", node=SERVER, event="up") == 1
    assert value(made, "genrpc_workers", kind="process") is None  # it keeps none
    assert not [key for key in made if key[0] == "genrpc_calls_served_total"]


def test_a_peer_killed_is_a_node_down_event_and_its_traffic_stays_counted(
    nodes, local_node_factory
):
    peer: LocalNode = local_node_factory(PEER, **LOCAL)
    caller = nodes(CLIENT, metrics_port=0, client_config_per_node={PEER: peer.port})
    assert caller.call(PEER, "operator", "add", (1, 2)) == 3
    before = scrape(caller.metrics_port)
    assert value(before, "genrpc_node_events_total", node=PEER, event="up") == 1
    assert value(before, "genrpc_connections", node=PEER, connection="outgoing") == 1
    peer.kill()
    after = scraped_until(
        caller.metrics_port,
        lambda s: value(s, "genrpc_node_events_total", node=PEER, event="down") == 1,
    )
    assert value(after, "genrpc_connections", node=PEER, connection="outgoing") is None
    # the connection has ended: what it carried is still counted, never less
    for direction in ("sent", "received"):
        labels = {"node": PEER, "connection": "outgoing", "direction": direction}
        assert value(after, "genrpc_frames_total", **labels) == 1
        assert value(after, "genrpc_bytes_total", **labels) >= value(
            before, "genrpc_bytes_total", **labels
        )
    with pytest.raises((BadRpc, BadTcp)):
        caller.call(PEER, "operator", "add", (1, 2), timeout=1.0)
    failed = scrape(caller.metrics_port)
    assert value(failed, "genrpc_calls_total", node=PEER, outcome="badrpc:econnrefused") == 1


def test_a_supervisor_restart_is_counted(nodes):
    node = nodes(SERVER, metrics_port=0)
    assert (
        value(scrape(node.metrics_port), "genrpc_supervisor_restarts_total", supervisor="node") == 0
    )
    dispatcher = node.tree.child("dispatcher")
    sv.exit(dispatcher, RuntimeError("crashed on purpose"))
    wait_for(lambda: node.tree.child("dispatcher") not in (None, dispatcher))
    samples = scrape(node.metrics_port)
    assert value(samples, "genrpc_supervisor_restarts_total", supervisor="node") == 1
    assert value(samples, "genrpc_supervisor_restarts_total", supervisor="clients") == 0


def test_the_port_is_told_and_closed_when_the_node_stops(nodes):
    node = nodes(SERVER, metrics_port=0)
    port = node.metrics_port
    assert isinstance(port, int)
    assert port > 0
    assert node.describe()["metrics_port"] == port
    assert scrape(port)
    node.stop()
    assert node.metrics_port is None
    with pytest.raises(ConnectionRefusedError):
        socket.create_connection(("127.0.0.1", port), timeout=WAIT).close()


def test_without_metrics_port_nothing_is_served(nodes):
    node = nodes(SERVER)
    assert node.metrics_port is None
    assert node.describe()["metrics_port"] is None
    assert node._calls is None  # no call is timed
    assert not [t for t in threading.enumerate() if t.name.startswith("genrpc-metrics-")]


def test_a_port_in_use_is_a_config_error_naming_the_address(nodes):
    with socket.create_server(("127.0.0.1", 0)) as taken:
        port = taken.getsockname()[1]
        with pytest.raises(ConfigError) as info:
            nodes(SERVER, metrics_port=port)
    assert info.value.key == "metrics_port"
    assert f"127.0.0.1:{port}" in str(info.value)
    again = nodes(SERVER, metrics_port=0)  # the failed node let its name and ports go
    assert again.running


def test_without_prometheus_client_metrics_port_is_a_config_error(nodes, monkeypatch):
    for name in list(sys.modules):
        if name.startswith(("prometheus_client", "genrpc_actors._observability._")):
            monkeypatch.delitem(sys.modules, name)
    for module in ("_serving", "_collector"):  # imported already: as if never
        monkeypatch.delattr(_observability, module, raising=False)
    monkeypatch.setitem(sys.modules, "prometheus_client", None)
    with pytest.raises(ConfigError, match=r"genrpc-actors\[metrics\]"):
        nodes(SERVER, metrics_port=0)
    assert nodes(CLIENT).running  # without metrics_port it is not needed


@pytest.mark.parametrize(
    ("error", "outcome"),
    [
        (None, "ok"),
        (BadRpc("timeout"), "timeout"),
        (BadTcp("closed"), "badtcp"),
        (BadTcp("send_timeout"), "badtcp"),
        (BadRpc(("killed", "exit 3")), "badrpc:killed"),
        (BadRpc("econnrefused"), "badrpc:econnrefused"),
        (BadRpc(("some", "reason", "never", "seen")), "badrpc:other"),
        (RemoteError(ZeroDivisionError(), "", "ZeroDivisionError", "x"), "badrpc:EXIT"),
    ],
)
def test_outcomes_are_a_bounded_set_of_words(error, outcome):
    assert outcome_of(error) == outcome


def test_the_buckets_in_nanoseconds_are_those_in_seconds():
    bounds = _call_times._BOUNDS_NS
    assert bounds == tuple(round(b * 1e9) for b in _call_times.LATENCY_BUCKETS)
    assert len(bounds) == _call_times._LAST
    times = _call_times.CallTimes()
    for nanoseconds in (0, 100_000, 100_001, 10_000_000_000, 10_000_000_001):
        times.observe(None, nanoseconds)
    counts, seconds, outcomes = times.snapshot()
    assert counts[0] == 2  # a bound is in its own bucket (Prometheus' le)
    assert counts[1] == 1
    assert counts[-2] == 1
    assert counts[-1] == 1  # past every bound
    assert seconds == pytest.approx(20.000200001)
    assert outcomes == {"ok": 5}


def test_the_operations_guide_names_every_family_a_node_serves_and_no_other(server, client):
    """The guide's table of metrics is the list a user reads: each name in it is served (with
    a ``_total`` counter suffix as the guide writes it), and nothing served is missing from it."""
    guide = Path(__file__).resolve().parents[2] / "docs" / "guides" / "operations.md"
    table = guide.read_text().split("| metric |", 1)[1].split("\n\n", 1)[0]
    documented = set(re.findall(r"`(genrpc_[a-z_]+)`", table))
    assert client.call(SERVER, "operator", "add", (2, 3)) == 5
    url = f"http://127.0.0.1:{client.metrics_port}/metrics"
    with urllib.request.urlopen(url, timeout=WAIT) as response:
        text = response.read().decode()
    served = set()
    for family in text_string_to_metric_families(text):
        served.add(f"{family.name}_total" if family.type == "counter" else family.name)
    assert documented == served

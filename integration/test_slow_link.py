"""Slow links: a delaying relay between the runner and a node, with and without stalls, and a
rate-limited link that carries a 500 KB echo.

The kernel has no ``sch_netem``, so ``tc`` cannot add delay; ``integration.relay`` does it in
user space instead. It runs on the node's host, and the runner reaches that node through the
relay's port (``client_config_per_node``), so the node's name, and so its certificate, stay as
they are. The rate limit is a tc token bucket (``tbf``), which this kernel has.
"""

from __future__ import annotations

import os
import time
from collections.abc import Callable, Iterator

import pytest

import genrpc_actors
from genrpc_actors import BadRpc, Value
from integration.lab import Host, LabInfo, rate_limit
from integration.nodes import Driver, NodeProcess, RelayProcess, start_runner

DELAY = 0.05  # each way: a round trip takes 0.1 s at least
ROUND_TRIP = 2 * DELAY
SHORT_TIMEOUTS = (0.02, 0.05, 0.08)  # all below the round trip: no reply can make it in time
LONG_TIMEOUT = 5.0  # far above the round trip, and above a stall
LATE = 1.5  # a call that times out says so within its timeout plus this (2 busy vCPUs)
STALL_EVERY, STALL_FOR = 1.5, 0.6  # the relay passes nothing for 0.6 s out of every 1.5 s


def needs_links(lab: LabInfo) -> None:
    if lab.kind != "netns":
        pytest.skip("a loopback lab has no links to shape")


RelayedRunner = Callable[..., tuple[genrpc_actors.Node, Host, RelayProcess]]


@pytest.fixture
def relayed_runner(
    lab: LabInfo,
    driver: Driver,
    cluster: dict[str, NodeProcess],
    relays: Callable[..., RelayProcess],
) -> Iterator[RelayedRunner]:
    """``start(**link)``: a relay to the first node (``delay``, ``stall_every``, ``stall_for``)
    and the runner's node, which reaches that node through it; both stopped after the test."""
    started: list[genrpc_actors.Node] = []

    def start(**link: float) -> tuple[genrpc_actors.Node, Host, RelayProcess]:
        host = lab.hosts[0]
        relay = relays(host, driver.port, **link)
        relayed = {host.name: (driver.name, relay.port)}
        runner = start_runner(lab, driver, client_config_per_node=relayed)
        started.append(runner)
        # connecting (and the TLS handshake) takes a few round trips
        assert runner.call(host.name, "genrpc_actors", "node", timeout=LONG_TIMEOUT) == host.name
        return runner, host, relay

    yield start
    for runner in started:
        runner.stop()


def timed_out_in_time(runner: genrpc_actors.Node, node: str, timeout: float) -> None:
    """A call with ``timeout`` fails with BadRpc("timeout"), not before it, nor much later."""
    started = time.monotonic()
    with pytest.raises(BadRpc) as caught:
        runner.call(node, "operator", "add", (1, 1), timeout=timeout)
    elapsed = time.monotonic() - started
    assert caught.value.reason == "timeout"
    assert timeout <= elapsed < timeout + LATE, (timeout, elapsed)


def test_slow_link_calls_complete_or_time_out_as_configured(relayed_runner: RelayedRunner):
    runner, host, relay = relayed_runner(delay=DELAY)
    for number in range(5):
        started = time.monotonic()
        assert runner.call(host.name, "operator", "add", (number, 1), timeout=1.0) == number + 1
        assert time.monotonic() - started >= ROUND_TRIP  # it did go through the relay
    for timeout in SHORT_TIMEOUTS:
        timed_out_in_time(runner, host.name, timeout)
        # the late reply is dropped: the next call gets its own result
        assert runner.call(host.name, "operator", "add", (2, 3), timeout=LONG_TIMEOUT) == 5
    relay.stop()  # so that every line it printed has been read
    assert relay.accepted == 1  # one connection all along: the timeouts did not break it


def test_calls_across_stalls_complete_in_order_or_time_out(relayed_runner: RelayedRunner):
    """Calls made back to back while the link stalls now and then: each long one returns its
    own result, each short one times out in time, and the connection survives the stalls."""
    runner, host, relay = relayed_runner(delay=DELAY, stall_every=STALL_EVERY, stall_for=STALL_FOR)
    latencies: list[float] = []
    deadline = time.monotonic() + 2 * STALL_EVERY + STALL_FOR  # spans one whole stall at least
    number = 0
    while time.monotonic() < deadline:
        number += 1
        if number % 4 == 0:
            timed_out_in_time(runner, host.name, SHORT_TIMEOUTS[1])
            continue
        started = time.monotonic()
        result = runner.call(host.name, "operator", "add", (number, 1), timeout=LONG_TIMEOUT)
        latencies.append(time.monotonic() - started)
        assert result == number + 1
    assert min(latencies) >= ROUND_TRIP
    # the call under way when a stall began waited for its end
    assert max(latencies) >= STALL_FOR / 2, latencies
    relay.stop()
    assert relay.accepted == 1


def test_rate_limited_link_carries_500_kb_and_delays_no_other_node(runner, lab):
    """The node's outgoing traffic limited to 3 Mbit/s: a 500 KB echo takes over 1.2 s to come
    back, and meanwhile small calls to another node come and go."""
    needs_links(lab)
    if len(lab.hosts) < 2:
        pytest.skip("needs two nodes")
    slow, other = lab.hosts[0], lab.hosts[1]
    payload = os.urandom(500_000)
    least = (len(payload) - 32 * 1024) / (3_000_000 / 8)  # what the bucket lets through
    for host in (slow, other):
        runner.call(host.name, "os", "getpid")
    rate_limit(slow, "3mbit", burst="32kb")
    try:
        started = time.monotonic()
        echo = runner.async_call(slow.name, "builtins", "bytes", (payload,))
        for number in range(10):
            assert runner.call(other.name, "operator", "add", (number, 1), timeout=5) == number + 1
        assert runner.nb_yield(echo, 0) is None  # all done while the echo still crawls
        assert runner.nb_yield(echo, 30) == Value(payload)
        assert time.monotonic() - started >= least
    finally:
        rate_limit(slow, None)
    assert runner.call(slow.name, "operator", "add", (2, 3), timeout=5) == 5

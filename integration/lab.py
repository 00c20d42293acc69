"""Hosts on one machine: a network namespace per node, joined by veth pairs to a bridge.

Everything lives in namespaces this module creates, named ``<prefix>-h0`` (the test runner),
``<prefix>-h1`` ... (one per node) and ``<prefix>-br`` (the bridge): no real interface, route or
address of the machine is touched. The addresses come from one private /24 used only inside
those namespaces. Needs root (``ip netns``, ``tc``); :class:`LoopbackLab` is the fallback that
gives each node its own loopback address instead (no link to cut there).
"""

from __future__ import annotations

import json
import os
import subprocess
from dataclasses import asdict, dataclass, field
from pathlib import Path

__all__ = ["Host", "Lab", "LabInfo", "LoopbackLab", "in_host", "link", "rate_limit"]

SUBNET = "10.213.77"


def _ip(*args: str) -> None:
    subprocess.run(["ip", *args], check=True, capture_output=True, text=True)


@dataclass
class Host:
    name: str  # the node's name, name@address
    address: str
    netns: str | None  # None on the loopback fallback
    veth: str = ""  # this host's end of its link
    bridge_end: str = ""  # the bridge's end (cut it to cut the link)


@dataclass
class LabInfo:
    """What the tests need to know of a lab (written to a JSON file for them)."""

    kind: str  # "netns" or "loopback"
    prefix: str
    runner: Host
    hosts: list[Host] = field(default_factory=list)
    bridge: str | None = None

    def save(self, path: Path) -> None:
        path.write_text(json.dumps(asdict(self), indent=2))

    @classmethod
    def load(cls, path: Path) -> LabInfo:
        data = json.loads(path.read_text())
        return cls(
            kind=data["kind"],
            prefix=data["prefix"],
            runner=Host(**data["runner"]),
            hosts=[Host(**h) for h in data["hosts"]],
            bridge=data["bridge"],
        )


class Lab:
    """``nodes`` hosts and a runner on network namespaces; ``up()`` then ``down()`` (always)."""

    def __init__(self, nodes: int, prefix: str | None = None) -> None:
        if not 1 <= nodes <= 200:
            raise ValueError("between 1 and 200 nodes")
        self.prefix = prefix or f"grpc{os.getpid() % 100000}"
        self.nodes = nodes
        bridge_ns = f"{self.prefix}-br"
        hosts = [
            Host(
                name=f"node{i}@{SUBNET}.{10 + i}",
                address=f"{SUBNET}.{10 + i}",
                netns=f"{self.prefix}-h{i}",
                veth="eth0",
                bridge_end=f"b{i}",
            )
            for i in range(nodes + 1)
        ]
        self.info = LabInfo("netns", self.prefix, hosts[0], hosts[1:], bridge_ns)
        self.info.runner.name = f"runner@{hosts[0].address}"

    def up(self) -> LabInfo:
        bridge_ns = self.info.bridge
        assert bridge_ns is not None
        _ip("netns", "add", bridge_ns)
        _ip("-n", bridge_ns, "link", "set", "lo", "up")
        _ip("-n", bridge_ns, "link", "add", "br0", "type", "bridge")
        _ip("-n", bridge_ns, "link", "set", "br0", "up")
        for host in [self.info.runner, *self.info.hosts]:
            assert host.netns is not None
            _ip("netns", "add", host.netns)
            _ip("-n", host.netns, "link", "set", "lo", "up")
            # made inside the host's namespace, then one end moved to the bridge's
            _ip(
                "-n",
                host.netns,
                "link",
                "add",
                host.veth,
                "type",
                "veth",
                "peer",
                "name",
                host.bridge_end,
                "netns",
                bridge_ns,
            )
            _ip("-n", host.netns, "addr", "add", f"{host.address}/24", "dev", host.veth)
            _ip("-n", host.netns, "link", "set", host.veth, "up")
            _ip("-n", bridge_ns, "link", "set", host.bridge_end, "master", "br0")
            _ip("-n", bridge_ns, "link", "set", host.bridge_end, "up")
        return self.info

    def down(self) -> None:
        """Delete every namespace of this lab (their veths go with them); never raises."""
        for host in [self.info.runner, *self.info.hosts]:
            subprocess.run(
                ["ip", "netns", "del", str(host.netns)], capture_output=True, check=False
            )
        subprocess.run(
            ["ip", "netns", "del", str(self.info.bridge)], capture_output=True, check=False
        )


class LoopbackLab:
    """Without root: each node on its own loopback address (127.0.0.2, ...), no links to cut."""

    def __init__(self, nodes: int, prefix: str | None = None) -> None:
        self.prefix = prefix or f"grpc{os.getpid() % 100000}"
        hosts = [
            Host(name=f"node{i}@127.0.0.{i + 1}", address=f"127.0.0.{i + 1}", netns=None)
            for i in range(1, nodes + 1)
        ]
        runner = Host(name="runner@127.0.0.1", address="127.0.0.1", netns=None)
        self.info = LabInfo("loopback", self.prefix, runner, hosts, None)

    def up(self) -> LabInfo:
        return self.info

    def down(self) -> None:
        pass


def in_host(host: Host, command: list[str]) -> list[str]:
    """``command`` as run on ``host`` (inside its namespace when it has one)."""
    return command if host.netns is None else ["ip", "netns", "exec", host.netns, *command]


def link(info: LabInfo, host: Host, *, up: bool) -> None:
    """Cut (``up=False``) or heal the link between ``host`` and the bridge."""
    if info.bridge is None:
        raise RuntimeError("a loopback lab has no links to cut")
    _ip("-n", info.bridge, "link", "set", host.bridge_end, "up" if up else "down")


def rate_limit(host: Host, rate: str | None, burst: str = "32kb") -> None:
    """Limit what ``host`` sends to ``rate`` (``"2mbit"``) with a tc token bucket (tbf), or lift
    the limit (``None``). The queue holds 10 s of traffic, so the bucket slows packets down
    rather than dropping them. (This kernel has tbf but no netem: delays come from
    ``integration.relay`` instead.)"""
    if host.netns is None:
        raise RuntimeError("a loopback lab has no links to shape")
    base = ["tc", "-n", host.netns, "qdisc"]
    subprocess.run([*base, "del", "dev", host.veth, "root"], capture_output=True, check=False)
    if rate:
        bucket = ["tbf", "rate", rate, "burst", burst, "latency", "10s"]
        subprocess.run(
            [*base, "add", "dev", host.veth, "root", *bucket],
            check=True,
            capture_output=True,
        )

"""Fixtures of the integration suite: the lab, node processes on its hosts, the runner's node."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import time
from collections.abc import Iterator
from pathlib import Path

import pytest

import genrpc_actors
from integration.lab import Host, LabInfo, in_host

COOKIE = "integration-cookie"
PORT = 5369
# Keepalive that notices a silent peer in idle + interval x count = 1 + 1 x 2 = 3 s.
KEEPALIVE = {
    "socket_keepalive_idle": 1,
    "socket_keepalive_interval": 1,
    "socket_keepalive_count": 2,
}
GENRPC = str(Path(sys.executable).with_name("genrpc"))


def pytest_collection_modifyitems(config: pytest.Config, items: list[pytest.Item]) -> None:
    if "GENRPC_LAB" not in os.environ:
        skip = pytest.mark.skip(reason="run through `make integration` (it builds the lab)")
        for item in items:
            item.add_marker(skip)


@pytest.fixture(scope="session")
def lab() -> LabInfo:
    return LabInfo.load(Path(os.environ["GENRPC_LAB"]))


class NodeProcess:
    """``genrpc node`` on one host of the lab; killed by PID, restartable on the same address."""

    def __init__(self, host: Host) -> None:
        self.host = host
        self.process: subprocess.Popen[str] | None = None

    def start(self) -> NodeProcess:
        env = {**os.environ, "GENRPC_LISTEN_ADDRESS": self.host.address, "GENRPC_COOKIE": COOKIE}
        env.update({f"GENRPC_{k.upper()}": str(v) for k, v in KEEPALIVE.items()})
        self.process = subprocess.Popen(
            in_host(self.host, [GENRPC, "node", self.host.name, "--port", str(PORT)]),
            stdout=subprocess.PIPE,
            stderr=subprocess.PIPE,
            text=True,
            env=env,
        )
        assert self.process.stdout is not None
        line = self.process.stdout.readline()
        if "listening" not in line:
            raise RuntimeError(f"{self.host.name} did not start: {line} {self.process.stderr}")
        return self

    @property
    def pid(self) -> int:
        assert self.process is not None
        return self.process.pid

    def kill(self) -> None:
        if self.process is not None and self.process.poll() is None:
            os.kill(self.process.pid, signal.SIGKILL)
            self.process.wait(10)
        self._close_streams()

    def _close_streams(self) -> None:
        if self.process is not None:
            for stream in (self.process.stdout, self.process.stderr):
                if stream is not None:
                    stream.close()

    def stop(self) -> None:
        if self.process is None:
            return
        if self.process.poll() is None:
            os.kill(self.process.pid, signal.SIGTERM)
            try:
                self.process.wait(15)
            except subprocess.TimeoutExpired:
                self.kill()
        self._close_streams()


@pytest.fixture(scope="session")
def cluster(lab: LabInfo) -> Iterator[dict[str, NodeProcess]]:
    nodes = {host.name: NodeProcess(host).start() for host in lab.hosts}
    yield nodes
    for node in nodes.values():
        node.stop()


@pytest.fixture
def runner(lab: LabInfo, cluster: dict[str, NodeProcess]) -> Iterator[genrpc_actors.Node]:
    """This process's node, on the runner host; it reaches every node on the default port."""
    node = genrpc_actors.start(
        lab.runner.name,
        cookie=COOKIE,
        tcp_server_port=PORT,
        tcp_client_port=PORT,
        listen_address=lab.runner.address,
        connect_timeout=2.0,
        **KEEPALIVE,
    )
    yield node
    node.stop()


def wait_until(condition, timeout: float, interval: float = 0.05):  # type: ignore[no-untyped-def]
    deadline = time.monotonic() + timeout
    while True:
        value = condition()
        if value:
            return value
        if time.monotonic() > deadline:
            raise AssertionError(f"not within {timeout} s")
        time.sleep(interval)

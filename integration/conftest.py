"""Fixtures of the integration suite: the lab, the driver, node processes on the lab's hosts,
the runner's node and delaying relays.

Every test runs under both drivers: the session fixture ``driver`` has the params ``tcp`` and
``ssl`` (ids ``[tcp]``, ``[ssl]``), and the cluster and the runner depend on it, so the nodes are
started once per driver. The certificates of the ``ssl`` run (a CA, and one per node and for the
runner, each naming its node) are made for the run in the lab's temporary folder.
"""

from __future__ import annotations

import os
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import pytest

import genrpc_actors
from genrpc_actors._tools._certs import NodeFiles
from integration.lab import Host, LabInfo
from integration.nodes import (
    Driver,
    NodeProcess,
    RelayProcess,
    make_certificates,
    start_runner,
    stop_on_sigterm,
)


def pytest_configure(config: pytest.Config) -> None:
    stop_on_sigterm()  # fixtures stop their node processes even then


def pytest_collection_modifyitems(config: pytest.Config, items: list[pytest.Item]) -> None:
    if "INTEGRATION_LAB" not in os.environ:
        skip = pytest.mark.skip(reason="run through `make integration` (it builds the lab)")
        for item in items:
            item.add_marker(skip)


@pytest.fixture(scope="session")
def lab_folder() -> Path:
    """The lab's temporary folder (``integration.run`` removes it): certificates and logs."""
    return Path(os.environ["INTEGRATION_LAB"]).parent


@pytest.fixture(scope="session")
def lab() -> LabInfo:
    return LabInfo.load(Path(os.environ["INTEGRATION_LAB"]))


@pytest.fixture(scope="session")
def certificates(lab: LabInfo, lab_folder: Path) -> dict[str, NodeFiles]:
    names = [lab.runner.name, *(host.name for host in lab.hosts)]
    return make_certificates(lab_folder / "certs", names)


@pytest.fixture(scope="session", params=["tcp", "ssl"])
def driver(request: pytest.FixtureRequest, certificates: dict[str, NodeFiles]) -> Driver:
    return Driver(request.param, certificates)


@pytest.fixture(scope="session")
def cluster(lab: LabInfo, driver: Driver, lab_folder: Path) -> Iterator[dict[str, NodeProcess]]:
    nodes: dict[str, NodeProcess] = {}
    try:
        for host in lab.hosts:
            log = lab_folder / "logs" / f"{host.name}.{driver}.log"
            nodes[host.name] = NodeProcess(host, driver, log).start()
        yield nodes
    finally:
        for node in nodes.values():
            node.stop()


@pytest.fixture
def runner(
    lab: LabInfo, driver: Driver, cluster: dict[str, NodeProcess]
) -> Iterator[genrpc_actors.Node]:
    """This process's node, on the runner host; it reaches every node on the driver's port."""
    node = start_runner(lab, driver)
    yield node
    node.stop()


@pytest.fixture
def relays(lab_folder: Path) -> Iterator[Callable[..., RelayProcess]]:
    """``start(host, target_port, delay=..., ...)``: a delaying relay on ``host`` (see
    ``RelayProcess``); every relay started is stopped, by its PID, after the test."""
    started: list[RelayProcess] = []

    def start(host: Host, target_port: int, **link: Any) -> RelayProcess:
        relay = RelayProcess(host, target_port, log=lab_folder / "logs" / "relay.log", **link)
        started.append(relay)
        return relay.start()

    yield start
    for relay in started:
        relay.stop()

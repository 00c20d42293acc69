"""Fixtures for node tests: an in-process master node and a slave node in its own process."""

from __future__ import annotations

from collections.abc import Iterator

import pytest

import genrpc_actors
from genrpc_actors import Node
from genrpc_actors.testing import LocalNode, free_port

COOKIE = "genrpc-test-cookie"
MASTER = "master@127.0.0.1"
SLAVE = "slave@127.0.0.1"
FAKE = "fake@127.0.0.1"  # mapped to a closed loopback port: refused


@pytest.fixture(scope="session")
def master_port() -> int:
    return free_port()


@pytest.fixture(scope="session")
def fake_port() -> int:
    return free_port()


@pytest.fixture(scope="session")
def slave(master_port: int, fake_port: int) -> Iterator[LocalNode]:
    """One slave process for the session; tests that kill or reconfigure a node start their own."""
    node = LocalNode(
        SLAVE,
        cookie=COOKIE,
        client_config_per_node={MASTER: master_port, FAKE: fake_port},
        connect_timeout=0.5,
        send_timeout=0.5,
    ).start()
    yield node
    node.stop()


def start_master(master_port: int, fake_port: int, slave_port: int, **config: object) -> Node:
    settings: dict[str, object] = {
        "cookie": COOKIE,
        "tcp_server_port": master_port,
        "client_config_per_node": {SLAVE: slave_port, FAKE: fake_port},
        "connect_timeout": 0.5,
        "send_timeout": 0.5,
    }
    settings.update(config)
    return genrpc_actors.start(MASTER, **settings)  # type: ignore[arg-type]


@pytest.fixture
def master(slave: LocalNode, master_port: int, fake_port: int) -> Iterator[Node]:
    """The test process's default node, reaching the slave and the fake node."""
    node = start_master(master_port, fake_port, slave.port)
    yield node
    node.stop()

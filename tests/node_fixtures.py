"""Fixtures for node tests: an in-process master node and a slave node in its own process, under
each driver.

gen_rpc's remote_SUITE runs as two groups, ``tcp`` and ``ssl``; so do the tests that use these
fixtures. The session fixture ``driver`` has the params ``tcp`` and ``ssl``; ``slave``, ``master``
and the factories depend on it, so every such test runs once per driver (ids ``[tcp]``,
``[ssl]``). Under ``ssl`` every node listens on TLS with a certificate of its own (made on demand,
in a temporary directory, by ``certificates``), presents that certificate as a client too, and
reaches its peers through ``("ssl", port)`` entries; its plain TCP listener stays on, as in
gen_rpc's edge setup, but no node calls another through it. ``node_settings`` builds such a
configuration.
"""

from __future__ import annotations

import itertools
import queue
import socket
import ssl
import threading
from collections.abc import Callable, Iterator, Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Literal

import pytest

import genrpc_actors
from genrpc_actors import Node
from genrpc_actors._tools._certs import NodeFiles, create_ca, create_node_certificate
from genrpc_actors._transport._tls import client_context, server_context
from genrpc_actors.testing import LocalNode, closed_port, free_port
from tests.actors import Recorder

COOKIE = "genrpc-test-cookie"
MASTER = "master@127.0.0.1"
SLAVE = "slave@127.0.0.1"
FAKE = "fake@127.0.0.1"  # mapped to a closed loopback port: refused
VICTIM = "victim@127.0.0.1"  # a node of its own process, to be killed by the test
REACHER = "reacher@127.0.0.1"  # a node of the test's process that reaches the slave and VICTIM
INTRUDER = "intruder@127.0.0.1"  # the name raw test clients claim (and their certificate's)
SHORT_TIMEOUTS = {"connect_timeout": 0.5, "send_timeout": 0.5}  # the master's and the slave's
RAW_TIMEOUT = 5.0


class Certificates:
    """A CA in ``directory`` and, on demand, a key and a certificate per node name signed by it."""

    def __init__(self, directory: Path) -> None:
        self.directory = directory
        create_ca(directory)
        self._files: dict[str, NodeFiles] = {}
        self._lock = threading.Lock()
        self._others = itertools.count(1)

    def __repr__(self) -> str:
        return f"<Certificates {self.directory}>"

    @property
    def cacertfile(self) -> Path:
        return self.directory / "ca.cert.pem"

    def files(self, node: str) -> NodeFiles:
        """``node``'s key and certificate (made the first time they are asked for)."""
        with self._lock:
            found = self._files.get(node)
            if found is None:
                found = self._files[node] = create_node_certificate(self.directory, node)
            return found

    def options(self, node: str) -> dict[str, str]:
        """``ssl_server_options`` / ``ssl_client_options`` of ``node``."""
        return self.files(node).options()

    def other_authority(self) -> Certificates:
        """Another CA, in a directory of its own: certificates it signs are not trusted here."""
        with self._lock:
            number = next(self._others)
        return Certificates(self.directory / f"other-ca-{number}")


@dataclass(frozen=True)
class Driver:
    """The driver the nodes of a test call each other with (and the certificates of ``ssl``)."""

    name: Literal["tcp", "ssl"]
    certificates: Certificates

    def __str__(self) -> str:
        return self.name

    @property
    def tls(self) -> bool:
        return self.name == "ssl"

    @property
    def listen_key(self) -> str:
        """The configuration key of this driver's listening port."""
        return "ssl_server_port" if self.tls else "tcp_server_port"

    def port(self, node: LocalNode | Node) -> int:
        """Where ``node`` listens for this driver."""
        return node.ssl_port if self.tls else node.port

    def raw_client(self, port: int, node: str = INTRUDER) -> socket.socket:
        """A socket to ``port`` on the loopback that speaks this driver's transport and nothing
        more: plain TCP, or TLS with ``node``'s certificate (trusted). The test writes the
        genrpc handshake itself."""
        sock = socket.create_connection(("127.0.0.1", port), timeout=RAW_TIMEOUT)
        if not self.tls:
            return sock
        try:
            return client_context(self.certificates.options(node)).wrap_socket(sock)
        except BaseException:
            sock.close()
            raise

    def server_socket(self, sock: socket.socket, node: str) -> socket.socket:
        """``sock``, accepted by a test's own server, speaking this driver as ``node``."""
        if not self.tls:
            return sock
        context: ssl.SSLContext = server_context(self.certificates.options(node))
        return context.wrap_socket(sock, server_side=True)


def node_settings(
    name: str, driver: Driver, peers: Mapping[str, int] | None = None, **config: Any
) -> dict[str, Any]:
    """The configuration of the node ``name`` under ``driver`` (for ``LocalNode`` or ``start``).

    The tests' cookie; ``peers`` (``{node: its port for this driver}``) as ``(driver, port)``
    entries of ``client_config_per_node``; and under ``ssl`` a TLS listener on a free port, the
    node's own certificate to serve and to call with, and ``ssl`` for nodes not in the map.
    ``config`` goes over all of it.
    """
    settings: dict[str, Any] = {
        "cookie": COOKIE,
        "client_config_per_node": {
            node: (driver.name, port) for node, port in (peers or {}).items()
        },
    }
    if driver.tls:
        options = driver.certificates.options(name)
        settings.update(
            ssl_server_port=0,
            ssl_server_options=options,
            ssl_client_options=options,
            default_client_driver="ssl",
        )
    settings.update(config)
    return settings


@pytest.fixture(scope="session")
def certificates(tmp_path_factory: pytest.TempPathFactory) -> Certificates:
    """The session's CA; a certificate per node name, made when first needed."""
    return Certificates(tmp_path_factory.mktemp("certificates"))


@pytest.fixture(scope="session", params=["tcp", "ssl"])
def driver(request: pytest.FixtureRequest, certificates: Certificates) -> Driver:
    return Driver(request.param, certificates)


@pytest.fixture(scope="session")
def master_port() -> int:
    """Where the master listens for the session's driver (the slave maps MASTER to it)."""
    return free_port()


@pytest.fixture(scope="session")
def fake_port() -> Iterator[int]:
    """Where FAKE is said to listen: a port that refuses every connection for the whole session
    (bound, never listening, so no node started meanwhile can be given it)."""
    with closed_port() as port:
        yield port


@pytest.fixture(scope="session")
def slave(driver: Driver, master_port: int, fake_port: int) -> Iterator[LocalNode]:
    """One slave process per driver; tests that kill or reconfigure a node start their own."""
    peers = {MASTER: master_port, FAKE: fake_port}
    node = LocalNode(SLAVE, **node_settings(SLAVE, driver, peers, **SHORT_TIMEOUTS)).start()
    yield node
    node.stop()


def start_master(driver: Driver, master_port: int, peers: Mapping[str, int], **config: Any) -> Node:
    """The master (this process's default node) under ``driver``: it listens for the driver on
    ``master_port`` (under ``ssl``, plain TCP on a free port besides) and reaches ``peers``."""
    settings = node_settings(MASTER, driver, peers, tcp_server_port=0, **SHORT_TIMEOUTS)
    settings[driver.listen_key] = master_port
    settings.update(config)
    return genrpc_actors.start(MASTER, **settings)


@pytest.fixture
def master(driver: Driver, slave: LocalNode, master_port: int, fake_port: int) -> Iterator[Node]:
    """The test process's default node, reaching the slave and the fake node."""
    node = start_master(driver, master_port, {SLAVE: driver.port(slave), FAKE: fake_port})
    yield node
    node.stop()


@pytest.fixture
def make_node(
    driver: Driver, local_node_factory: Callable[..., LocalNode]
) -> Callable[..., LocalNode]:
    """``make(name, peers=None, **config)``: a node in its own process under the test's driver
    (``node_settings``), stopped after the test."""

    def make(name: str, peers: Mapping[str, int] | None = None, **config: Any) -> LocalNode:
        return local_node_factory(name, **node_settings(name, driver, peers, **config))

    return make


@pytest.fixture
def victim(make_node: Callable[..., LocalNode], driver: Driver, slave: LocalNode) -> LocalNode:
    """``VICTIM``: a node of its own, to be killed; it reaches the slave."""
    return make_node(VICTIM, {SLAVE: driver.port(slave)})


@pytest.fixture
def reaching(driver: Driver, slave: LocalNode, victim: LocalNode) -> Iterator[Node]:
    """``REACHER``: a node of this process that reaches the slave and the victim."""
    peers = {SLAVE: driver.port(slave), VICTIM: driver.port(victim)}
    settings = node_settings(REACHER, driver, peers, tcp_server_port=False)
    with Node.start(REACHER, **settings) as node:
        yield node


@pytest.fixture
def recorder() -> Iterator[tuple[Any, queue.Queue[Any]]]:
    """A watcher actor of this process and the queue of what it is told; stopped afterwards."""
    box: queue.Queue[Any] = queue.Queue()
    ref = Recorder.start(box)
    yield ref, box
    if ref.is_alive():
        ref.stop()


@pytest.fixture
def inbox(recorder: tuple[Any, queue.Queue[Any]]) -> queue.Queue[Any]:
    """What the ``watcher`` is told."""
    return recorder[1]


@pytest.fixture
def watcher(recorder: tuple[Any, queue.Queue[Any]]) -> Any:
    """The recorder's actor: a watcher for monitors, whose messages go to ``inbox``."""
    return recorder[0]

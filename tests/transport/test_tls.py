"""The ``ssl`` driver's own cases: certificates that must be refused, clients that do not speak
TLS, protocol versions, a node on TCP and TLS at once, large and concurrent traffic over one TLS
connection, and the configuration errors of TLS.

The well-behaved server is a node in its own process, listening on TCP and TLS; the misbehaving
nodes and the clients are nodes in this process, each configured by ``node_settings`` under the
``ssl`` driver (certificates from the session's ``certificates``), with an override where a case
needs a wrong one.
"""

from __future__ import annotations

import contextlib
import os
import socket
import ssl
import threading
import time
import warnings
from collections.abc import Callable, Iterator, Mapping
from typing import Any

import pytest

from genrpc_actors import BadRpc, BadTcp, ConfigError, Node, RpcError, Value
from genrpc_actors import _protocol as wire
from genrpc_actors.testing import LocalNode, connections, incoming
from tests.node_fixtures import INTRUDER, Certificates, Driver, node_settings
from tests.waiting import WAIT, wait_for

HELPERS = "tests.remote.functions"
HELPERS2 = "tests.remote.acceptors"
STATS = "genrpc_actors.testing"
SERVER = "tls-server@127.0.0.1"
CLIENT = "tls-client@127.0.0.1"
OTHER = "other@127.0.0.1"
AT_ONCE = 1.0  # far below the call timeouts these tests set


# -- fixtures and helpers ------------------------------------------------------------------------


@pytest.fixture(scope="module")
def tls(certificates: Certificates) -> Driver:
    return Driver("ssl", certificates)


@pytest.fixture(scope="module")
def server(tls: Driver) -> Iterator[LocalNode]:
    """A node in its own process that listens on TCP and on TLS."""
    with LocalNode(SERVER, **node_settings(SERVER, tls, tcp_server_port=0)) as node:
        assert node.port and node.ssl_port and node.port != node.ssl_port
        yield node


@pytest.fixture
def nodes(tls: Driver) -> Iterator[Callable[..., Node]]:
    """``make(name, peers=None, **config)``: a node in this process under the ``ssl`` driver
    (``node_settings``; no listener unless ``ssl_server_port`` is given), stopped after the
    test. ``peers`` maps names to TLS ports unless an entry is a ``(driver, port)`` already."""
    started: list[Node] = []

    def make(name: str, peers: Mapping[str, Any] | None = None, **config: Any) -> Node:
        settings = node_settings(name, tls, tcp_server_port=False, ssl_server_port=False)
        settings["client_config_per_node"] = {
            node: entry if isinstance(entry, tuple) else ("ssl", entry)
            for node, entry in (peers or {}).items()
        }
        settings.update(config)
        node = Node.start(name, **settings)
        started.append(node)
        return node

    yield make
    for node in reversed(started):
        node.stop()


def still_serving(nodes: Callable[..., Node], server: LocalNode) -> None:
    """A well-configured client, new, gets its call answered by ``server`` over TLS."""
    checker = nodes(f"checker-{os.urandom(4).hex()}@127.0.0.1", {SERVER: server.ssl_port})
    assert checker.call(SERVER, HELPERS, "pid", timeout=WAIT) == server.pid
    checker.stop()


def wait_until_only_the_asker_is_connected(nodes: Callable[..., Node], server: LocalNode) -> None:
    """Wait (bounded) until the server holds no incoming connection but the one that asks: the
    refused ones are all gone."""
    asker = nodes(f"asker-{os.urandom(4).hex()}@127.0.0.1", {SERVER: ("tcp", server.port)})

    def connected() -> int:
        count: int = asker.call(SERVER, STATS, "node_statistics", timeout=WAIT)["acceptors"]
        return count

    wait_for(lambda: connected() == 1, interval=0.02)
    asker.stop()


def raw_tls_client(
    certificates: Certificates,
    *,
    node: str | None = INTRUDER,
    maximum: ssl.TLSVersion | None = None,
    minimum: ssl.TLSVersion | None = None,
) -> ssl.SSLContext:
    """A client context that trusts the session's CA; with ``node``'s certificate, or none."""
    context = ssl.SSLContext(ssl.PROTOCOL_TLS_CLIENT)
    context.check_hostname = False
    context.load_verify_locations(certificates.cacertfile)
    if node is not None:
        files = certificates.files(node)
        context.load_cert_chain(files.certfile, files.keyfile)
    if minimum is not None:
        context.minimum_version = minimum
    if maximum is not None:
        context.maximum_version = maximum
    return context


def read_until_closed(sock: socket.socket, timeout: float = WAIT) -> bytes:
    """Everything the peer sends until it closes; a TLS error is a TLS stream cut by the peer
    (a timeout fails the test)."""
    sock.settimeout(timeout)
    received = b""
    while True:
        try:
            chunk = sock.recv(4096)
        except (ConnectionResetError, ssl.SSLError):
            return received
        if not chunk:
            return received
        received += chunk


def tls_versions(node: Node, target: str) -> list[str | None]:
    """The TLS versions of the incoming connections of the node behind ``target``."""
    versions: list[str | None] = node.call(target, HELPERS2, "acceptor_tls_versions", timeout=WAIT)
    return versions


# -- certificates that are refused -------------------------------------------------------------


def test_a_server_certificate_from_an_untrusted_ca_fails_with_a_tls_reason(
    certificates, nodes, server
):
    rogue_name = "rogue@127.0.0.1"
    stranger_ca = certificates.other_authority()
    rogue = nodes(rogue_name, ssl_server_port=0, ssl_server_options=stranger_ca.options(rogue_name))
    client = nodes(CLIENT, {rogue_name: rogue.ssl_port, SERVER: server.ssl_port})
    start = time.monotonic()
    with pytest.raises((BadRpc, BadTcp)) as info:
        client.call(rogue_name, "os", "getpid", timeout=WAIT)
    assert time.monotonic() - start < AT_ONCE
    assert isinstance(info.value.reason, tuple)
    assert info.value.reason[0] == "tls"
    assert "CERTIFICATE_VERIFY_FAILED" in str(info.value.reason[1])
    assert rogue_name not in client.nodes()
    # the caller goes on with the nodes it trusts, and the rogue with the clients that trust it
    assert client.call(SERVER, HELPERS, "pid", timeout=WAIT) == server.pid
    friend_name = "friend@127.0.0.1"
    friend = nodes(
        friend_name,
        {rogue_name: rogue.ssl_port},
        ssl_client_options=stranger_ca.options(friend_name),
    )
    assert friend.call(rogue_name, "operator", "add", [2, 3], timeout=WAIT) == 5


def client_with_an_untrusted_certificate(
    certificates: Certificates, nodes: Callable[..., Node], server: LocalNode
) -> Node:
    """A client that trusts the session's CA but presents a certificate another CA signed."""
    stranger_ca = certificates.other_authority()
    options = dict(stranger_ca.options(CLIENT), cacertfile=str(certificates.cacertfile))
    return nodes(CLIENT, {SERVER: server.ssl_port}, ssl_client_options=options)


def test_a_client_certificate_from_an_untrusted_ca_is_refused(certificates, nodes, server):
    client = client_with_an_untrusted_certificate(certificates, nodes, server)
    before = time.monotonic()
    with pytest.raises(RpcError):
        client.call(SERVER, HELPERS, "pid", timeout=WAIT)
    assert time.monotonic() - before < AT_ONCE
    assert client.nodes() == []
    still_serving(nodes, server)
    wait_until_only_the_asker_is_connected(nodes, server)


def test_a_client_certificate_from_an_untrusted_ca_fails_with_a_tls_reason(
    certificates, nodes, server
):
    client = client_with_an_untrusted_certificate(certificates, nodes, server)
    with pytest.raises((BadRpc, BadTcp)) as info:
        client.call(SERVER, HELPERS, "pid", timeout=WAIT)
    assert "tls" in str(info.value.reason).lower()


def test_a_server_certificate_naming_another_node_is_a_mismatch(certificates, nodes, server):
    impostor_name = "impostor@127.0.0.1"
    impostor = nodes(
        impostor_name, ssl_server_port=0, ssl_server_options=certificates.options(OTHER)
    )
    client = nodes(CLIENT, {impostor_name: impostor.ssl_port, SERVER: server.ssl_port})
    for target in (impostor_name, (impostor_name, "key")):
        with pytest.raises(BadRpc) as info:
            client.call(target, "os", "getpid", timeout=WAIT)
        assert info.value.reason == "node_certificate_mismatch"
    key = client.async_call(impostor_name, "os", "getpid")
    with pytest.raises(BadRpc) as info:
        client.nb_yield(key, WAIT)
    assert info.value.reason == "node_certificate_mismatch"
    assert client.nodes() == []
    assert not impostor.statistics().acceptors or all(not a.peer_name for a in incoming(impostor))
    assert client.call(SERVER, HELPERS, "pid", timeout=WAIT) == server.pid


def test_a_client_certificate_naming_another_node_is_a_mismatch(certificates, nodes, server):
    """The client claims CLIENT in the handshake but its certificate names OTHER."""
    client = nodes(
        CLIENT, {SERVER: server.ssl_port}, ssl_client_options=certificates.options(OTHER)
    )
    for target in (SERVER, (SERVER, "key")):
        with pytest.raises(BadRpc) as info:
            client.call(target, HELPERS, "pid", timeout=WAIT)
        assert info.value.reason == "node_certificate_mismatch"
    assert client.nodes() == []
    still_serving(nodes, server)
    # the certificate's own node is welcome with it
    other = nodes(OTHER, {SERVER: server.ssl_port})
    assert other.call(SERVER, "genrpc_actors", "node", timeout=WAIT) == SERVER


@pytest.mark.parametrize("maximum", [None, ssl.TLSVersion.TLSv1_2], ids=["default", "tls1.2"])
def test_a_client_without_a_certificate_is_refused(certificates, nodes, server, maximum):
    """A raw TLS client that trusts the CA but has no certificate: under TLS 1.3 its own
    handshake completes before the server checks, so it sends HELLO; nothing comes back."""
    context = raw_tls_client(certificates, node=None, maximum=maximum)
    with socket.create_connection(("127.0.0.1", server.ssl_port), timeout=WAIT) as raw:
        try:
            sock = context.wrap_socket(raw)
        except (ssl.SSLError, ConnectionResetError):
            received = b""  # refused during the handshake (TLS 1.2)
        else:
            with sock:
                hello = wire.ClientHandshake(b"guess", INTRUDER, SERVER, os.urandom(32))
                with contextlib.suppress(ssl.SSLError, ConnectionResetError, BrokenPipeError):
                    sock.sendall(hello.start())
                received = read_until_closed(sock)
    assert received == b""  # not even a CHALLENGE
    still_serving(nodes, server)
    wait_until_only_the_asker_is_connected(nodes, server)


def test_the_tls_handshake_counts_against_the_authentication_timeout(certificates, nodes):
    """One deadline from the accept: a client that takes 0.8 s over its TLS handshake, then
    says nothing, is closed at 1.0 s, not 1.0 s after its TLS handshake."""
    slow_name = "slow@127.0.0.1"
    slow = nodes(slow_name, ssl_server_port=0, authentication_timeout=1.0)
    context = raw_tls_client(certificates)
    with socket.create_connection(("127.0.0.1", slow.ssl_port), timeout=WAIT) as raw:
        start = time.monotonic()
        time.sleep(0.8)
        with context.wrap_socket(raw) as sock:  # a trusted client: the handshake succeeds
            received = read_until_closed(sock)  # and then no HELLO
        elapsed = time.monotonic() - start
    assert received == b""
    assert 0.9 <= elapsed < 1.5
    wait_for(lambda: not slow.statistics().acceptors)


# -- clients that do not speak TLS, or speak it to the wrong port --------------------------------


@pytest.mark.parametrize(
    ("driver_name", "listener"),
    [("tcp", "ssl"), ("ssl", "tcp")],
    ids=["tcp-client-on-tls-port", "tls-client-on-tcp-port"],
)
def test_a_client_of_the_other_driver_fails_at_once(nodes, server, driver_name, listener):
    port = server.ssl_port if listener == "ssl" else server.port
    client = nodes(CLIENT, {SERVER: (driver_name, port)})
    for target in (SERVER, (SERVER, "key")):
        start = time.monotonic()
        with pytest.raises(RpcError):
            client.call(target, HELPERS, "pid", timeout=10.0)
        assert time.monotonic() - start < AT_ONCE  # the server closes; no wait for the timeout
    key = client.async_call(SERVER, HELPERS, "pid")
    with pytest.raises(RpcError):
        client.nb_yield(key, 10.0)
    assert client.nodes() == []
    still_serving(nodes, server)
    wait_until_only_the_asker_is_connected(nodes, server)


def test_the_ssl_driver_without_client_certificates_is_a_tls_error(nodes, server):
    client = nodes(CLIENT, {SERVER: server.ssl_port}, ssl_client_options={})
    with pytest.raises(BadRpc) as info:
        client.call(SERVER, HELPERS, "pid", timeout=WAIT)
    assert info.value.reason[0] == "tls"
    assert client.cast(SERVER, HELPERS, "pid") is True


# -- protocol versions ---------------------------------------------------------------------------


@pytest.mark.skipif(not ssl.HAS_TLSv1_1, reason="this OpenSSL cannot offer TLS 1.1 at all")
def test_tls_below_1_2_is_refused(certificates, nodes, server):
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", DeprecationWarning)  # TLSVersion.TLSv1_1 is deprecated
        old = raw_tls_client(
            certificates, minimum=ssl.TLSVersion.TLSv1_1, maximum=ssl.TLSVersion.TLSv1_1
        )
        old.set_ciphers("DEFAULT:@SECLEVEL=0")  # let this client offer TLS 1.1 at all
    with (
        socket.create_connection(("127.0.0.1", server.ssl_port), timeout=WAIT) as raw,
        pytest.raises((ssl.SSLError, ConnectionResetError)) as info,
    ):
        old.wrap_socket(raw)
    assert "NO_PROTOCOLS_AVAILABLE" not in str(info.value)  # the server refused, not us
    # the same client, allowed TLS 1.2, gets through: 1.2 is the minimum
    modern = raw_tls_client(certificates, maximum=ssl.TLSVersion.TLSv1_2)
    with (
        socket.create_connection(("127.0.0.1", server.ssl_port), timeout=WAIT) as raw,
        modern.wrap_socket(raw) as sock,
    ):
        assert sock.version() == "TLSv1.2"
        assert {("commonName", SERVER)} == set(sock.getpeercert()["subject"][0])
    still_serving(nodes, server)


@pytest.mark.parametrize("key", ["ssl_server_options", "ssl_client_options"])
def test_a_tls_minimum_below_1_2_is_a_config_error(certificates, key):
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", DeprecationWarning)  # TLSVersion.TLSv1_1 is deprecated
        options = dict(certificates.options(CLIENT), minimum_version=ssl.TLSVersion.TLSv1_1)
        settings = {"ssl_server_options": certificates.options(CLIENT), key: options}
        with pytest.raises(ConfigError) as info:
            Node.start(CLIENT, cookie="c", tcp_server_port=False, ssl_server_port=0, **settings)
    assert info.value.key == key
    assert "1.2" in str(info.value)


@pytest.mark.skipif(not ssl.HAS_TLSv1_3, reason="this OpenSSL has no TLS 1.3")
def test_nodes_negotiate_tls_1_3(nodes, server):
    client = nodes(CLIENT, {SERVER: server.ssl_port})
    assert client.call(SERVER, HELPERS, "pid", timeout=WAIT) == server.pid
    transport = connections(client)[SERVER]._outbox._tls
    assert transport is not None
    assert transport.version() == "TLSv1.3"
    wait_for(lambda: tls_versions(client, SERVER) == ["TLSv1.3"], interval=0.02)  # its end


# -- a node on TCP and TLS at once ---------------------------------------------------------------


def test_a_node_serves_tcp_and_tls_at_once(nodes, server):
    over_tcp = nodes("over-tcp@127.0.0.1", {SERVER: ("tcp", server.port)})
    over_tls = nodes("over-tls@127.0.0.1", {SERVER: ("ssl", server.ssl_port)})
    for _ in range(3):
        assert over_tcp.call(SERVER, HELPERS, "pid", timeout=WAIT) == server.pid
        assert over_tls.call(SERVER, HELPERS, "pid", timeout=WAIT) == server.pid
        assert over_tcp.call((SERVER, "k"), "genrpc_actors", "node", timeout=WAIT) == SERVER
        assert over_tls.call((SERVER, "k"), "genrpc_actors", "node", timeout=WAIT) == SERVER
    assert connections(over_tcp)[SERVER].endpoint.tls is None
    assert connections(over_tls)[SERVER].endpoint.tls is not None
    # the connections of earlier tests may still be closing: wait for these four alone
    wait_for(lambda: len(tls_versions(over_tcp, SERVER)) == 4, interval=0.02)
    versions = tls_versions(over_tcp, SERVER)
    assert versions.count(None) == 2  # over_tcp's two connections; over_tls's two are TLS
    assert all(v in ("TLSv1.2", "TLSv1.3") for v in versions if v is not None)


# -- traffic over one TLS connection -------------------------------------------------------------


def test_a_500_kb_echo_over_tls(nodes, server):
    client = nodes(CLIENT, {SERVER: server.ssl_port})
    payload = os.urandom(500_000)
    for _ in range(3):
        assert client.call(SERVER, HELPERS, "echo", [payload], timeout=WAIT) == payload
    key = client.async_call(SERVER, HELPERS, "echo", [payload])
    assert client.nb_yield(key, WAIT) == Value(payload)
    assert client.statistics().connections == 1


THREADS = 12
CALLS_PER_THREAD = 25


def test_many_concurrent_calls_share_one_tls_connection(nodes, server):
    """Writers in many threads and the reader thread use one TLS transport at once: every
    reply, small or large, comes back whole to its own caller, on the one connection."""
    client = nodes(CLIENT, {SERVER: server.ssl_port})
    assert client.call(SERVER, HELPERS, "echo", [0], timeout=WAIT) == 0
    connection = connections(client)[SERVER]
    failures: list[BaseException] = []
    barrier = threading.Barrier(THREADS)

    def caller(n: int) -> None:
        try:
            barrier.wait(WAIT)
            for i in range(CALLS_PER_THREAD):
                size = (n * 7919 + i * 104_729) % 300_000 if i % 3 == 0 else i
                payload = (n, i, os.urandom(size))
                if i % 5 == 0:
                    client.cast(SERVER, HELPERS, "echo", [payload])
                if i % 4 == 0:
                    key = client.async_call(SERVER, HELPERS, "echo", [payload])
                    value = client.nb_yield(key, WAIT * 2)
                    echoed = value.value if value is not None else "no reply in time"
                else:
                    echoed = client.call(SERVER, HELPERS, "echo", [payload], timeout=WAIT * 2)
                if echoed != payload:
                    raise AssertionError(f"caller {n} call {i}: a reply came back altered")
        except BaseException as exc:
            failures.append(exc)

    threads = [threading.Thread(target=caller, args=(n,), daemon=True) for n in range(THREADS)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(60.0)
    assert not any(thread.is_alive() for thread in threads), "callers did not finish"
    assert not failures, failures[:3]
    assert connections(client)[SERVER] is connection
    assert not connection.closed
    assert connection.pending == 0


# -- configuration errors ------------------------------------------------------------------------


def test_a_tls_listener_without_certificates_is_a_config_error():
    with pytest.raises(ConfigError) as info:
        Node.start(CLIENT, cookie="c", tcp_server_port=False, ssl_server_port=0)
    assert info.value.key == "ssl_server_options"


@pytest.mark.parametrize(
    ("key", "change"),
    [
        ("ssl_server_options", {"verify": "none"}),
        ("ssl_client_options", {"verify": "none"}),
        ("ssl_server_options", {"server_name_indication": "x"}),
        ("ssl_server_options", {"keyfile": None}),
        ("ssl_client_options", {"cacertfile": ""}),
        ("ssl_server_options", {"certfile": "/nonexistent/cert.pem"}),
    ],
    ids=["unknown-server", "unknown-client", "unknown-sni", "no-keyfile", "no-ca", "no-file"],
)
def test_bad_tls_options_are_config_errors(certificates, key, change):
    options = {**certificates.options(CLIENT), **change}
    options = {k: v for k, v in options.items() if v is not None}
    settings = {"ssl_server_options": certificates.options(CLIENT), key: options}
    with pytest.raises(ConfigError) as info:
        Node.start(CLIENT, cookie="c", tcp_server_port=False, ssl_server_port=0, **settings)
    assert info.value.key == key
    assert key in str(info.value)

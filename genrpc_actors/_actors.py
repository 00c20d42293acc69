"""The actors of a node's tree: listener, acceptor, client and dispatcher.

Each owns a thread that does its blocking I/O (the listener's accept loop, a connection's reader)
and is linked to it the simple way: when the thread ends, it kills its actor, and when the actor
stops, it closes the socket, which ends the thread. Requests do not pass through these actors'
mailboxes; they only create, own and clean up connections.
"""

from __future__ import annotations

import errno
import logging
import socket
import ssl
import threading
from typing import TYPE_CHECKING, Any

import supervision as sv
from genrpc_actors import _tcp
from genrpc_actors._connection import Connection
from genrpc_actors._errors import BadRpc, BadTcp, RpcError
from genrpc_actors._serving import ServerConnection

if TYPE_CHECKING:
    from genrpc_actors._node import Node

__all__ = ["AcceptorActor", "ClientActor", "Dispatcher", "TcpListener"]

logger = logging.getLogger("genrpc_actors")
_TRANSIENT_ACCEPT_ERRORS = frozenset(
    {errno.EMFILE, errno.ENFILE, errno.ENOBUFS, errno.ENOMEM, errno.ECONNABORTED, errno.EPROTO}
)


class TcpListener(sv.SupervisedActor):
    """Listens on the node's TCP port; hands every accepted socket to a new acceptor.

    With ``driver="ssl"`` it is the node's TLS listener: the acceptor runs the TLS handshake in
    its own thread, so a slow or hostile client never holds up the accept loop.
    """

    def __init__(self, node: Node, driver: str = "tcp") -> None:
        super().__init__()
        self._node, self._driver = node, driver
        config = node.config
        configured = config.tcp_server_port if driver == "tcp" else config.ssl_server_port
        known = node.port if driver == "tcp" else node.ssl_port  # a restart keeps the port
        port = known or (configured if configured is not False else 0)
        self._tls = node.server_tls if driver == "ssl" else None
        self._sock = _tcp.listen(config.listen_address, port)  # a bind error is a StartError
        if driver == "tcp":
            node.port = self._sock.getsockname()[1]
        else:
            node.ssl_port = self._sock.getsockname()[1]
        self._thread = threading.Thread(
            target=self._accept_loop, name=f"genrpc-listener-{driver}-{node.name}", daemon=True
        )
        self._stopping = False

    def on_start(self) -> None:
        self._thread.start()
        port = self._sock.getsockname()[1]
        logger.info(
            "event=listening node=%s driver=%s port=%d", self._node.name, self._driver, port
        )

    def on_stop(self) -> None:
        self._stopping = True
        _tcp.shutdown(self._sock)
        self._thread.join()

    def _accept_loop(self) -> None:
        sock = self._sock
        backoff = threading.Event()  # set by nobody: a pause that on_stop's close cuts short
        while True:
            try:
                conn, peer = sock.accept()
            except OSError as exc:
                if self._stopping:
                    return
                if exc.errno in _TRANSIENT_ACCEPT_ERRORS:
                    # out of descriptors or buffers, or a peer gone before accept: wait and go on
                    # (a restart would fail the same way and exhaust the supervisor's intensity)
                    logger.warning("event=accept_paused node=%s reason=%r", self._node.name, exc)
                    backoff.wait(0.05)
                    continue
                logger.exception("event=accept_failed node=%s", self._node.name)
                sv.exit(self.actor_ref, exc)
                return
            try:
                self._node.tree_child_handle("acceptors").start_child(
                    sv.ChildSpec(
                        "acceptor",
                        AcceptorActor,
                        args=(self._node, conn, peer, self._tls),
                        restart="temporary",
                        shutdown=5.0,
                    )
                )
            except Exception as exc:  # noqa: BLE001 - one refused connection, the loop goes on
                logger.warning("event=acceptor_not_started peer=%s reason=%r", peer, exc)
                _tcp.shutdown(conn)


class AcceptorActor(sv.SupervisedActor):
    """One per incoming connection: owns the socket and the thread that reads it."""

    def __init__(
        self,
        node: Node,
        sock: socket.socket,
        peer: tuple[Any, ...],
        tls: ssl.SSLContext | None = None,
    ) -> None:
        super().__init__()
        self._node = node
        self.connection = ServerConnection(node.server_settings, sock, peer, self._closed, tls)

    def on_start(self) -> None:
        self._node.acceptors.add(self.connection)
        self.connection.start()

    def on_stop(self) -> None:
        self.connection.close()
        self.connection.join(5.0)
        self._node.acceptors.discard(self.connection)

    def _closed(self, reason: str) -> None:
        # What a peer does (close, stall, send garbage) ends its connection normally: only a
        # failure of our own is an abnormal exit worth a supervisor's warning.
        ours = reason == "internal_error"
        sv.exit(self.actor_ref, ConnectionClosed(reason) if ours else sv.NORMAL)


class ConnectionClosed(Exception):  # noqa: N818 - an exit reason, not an error to raise
    """The exit reason of a connection's actor that closed for another cause than the peer's."""


class ClientActor(sv.SupervisedActor):
    """One per ``(node, key)``: owns the outgoing connection and its reader thread."""

    def __init__(self, node: Node, target: Any, connection: Connection) -> None:
        super().__init__()
        self._node, self._target, self.connection = node, target, connection
        connection.on_closed = self._closed

    def on_start(self) -> None:
        self.connection.start()

    def on_stop(self) -> None:
        self.connection.close(BadTcp("closed"))
        self.connection.join(5.0)
        self._node.forget_connection(self._target, self.connection)

    def _closed(self, connection: Connection, error: RpcError) -> None:
        logger.debug("event=client_closed target=%s reason=%r", self._target, error.reason)
        self._node.forget_connection(self._target, connection)
        sv.exit(self.actor_ref, sv.NORMAL)


class Dispatcher(sv.SupervisedActor):
    """Serialises "find or create the connection to (node, key)"; never waits for a connect:
    the new client connects in its own thread while callers queue their requests on it."""

    def __init__(self, node: Node) -> None:
        super().__init__()
        self._node = node

    def on_receive(self, message: Any) -> Any:
        target, node = message, self._node
        existing = node.connections.get(target)
        if existing is not None and not existing.closed:
            return existing
        endpoint = node.endpoint_for(target)  # may raise BadRpc(external_source_error)
        connection = Connection(endpoint)
        node.connections[target] = connection
        try:
            node.tree_child_handle("clients").start_child(
                sv.ChildSpec(
                    "client",
                    ClientActor,
                    args=(node, target, connection),
                    restart="temporary",
                    shutdown=5.0,
                )
            )
        except Exception as exc:
            node.forget_connection(target, connection)
            connection.close(BadRpc(("client_not_started", repr(exc))))
            raise BadRpc(("client_not_started", repr(exc))) from exc
        return connection

"""The two actors that own a connection: an acceptor per incoming one, a client per outgoing."""

from __future__ import annotations

import logging
from collections.abc import Callable
from typing import Any

import supervision as sv
from genrpc_actors._client._connection import Connection
from genrpc_actors._client._table import ClientTable, Tally
from genrpc_actors._errors import BadTcp, RpcError
from genrpc_actors._server._connection import ServerConnection, ServerSettings
from genrpc_actors._server._handshakes import HandshakeGate

__all__ = ["AcceptorActor", "ClientActor", "ConnectionClosed", "Incoming"]

logger = logging.getLogger("genrpc_actors")


class Incoming:
    """What the listeners and acceptors of a node share: the server settings, the set of
    incoming connections (what ``statistics()`` counts, those in their handshake included),
    the bound on handshakes in progress (``gate``), and how to start an acceptor under the
    node's acceptor supervisor (``start_child``)."""

    __slots__ = ("connections", "gate", "settings", "start_child", "tally")

    def __init__(
        self,
        settings: ServerSettings,
        start_child: Callable[[sv.ChildSpec], object],
        tally: Tally | None = None,
    ) -> None:
        self.settings, self.start_child = settings, start_child
        self.tally = tally  # told of each authenticated connection's start and end
        self.connections: set[ServerConnection] = set()
        self.gate = HandshakeGate(settings.name, settings.max_pending)

    def __repr__(self) -> str:
        return (
            f"<Incoming {self.settings.name} connections={len(self.connections)}"
            f" pending_handshakes={self.gate.pending}>"
        )

    def left(self, connection: ServerConnection) -> None:
        """``connection`` has ended: when it was its node's last, that node is gone for this
        one (the actors it spawned here stop)."""
        self.connections.discard(connection)
        if self.tally is not None:
            self.tally.closed(connection)
        peer = connection.peer_name
        if peer and not any(other.peer_name == peer for other in list(self.connections)):
            self.settings.peer_gone(peer)

    def accept(self, connection: ServerConnection) -> None:
        """Start an acceptor for ``connection``, authenticated (raises what the supervisor
        raises if it cannot)."""
        self.start_child(
            sv.ChildSpec(
                "acceptor",
                AcceptorActor,
                args=(self, connection),
                restart="temporary",
                shutdown=5.0,
            )
        )


class AcceptorActor(sv.SupervisedActor):
    """One per authenticated incoming connection: owns its socket and its reading role."""

    def __init__(self, incoming: Incoming, connection: ServerConnection) -> None:
        super().__init__()
        self._incoming = incoming
        self.connection = connection
        connection.on_closed = self._closed

    def on_start(self) -> None:
        incoming = self._incoming
        incoming.connections.add(self.connection)
        if incoming.tally is not None:
            incoming.tally.opened(self.connection.peer_name, self.connection)
        self.connection.start()

    def on_stop(self) -> None:
        self.connection.close()
        self.connection.join(5.0)
        self._incoming.left(self.connection)

    def _closed(self, reason: str) -> None:
        # What a peer does (close, stall, send garbage) ends its connection normally: only a
        # failure of our own is an abnormal exit worth a supervisor's warning.
        ours = reason == "internal_error"
        sv.exit(self.actor_ref, ConnectionClosed(reason) if ours else sv.NORMAL)


class ConnectionClosed(Exception):  # noqa: N818 - an exit reason, not an error to raise
    """The exit reason of a connection's actor that closed for another cause than the peer's."""


class ClientActor(sv.SupervisedActor):
    """One per ``(node, key)``: owns the outgoing connection and its reader thread."""

    def __init__(self, table: ClientTable, target: Any, connection: Connection) -> None:
        super().__init__()
        self._table, self._target, self.connection = table, target, connection
        connection.on_closed = self._closed

    def on_start(self) -> None:
        self.connection.start()

    def on_stop(self) -> None:
        self.connection.close(BadTcp("closed"))
        self.connection.join(5.0)
        self._table.forget(self._target, self.connection)

    def _closed(self, connection: Connection, error: RpcError) -> None:
        logger.debug("event=client_closed target=%s reason=%r", self._target, error.reason)
        self._table.closed(self._target, connection, error.reason)
        sv.exit(self.actor_ref, sv.NORMAL)

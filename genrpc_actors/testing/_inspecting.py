"""Looking inside a node, for tests: its connections, and its counters over RPC."""

from __future__ import annotations

import os
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from genrpc_actors._client._connection import Connection
    from genrpc_actors._node import Node
    from genrpc_actors._server._connection import ServerConnection

__all__ = ["connections", "incoming", "node_statistics"]


def connections(node: Node) -> dict[Any, Connection]:
    """``node``'s outgoing connections by target (``node`` or ``(node, key)``), a snapshot:
    for tests that check which connection a call used. ``Node.statistics()`` counts them."""
    return dict(node._clients.items())  # noqa: SLF001 - the testing kit looks inside a node


def incoming(node: Node) -> list[ServerConnection]:
    """``node``'s incoming connections, a snapshot: for tests that close one or look at its
    peer. ``Node.statistics().acceptors`` counts them."""
    return list(node._incoming.connections)  # noqa: SLF001 - as above


def node_statistics() -> dict[str, Any]:
    """The default node's counters (called over RPC by tests that inspect a remote node)."""
    from genrpc_actors._node import default_node  # noqa: PLC0415 - runs in the remote process

    node = default_node()
    stats = node.statistics()
    return {
        "name": node.name,
        "pid": os.getpid(),
        "nodes": node.nodes(),
        "clients": stats.connections,
        "acceptors": stats.acceptors,
        "pending_handshakes": stats.pending_handshakes,
        "refused_handshakes": stats.refused_handshakes,
        "workers": stats.workers,
    }

"""What a node can tell about itself: ``Node.statistics()``, ``Node.describe()``, and the
function ``genrpc stats`` calls over RPC."""

from __future__ import annotations

from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

import supervision as sv

if TYPE_CHECKING:
    from genrpc_actors._node import Node

__all__ = ["NodeStatistics", "describe", "describe_node", "node_statistics"]


@dataclass(frozen=True, slots=True)
class NodeStatistics:
    """A node's counters at one moment."""

    name: str
    port: int
    running: bool
    connections: int  # outgoing, one per (node, key)
    pending_calls: int  # requests awaiting a reply on those connections
    acceptors: int  # incoming connections
    workers: int  # worker threads, busy or idle
    busy_workers: int


def describe_node(node: Node) -> dict[str, Any]:
    """Everything ``genrpc stats`` shows, as plain data: connections per (node, key) with
    their counters, incoming connections, workers, and the supervision tree's restarts."""
    restarts = {"node": node.tree.statistics().restarts}
    if node.running:
        for info in node.tree.which_children():
            if info.ref is not None and info.id in ("acceptors", "clients"):
                restarts[info.id] = sv.handle(info.ref).statistics().restarts
    return {
        "name": node.name,
        "port": node.port,
        "ssl_port": node.ssl_port or None,
        "running": node.running,
        "connections": {repr(t): c.describe() for t, c in list(node.connections.items())},
        "acceptors": [a.describe() for a in list(node.acceptors)],
        "workers": {"threads": node.workers.size, "busy": node.workers.busy},
        "restarts": restarts,
    }


def node_statistics(node: Node) -> NodeStatistics:
    """The node's counters now."""
    connections = list(node.connections.values())
    return NodeStatistics(
        name=node.name,
        port=node.port,
        running=node.running,
        connections=len(connections),
        pending_calls=sum(c.pending for c in connections),
        acceptors=len(node.acceptors),
        workers=node.workers.size,
        busy_workers=node.workers.busy,
    )


def describe() -> dict[str, Any]:
    """The default node's ``describe()``: what ``genrpc stats`` fetches over RPC."""
    from genrpc_actors._node import default_node  # noqa: PLC0415 - a cycle otherwise

    return describe_node(default_node())

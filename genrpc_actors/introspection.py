"""What a running node can tell about itself, fetched over RPC by ``genrpc stats``.

``describe()`` is part of the wire contract between the ``genrpc`` command and a node: the
command calls ``genrpc_actors.introspection.describe`` on the node it is asked about, so this
module's path and that function's result stay stable. In a program, use ``Node.describe()`` and
``Node.statistics()`` directly.
"""

from __future__ import annotations

from typing import Any

from genrpc_actors._node import default_node

__all__ = ["describe"]


def describe() -> dict[str, Any]:
    """The default node's ``describe()``: connections per (node, key) with their counters,
    incoming connections, workers and the supervision tree's restarts, as plain data."""
    return default_node().describe()

"""A testing kit for code that uses genrpc_actors, and for genrpc_actors itself.

- ``LocalNode``: a node in its own OS process, to call, kill and restart (``local_node_factory``
  is the pytest fixture that stops them after a test).
- ``connection_pair()``: the two ends of one authenticated connection on a Unix socket pair, no
  listener and no process, for tests of the concurrent pieces (outbox, reading role, replies,
  the hand-over of long requests).
- ``FakeClock`` and ``start_node(name, clock=...)``: a node whose timers move only when told.
- ``free_port()``, ``closed_port()``, ``silent_listener()``: loopback ports that are free, refuse
  every connection, or accept and never answer.
- ``connections(node)``, ``incoming(node)``: a node's connections, for tests that look inside;
  ``node_statistics()``, called over RPC, a remote node's counters.
"""

from __future__ import annotations

from genrpc_actors.testing._clock import FakeClock, start_node
from genrpc_actors.testing._connection_pair import ConnectionPair, connection_pair
from genrpc_actors.testing._inspecting import connections, incoming, node_statistics
from genrpc_actors.testing._local_nodes import LocalNode, local_node_factory
from genrpc_actors.testing._ports import closed_port, free_port, silent_listener

__all__ = [
    "ConnectionPair",
    "FakeClock",
    "LocalNode",
    "closed_port",
    "connection_pair",
    "connections",
    "free_port",
    "incoming",
    "local_node_factory",
    "node_statistics",
    "silent_listener",
    "start_node",
]

"""The node and its API: ``Node``, the process's default node, and what calls share.

``_node`` is the ``Node`` (its tree, its life, the RPC methods); ``_routing`` takes a request to
a connection or to the node itself; ``_multi`` sends to many nodes at once; ``_requests`` checks
arguments and turns replies into outcomes; ``_endpoints`` says where a node is reached;
``_registry`` holds named actors; ``_statistics`` the node's counters; ``_counters`` what its
metrics read (and how an exporter is plugged in), ``_call_times`` each call's outcome and latency
when they are on; ``_async_calls`` are the calls of an event loop; ``_node_monitors`` knows which
nodes are up and who watches them.
"""

from __future__ import annotations

from genrpc_actors._node._multi import MultiResult
from genrpc_actors._node._node import Node, default_node
from genrpc_actors._node._node_monitors import NodeDown, NodeMonitorRef, NodeUp
from genrpc_actors._node._remote_actors import RemoteActorRef, RemoteProxy
from genrpc_actors._node._statistics import NodeStatistics

__all__ = [
    "MultiResult",
    "Node",
    "NodeDown",
    "NodeMonitorRef",
    "NodeStatistics",
    "NodeUp",
    "RemoteActorRef",
    "RemoteProxy",
    "default_node",
]

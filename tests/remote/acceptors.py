"""Functions that tests call on remote nodes to look at or close their incoming connections
(acceptors), imported there by name as RPC targets."""

from __future__ import annotations

from genrpc_actors.testing import incoming


def acceptor_peer_ports() -> list[int]:
    """The peer ports of this process's default node's incoming connections."""
    from genrpc_actors._node._node import default_node

    return sorted(int(c.peer[1]) for c in incoming(default_node()))


def close_acceptors_from(port: int) -> int:
    """Close the incoming connections whose peer uses ``port``; returns how many."""
    from genrpc_actors._node._node import default_node

    closing = [c for c in incoming(default_node()) if int(c.peer[1]) == port]
    for connection in closing:
        connection.close()
    return len(closing)


def acceptor_tls_versions() -> list[str | None]:
    """The TLS version of each incoming connection of this process's default node (``None``
    for plain TCP), in the order of their peer ports."""
    from genrpc_actors._node._node import default_node
    from genrpc_actors._transport._tls import TlsTransport

    connections = sorted(incoming(default_node()), key=lambda c: int(c.peer[1]))
    return [c._io.version() if isinstance(c._io, TlsTransport) else None for c in connections]

"""The node's outgoing connections, one per target (``node`` or ``(node, key)``).

The dispatcher adds a connection when it creates one; the connection's client actor forgets it
when it ends; callers look a target up without a lock (``get`` is the dict's own, so a lookup
costs what a dict lookup costs).
"""

from __future__ import annotations

from typing import Any

from genrpc_actors._client._connection import Connection

__all__ = ["ClientTable"]


class ClientTable:
    """Targets to their connections; a connection is forgotten only by the one it replaced."""

    __slots__ = ("_connections", "get")

    def __init__(self) -> None:
        self._connections: dict[Any, Connection] = {}
        self.get = self._connections.get

    def __len__(self) -> int:
        return len(self._connections)

    def __repr__(self) -> str:
        return f"<ClientTable {len(self._connections)} connections>"

    def add(self, target: Any, connection: Connection) -> None:
        self._connections[target] = connection

    def forget(self, target: Any, connection: Connection) -> None:
        """Forget ``target``'s connection if it is still ``connection`` (not a newer one)."""
        if self._connections.get(target) is connection:
            del self._connections[target]

    def items(self) -> list[tuple[Any, Connection]]:
        """A snapshot, safe to iterate while connections come and go."""
        return list(self._connections.items())

    def open_targets(self) -> list[Any]:
        """The targets whose connection has not closed."""
        return [target for target, c in list(self._connections.items()) if not c.closed]

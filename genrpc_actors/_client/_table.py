"""The node's outgoing connections, one per target (``node`` or ``(node, key)``).

The dispatcher adds a connection when it creates one; the connection's client actor forgets it
when it ends; callers look a target up without a lock (``get`` is the dict's own, so a lookup
costs what a dict lookup costs).
"""

from __future__ import annotations

import functools
from collections.abc import Callable
from typing import Any, Protocol

from genrpc_actors._client._connection import Connection

__all__ = ["ClientTable", "Tally"]


Up = Callable[[str], None]  # a connection to this node has authenticated
Down = Callable[..., None]  # (node, *, was_up, reason): a connection to it ended


class Tally(Protocol):
    """Told when a connection starts and ends (the node's metrics keep its counters)."""

    def opened(self, node: str, connection: Any) -> None: ...

    def closed(self, connection: Any) -> None: ...


class ClientTable:
    """Targets to their connections; a connection is forgotten only by the one it replaced.

    It reports each connection's life to ``on_up`` / ``on_down`` by node name (the node's
    monitors), the keys of a node counting as that node."""

    __slots__ = ("_connections", "_on_down", "_on_up", "_tally", "get")

    def __init__(
        self, on_up: Up | None = None, on_down: Down | None = None, tally: Tally | None = None
    ) -> None:
        self._connections: dict[Any, Connection] = {}
        self.get = self._connections.get
        self._on_up, self._on_down = on_up, on_down
        self._tally = tally

    def __len__(self) -> int:
        return len(self._connections)

    def __repr__(self) -> str:
        return f"<ClientTable {len(self._connections)} connections>"

    def add(self, target: Any, connection: Connection) -> None:
        self._connections[target] = connection
        if self._tally is not None:
            self._tally.opened(_node_of(target), connection)
        on_up = self._on_up
        if on_up is not None:
            connection.on_up = functools.partial(on_up, _node_of(target))

    def closed(self, target: Any, connection: Connection, reason: Any) -> None:
        """``connection`` has ended (or never started) with ``reason``: forget it, and tell."""
        self.forget(target, connection)
        on_down = self._on_down
        if on_down is not None:
            on_down(_node_of(target), was_up=connection.was_up, reason=reason)

    def forget(self, target: Any, connection: Connection) -> None:
        """Forget ``target``'s connection if it is still ``connection`` (not a newer one)."""
        if self._tally is not None:
            self._tally.closed(connection)
        if self._connections.get(target) is connection:
            del self._connections[target]

    def connections(self) -> list[Connection]:
        """A snapshot of the connections."""
        return list(self._connections.values())

    def items(self) -> list[tuple[Any, Connection]]:
        """A snapshot, safe to iterate while connections come and go."""
        return list(self._connections.items())

    def open_targets(self) -> list[Any]:
        """The targets whose connection has authenticated and not closed."""
        return [
            target for target, c in list(self._connections.items()) if c.was_up and not c.closed
        ]


def _node_of(target: Any) -> str:
    return target if type(target) is str else str(target[0])

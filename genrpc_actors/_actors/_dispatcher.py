"""The dispatcher: serialises "find or create the connection to (node, key)"."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

import supervision as sv
from genrpc_actors._actors._connection_actors import ClientActor
from genrpc_actors._client._connecting import Endpoint
from genrpc_actors._client._connection import Connection
from genrpc_actors._client._table import ClientTable
from genrpc_actors._errors import BadRpc

__all__ = ["Dispatcher"]


class Dispatcher(sv.SupervisedActor):
    """Asked a target, returns its open connection, creating it (and its client actor) when
    there is none. Never waits for a connect: the new client connects in its own thread while
    callers queue their requests on it.

    ``endpoint_for(target)`` says where and how to reach a target (it may raise ``BadRpc``);
    ``start_child(spec)`` starts a client under the node's client supervisor.
    """

    def __init__(
        self,
        table: ClientTable,
        endpoint_for: Callable[[Any], Endpoint],
        start_child: Callable[[sv.ChildSpec], object],
    ) -> None:
        super().__init__()
        self._table, self._endpoint_for, self._start_child = table, endpoint_for, start_child

    def on_receive(self, message: Any) -> Any:
        target, table = message, self._table
        existing = table.get(target)
        if existing is not None and not existing.closed:
            return existing
        connection = Connection(self._endpoint_for(target))  # may raise BadRpc
        table.add(target, connection)
        try:
            self._start_child(
                sv.ChildSpec(
                    "client",
                    ClientActor,
                    args=(table, target, connection),
                    restart="temporary",
                    shutdown=5.0,
                )
            )
        except Exception as exc:
            connection.close(BadRpc(("client_not_started", repr(exc))))
            table.closed(target, connection, ("client_not_started", repr(exc)))
            raise BadRpc(("client_not_started", repr(exc))) from exc
        return connection

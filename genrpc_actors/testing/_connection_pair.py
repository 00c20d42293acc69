"""Two authenticated ends of one connection on ``socket.socketpair()``: no listener, no process.

::

    from genrpc_actors.testing import connection_pair

    with connection_pair() as pair:
        request_id, reply = pair.client.request(CALL, flags, body, None, reply=True, lead=True)
        pair.client.wait(request_id, reply, 5.0)

The client end is the ``Connection`` a node's callers use, the server end the
``ServerConnection`` an acceptor runs, with a worker pool of its own; between them the real
handshake, framing, outbox and reading roles, over a Unix socket pair. Tests of the concurrent
pieces (the outbox, the reading role, pending replies, the hand-over of a long request) use it
instead of node processes.
"""

from __future__ import annotations

import socket
import threading
from collections.abc import Callable, Collection
from typing import Any, Self

from genrpc_actors._client._connecting import Endpoint, authenticate
from genrpc_actors._client._connection import Connection
from genrpc_actors._errors import BadTcp, RpcError
from genrpc_actors._execution._request import ModuleControl
from genrpc_actors._execution._thread_pool import WorkerPool
from genrpc_actors._server._connection import ServerConnection, ServerSettings
from genrpc_actors._server._handshakes import HandshakeGate, HandshakeLoop

__all__ = ["ConnectionPair", "connection_pair"]

CLIENT = "client@socketpair"
SERVER = "server@socketpair"
COOKIE = b"connection-pair-cookie"


class ConnectionPair:
    """A client end and a server end, connected and authenticating; ``close()`` ends both."""

    client: Connection  # the end a node's callers use
    server: ServerConnection  # the end an acceptor runs

    def __init__(
        self,
        workers: WorkerPool,
        sockets: tuple[socket.socket, socket.socket],
        handshakes: HandshakeLoop,
    ) -> None:
        self.workers = workers  # the server end's
        self._sockets = sockets
        self._handshakes = handshakes  # the server end's, as its listener's
        self.client_closed = threading.Event()  # set when the client end has ended
        self.client_error: RpcError | None = None  # why
        self.server_closed = threading.Event()
        self.server_reason: str | None = None

    def __repr__(self) -> str:
        return f"<ConnectionPair {self.client!r} {self.server!r}>"

    def wait_authenticated(self, timeout: float = 5.0) -> bool:
        """Wait until both ends have authenticated; False if not within ``timeout``."""
        return self.client.wait_connected(timeout) and self.server.wait_authenticated(timeout)

    def close(self) -> None:
        """Close both ends, join their threads, stop the server's workers."""
        self.client.close(BadTcp("closed"))
        self._handshakes.stop()
        self.server.close()
        self.client.join(5.0)
        self.server.join(5.0)
        self.workers.stop(timeout=5.0)
        for sock in self._sockets:
            sock.close()

    def __enter__(self) -> Self:
        return self

    def __exit__(self, *_exc: object) -> None:
        self.close()

    def client_ended(self, _connection: Connection, error: RpcError) -> None:
        """The client end has ended (its owner's callback)."""
        self.client_error = error
        self.client_closed.set()

    def server_ended(self, reason: str) -> None:
        """The server end has ended (its owner's callback)."""
        self.server_reason = reason
        self.server_closed.set()


def connection_pair(
    *,
    client_cookie: bytes = COOKIE,
    server_cookie: bytes = COOKIE,
    send_timeout: float = 5.0,
    auth_timeout: float = 5.0,
    max_frame: int = 256 * 1024 * 1024,
    client_inactivity: float | None = None,
    server_inactivity: float | None = None,
    rpc_module_control: str = "disabled",
    rpc_module_list: Collection[str] = (),
    deliver: Callable[[str, Any], bool] | None = None,
) -> ConnectionPair:
    """Start both ends of a connection over a socket pair; they authenticate in their threads
    (the server end in a handshake loop of its own, as a listener's; ``wait_authenticated``
    waits for it). Different cookies make the handshake
    fail as it would between nodes. ``deliver(name, msg)`` receives broadcasts."""
    client_sock, server_sock = socket.socketpair()
    workers = WorkerPool(SERVER)
    settings = ServerSettings(
        name=SERVER,
        cookie=server_cookie,
        control=ModuleControl(rpc_module_control, rpc_module_list),
        workers=workers,
        auth_timeout=auth_timeout,
        send_timeout=send_timeout,
        inactivity=server_inactivity,
        keepalive=(5, 5, 2),
        max_frame=max_frame,
        deliver=deliver if deliver is not None else (lambda _name, _msg: False),
    )
    endpoint = Endpoint(
        target=SERVER,
        host="socketpair",
        port=0,
        local_name=CLIENT,
        cookie=client_cookie,
        connect_timeout=auth_timeout,
        auth_timeout=auth_timeout,
        send_timeout=send_timeout,
        inactivity=client_inactivity,
        keepalive=(5, 5, 2),
        max_frame=max_frame,
    )

    def over_the_pair(
        endpoint: Endpoint, connected: Callable[[socket.socket], None]
    ) -> tuple[socket.socket, Any]:
        connected(client_sock)
        return client_sock, authenticate(endpoint, client_sock)

    handshakes = HandshakeLoop(
        settings, HandshakeGate(SERVER, 1), set(), ServerConnection.start, name="genrpc-pair"
    )
    pair = ConnectionPair(workers, (client_sock, server_sock), handshakes)
    pair.server = server = ServerConnection(settings, server_sock, ("socketpair", 0))
    server.on_closed = pair.server_ended
    pair.client = client = Connection(endpoint, opener=over_the_pair)
    client.on_closed = pair.client_ended
    handshakes.start()
    handshakes.add(server)
    client.start()
    return pair

"""Making an outgoing connection: TCP, then TLS when the driver is ``ssl``, then the handshake.

``open_connection`` returns a socket that carries frames, authenticated both ways; whatever
fails on the way is raised as ``BadRpc`` (refused, unreachable, wrong cookie, not the node asked
for, a certificate that does not name it) or ``BadTcp`` (the stream failed mid-way).
"""

from __future__ import annotations

import logging
import os
import socket
import ssl
import time
from collections.abc import Callable

from genrpc_actors._errors import BadRpc
from genrpc_actors._protocol import ClientHandshake, FrameTooLarge, HandshakeError
from genrpc_actors._transport import _tcp
from genrpc_actors._transport._handshake_driver import drive_handshake
from genrpc_actors._transport._tls import TlsTransport

__all__ = ["Endpoint", "Opener", "Stream", "authenticate", "open_connection"]

logger = logging.getLogger("genrpc_actors")


class Endpoint:
    """Where and how to reach a node: host, port, and the settings of the connection."""

    __slots__ = (
        "cookie",
        "host",
        "keepalive",
        "local_name",
        "max_frame",
        "port",
        "target",
        "timeouts",
        "tls",
    )

    def __init__(
        self,
        *,
        target: str,
        host: str,
        port: int,
        local_name: str,
        cookie: bytes,
        connect_timeout: float,
        auth_timeout: float,
        send_timeout: float,
        inactivity: float | None,
        keepalive: tuple[int, int, int],
        max_frame: int,
        tls: ssl.SSLContext | None = None,
    ) -> None:
        self.target, self.host, self.port, self.tls = target, host, port, tls
        self.local_name, self.cookie = local_name, cookie
        self.timeouts = (connect_timeout, auth_timeout, send_timeout, inactivity)
        self.keepalive, self.max_frame = keepalive, max_frame

    def __repr__(self) -> str:
        driver = "ssl" if self.tls is not None else "tcp"
        return f"<Endpoint {self.target} {driver} {self.host}:{self.port}>"


Stream = socket.socket | TlsTransport  # what carries the frames once authenticated
# how a connection is made: (endpoint, "TCP is up" callback) -> (socket, stream)
Opener = Callable[[Endpoint, Callable[[socket.socket], None]], tuple[socket.socket, Stream]]


def open_connection(
    endpoint: Endpoint, connected: Callable[[socket.socket], None]
) -> tuple[socket.socket, Stream]:
    """Connect to ``endpoint`` and authenticate; ``(socket, what carries the frames)``.

    ``connected(sock)`` is called as soon as TCP is up, so that the owner can close the socket
    to end a handshake that hangs; if it raises, the socket is closed and the error goes on.
    """
    connect_timeout = endpoint.timeouts[0]
    sock = _tcp.connect(endpoint.host, endpoint.port, connect_timeout, endpoint.keepalive)
    try:
        connected(sock)
    except BaseException:
        _tcp.shutdown(sock)
        raise
    return sock, authenticate(endpoint, sock)


def authenticate(endpoint: Endpoint, sock: socket.socket) -> Stream:
    """Over a connected ``sock``: TLS when the endpoint has a context (the server's certificate
    must name the node), then the handshake. Returns what carries the frames; closes ``sock``
    if anything fails."""
    auth_timeout = endpoint.timeouts[1]
    try:
        io: Stream = sock
        if endpoint.tls is not None:
            transport = TlsTransport(sock, endpoint.tls, server=False)
            transport.handshake(auth_timeout)
            if endpoint.target not in transport.peer_names():
                raise BadRpc("node_certificate_mismatch")
            io = transport
        machine = ClientHandshake(
            endpoint.cookie, endpoint.local_name, endpoint.target, os.urandom(32)
        )
        try:
            drive_handshake(machine, io, time.monotonic() + auth_timeout)
        except HandshakeError as exc:
            raise BadRpc(exc.reason) from None
        except FrameTooLarge:
            raise BadRpc("invalid_message") from None
    except BaseException:
        _tcp.shutdown(sock)
        raise
    logger.debug("event=connected target=%s port=%d", endpoint.target, endpoint.port)
    return io

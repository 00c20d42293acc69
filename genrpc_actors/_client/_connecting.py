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
from typing import TypeVar

from genrpc_actors._errors import BadRpc, BadTcp, RpcError
from genrpc_actors._protocol import ClientHandshake, FrameTooLarge, HandshakeError
from genrpc_actors._transport import _tcp
from genrpc_actors._transport._handshake_driver import drive_handshake
from genrpc_actors._transport._tls import TlsTransport

__all__ = ["Endpoint", "Opener", "Stream", "authenticate", "located", "open_connection"]

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


RpcErrorT = TypeVar("RpcErrorT", bound=RpcError)
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
    deadline = time.monotonic() + connect_timeout  # for TCP, TLS and the handshake together
    try:
        sock = _tcp.connect(endpoint.host, endpoint.port, connect_timeout, endpoint.keepalive)
    except BadRpc as exc:
        raise located(exc, endpoint) from None
    try:
        connected(sock)
    except BaseException:
        _tcp.shutdown(sock)
        raise
    return sock, authenticate(endpoint, sock, deadline)


def authenticate(endpoint: Endpoint, sock: socket.socket, deadline: float | None = None) -> Stream:
    """Over a connected ``sock``: TLS when the endpoint has a context (the server's certificate
    must name the node), then the handshake, both within ``authentication_timeout`` and by
    ``deadline`` (what is left of ``connect_timeout``). Returns what carries the frames; closes
    ``sock`` if anything fails."""
    auth_deadline = time.monotonic() + endpoint.timeouts[1]
    if deadline is not None:
        auth_deadline = min(auth_deadline, deadline)
    try:
        io: Stream = sock
        if endpoint.tls is not None:
            transport = TlsTransport(sock, endpoint.tls, server=False)
            transport.handshake(max(0.0, auth_deadline - time.monotonic()))
            names = transport.peer_names()
            if endpoint.target not in names:
                raise located(BadRpc("node_certificate_mismatch"), endpoint, ", ".join(names))
            io = transport
        machine = ClientHandshake(
            endpoint.cookie, endpoint.local_name, endpoint.target, os.urandom(32)
        )
        try:
            drive_handshake(machine, io, auth_deadline)
        except HandshakeError as exc:
            refused = exc.reason == "node_certificate_mismatch"  # the peer refused ours
            hint = "refused_certificate" if refused else None
            raise located(BadRpc(exc.reason), endpoint, machine.server_name, hint) from None
        except FrameTooLarge:
            raise located(BadRpc("invalid_message"), endpoint) from None
    except RpcError as exc:
        _tcp.shutdown(sock)
        if exc.node is None:  # e.g. the TLS handshake, a stream that failed in the handshake:
            # a connection that never carried a call could not be made (BadRpc, as a refusal)
            failed = BadRpc(exc.reason) if isinstance(exc, BadTcp) else exc
            raise located(failed, endpoint) from None
        raise
    except BaseException:
        _tcp.shutdown(sock)
        raise
    logger.debug("event=connected target=%s port=%d", endpoint.target, endpoint.port)
    return io


# What to check, by reason, when a node cannot be reached ({where}: "NODE at HOST:PORT (DRIVER)")
_HINTS = {
    "econnrefused": "nothing listens on {address}: is {node} running, and on that port? "
    "(its port: tcp_client_port / ssl_client_port, or client_config_per_node)",
    "timeout": "{where} did not answer in time: is the host up, the port open in its firewall?",
    "badnode": "{address} is {answered}, not {node}: which port does {node} listen on?",
    "invalid_cookie": "{where} and this node do not share a cookie: give both the same",
    "node_certificate_mismatch": "the certificate of {address} names {answered}, not {node}",
    "refused_certificate": "{where} refused this node's certificate, which must name this "
    "node, {local}",
    "protocol_version": "{where} speaks another version of the protocol: upgrade the older",
    "nxdomain": "the host of {node} ({host}) has no address: check the name after '@'",
}


def located(
    exc: RpcErrorT, endpoint: Endpoint, answered: str = "", hint: str | None = None
) -> RpcErrorT:
    """``exc`` (same type and reason) that says where it happened and what to check: ``node``,
    ``host``, ``port`` and ``driver`` as attributes, and in the message (``hint``: which of
    the hints, when not the reason's own)."""
    reason = exc.reason
    name = hint or (reason[0] if isinstance(reason, tuple) else reason)
    driver = "ssl" if endpoint.tls is not None else "tcp"
    address = f"{endpoint.host}:{endpoint.port} ({driver})"
    where = f"{endpoint.target} at {address}"
    hint = _HINTS.get(str(name), "{where}")
    text = hint.format(
        where=where,
        address=address,
        node=endpoint.target,
        host=endpoint.host,
        answered=answered or "another node",
        local=endpoint.local_name,
    )
    located_exc = type(exc)(reason, f"{exc}: {text}")
    located_exc.node, located_exc.host = endpoint.target, endpoint.host
    located_exc.port, located_exc.driver = endpoint.port, driver
    return located_exc

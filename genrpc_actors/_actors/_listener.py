"""The listener: a port, and the thread that accepts its connections and runs their handshakes."""

from __future__ import annotations

import errno
import logging
import os
import socket
import ssl

import supervision as sv
from genrpc_actors._actors._connection_actors import Incoming
from genrpc_actors._errors import ConfigError
from genrpc_actors._server._handshakes import HandshakeLoop
from genrpc_actors._transport import _tcp

__all__ = ["ListenAddress", "TcpListener"]

logger = logging.getLogger("genrpc_actors")


class ListenAddress:
    """Where a listener listens: ``port`` is the configured one (0: any free port) until it is
    bound, then the bound one, so that a listener restarted by its supervisor keeps its port."""

    __slots__ = ("host", "port")

    def __init__(self, host: str, port: int) -> None:
        self.host, self.port = host, port

    def __repr__(self) -> str:
        return f"<ListenAddress {self.host}:{self.port}>"


class TcpListener(sv.SupervisedActor):
    """Listens on the node's TCP port (with a TLS context ``tls``: its TLS port).

    One thread, its ``HandshakeLoop``, accepts every connection and runs every handshake that
    has not ended yet, TLS included, without blocking on any of them: a slow, silent or hostile
    client costs a socket, not a thread. A connection that authenticates is handed to a new
    acceptor (``Incoming.accept``).
    """

    def __init__(
        self,
        node_name: str,
        address: ListenAddress,
        incoming: Incoming,
        tls: ssl.SSLContext | None = None,
    ) -> None:
        super().__init__()
        self._name = node_name
        self._driver = "tcp" if tls is None else "ssl"
        self._sock = _listen(address, self._driver)
        address.port = self._sock.getsockname()[1]  # a restart binds the same port
        self._loop = HandshakeLoop(
            incoming.settings,
            incoming.gate,
            incoming.connections,
            incoming.accept,
            listener=self._sock,
            tls=tls,
            failed=self._failed,
            name=f"genrpc-listener-{self._driver}-{node_name}",
        )

    def on_start(self) -> None:
        self._loop.start()
        port = self._sock.getsockname()[1]
        logger.info("event=listening node=%s driver=%s port=%d", self._name, self._driver, port)

    def on_stop(self) -> None:
        self._loop.stop()
        _tcp.shutdown(self._sock)

    def _failed(self, exc: BaseException) -> None:
        """The loop has ended on an error of its own: the listener exits with it (and is
        restarted by its supervisor)."""
        sv.exit(self.actor_ref, exc)


def _listen(address: ListenAddress, driver: str) -> socket.socket:
    """The listening socket, or a ``ConfigError`` that says where and why it could not listen,
    naming the key to change; the ``OSError`` is its ``__cause__``. Raised in ``__init__``, it is
    the ``__cause__`` of the supervisor's ``StartError``, which ``Node.start`` unwraps."""
    try:
        return _tcp.listen(address.host, address.port)
    except OSError as exc:
        host = f"[{address.host}]" if ":" in address.host else address.host
        code = exc.errno or 0  # negative: getaddrinfo's, the address did not resolve
        # the bare message: create_server lengthens exc.strerror with the address
        why = os.strerror(code) if code > 0 else (exc.strerror or str(exc))
        why = why.partition(" (while attempting")[0].lower()
        local = code < 0 or code == errno.EADDRNOTAVAIL  # the address is wrong, not the port
        key = "listen_address" if local else f"{driver}_server_port"
        message = f"cannot listen on {host}:{address.port} ({driver}): {why}"
        raise ConfigError(key, message) from exc

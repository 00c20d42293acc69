"""The listener: accepts sockets on one port and hands each to a new acceptor."""

from __future__ import annotations

import errno
import logging
import ssl
import threading

import supervision as sv
from genrpc_actors._actors._connection_actors import Incoming
from genrpc_actors._transport import _tcp

__all__ = ["ListenAddress", "TcpListener"]

logger = logging.getLogger("genrpc_actors")
_TRANSIENT_ACCEPT_ERRORS = frozenset(
    {errno.EMFILE, errno.ENFILE, errno.ENOBUFS, errno.ENOMEM, errno.ECONNABORTED, errno.EPROTO}
)


class ListenAddress:
    """Where a listener listens: ``port`` is the configured one (0: any free port) until it is
    bound, then the bound one, so that a listener restarted by its supervisor keeps its port."""

    __slots__ = ("host", "port")

    def __init__(self, host: str, port: int) -> None:
        self.host, self.port = host, port

    def __repr__(self) -> str:
        return f"<ListenAddress {self.host}:{self.port}>"


class TcpListener(sv.SupervisedActor):
    """Listens on the node's TCP port; hands every accepted socket to a new acceptor.

    With a TLS context (``tls``) it is the node's TLS listener: the acceptor runs the TLS
    handshake in its own thread, so a slow or hostile client never holds up the accept loop.
    """

    def __init__(
        self,
        node_name: str,
        address: ListenAddress,
        incoming: Incoming,
        tls: ssl.SSLContext | None = None,
    ) -> None:
        super().__init__()
        self._name, self._incoming, self._tls = node_name, incoming, tls
        self._driver = "tcp" if tls is None else "ssl"
        self._sock = _tcp.listen(address.host, address.port)  # a bind error is a StartError
        address.port = self._sock.getsockname()[1]  # a restart binds the same port
        self._thread = threading.Thread(
            target=self._accept_loop,
            name=f"genrpc-listener-{self._driver}-{node_name}",
            daemon=True,
        )
        self._stopping = False

    def on_start(self) -> None:
        self._thread.start()
        port = self._sock.getsockname()[1]
        logger.info("event=listening node=%s driver=%s port=%d", self._name, self._driver, port)

    def on_stop(self) -> None:
        self._stopping = True
        _tcp.shutdown(self._sock)
        self._thread.join()

    def _accept_loop(self) -> None:
        sock = self._sock
        backoff = threading.Event()  # set by nobody: a pause that on_stop's close cuts short
        while True:
            try:
                conn, peer = sock.accept()
            except OSError as exc:
                if self._stopping:
                    return
                if exc.errno in _TRANSIENT_ACCEPT_ERRORS:
                    # out of descriptors or buffers, or a peer gone before accept: wait and go on
                    # (a restart would fail the same way and exhaust the supervisor's intensity)
                    logger.warning("event=accept_paused node=%s reason=%r", self._name, exc)
                    backoff.wait(0.05)
                    continue
                logger.exception("event=accept_failed node=%s", self._name)
                sv.exit(self.actor_ref, exc)
                return
            try:
                self._incoming.accept(conn, peer, self._tls)
            except Exception as exc:  # noqa: BLE001 - one refused connection, the loop goes on
                logger.warning("event=acceptor_not_started peer=%s reason=%r", peer, exc)
                _tcp.shutdown(conn)

"""Serving a node's metrics over HTTP at ``/metrics``, in a thread of their own.

prometheus_client's WSGI app over the stdlib's threading WSGI server: a registry per node (never
the process's default registry, which every node in a process would share), and a server that
stops with the node, its port closed (``stop``). Its thread sleeps in ``poll`` until a scrape
comes (``serve_forever`` would wake it every ``poll_interval`` to look for a stop): ``stop``
wakes it by shutting the listening socket down, which ends its wait at once.
"""

from __future__ import annotations

import contextlib
import logging
import socket
import socketserver
import threading
from typing import Any
from wsgiref.simple_server import WSGIRequestHandler, WSGIServer, make_server

from prometheus_client import CollectorRegistry, make_wsgi_app

from genrpc_actors._errors import ConfigError
from genrpc_actors._node._counters import MetricsSource
from genrpc_actors._observability._collector import NodeCollector

__all__ = ["MetricsEndpoint"]

logger = logging.getLogger("genrpc_actors")
JOIN = 5.0  # seconds a stop waits for the serving thread


class _Server(socketserver.ThreadingMixIn, WSGIServer):
    daemon_threads = True  # a scrape still being answered does not hold the node's stop
    timeout = None  # handle_request() waits for a scrape, however long
    stopping = False

    def serve_until_stopped(self) -> None:
        while not self.stopping:
            self.handle_request()


class _Server6(_Server):
    address_family = socket.AF_INET6


class _Quiet(WSGIRequestHandler):
    """Logs each scrape at debug level, through the library's logger, not to stderr."""

    def log_message(self, format: str, *args: Any) -> None:
        line = format % args
        logger.debug("event=metrics_scraped client=%s line=%r", self.client_address[0], line)


class MetricsEndpoint:
    """A node's ``/metrics``, served until ``stop``; ``port`` is the one bound."""

    def __init__(self, name: str, server: _Server, thread: threading.Thread) -> None:
        self._name, self._server, self._thread = name, server, thread
        self.port: int = server.server_port

    def __repr__(self) -> str:
        state = "serving" if self._thread.is_alive() else "stopped"
        return f"<MetricsEndpoint {self._name} port={self.port} {state}>"

    @classmethod
    def start(cls, source: MetricsSource, host: str, port: int) -> MetricsEndpoint:
        """Serve ``source``'s metrics on ``host:port``; ``ConfigError`` naming ``metrics_port``
        and the address if it cannot be bound (taken, or not an address of this host)."""
        registry = CollectorRegistry(auto_describe=False)
        registry.register(NodeCollector(source))
        server_class = _Server6 if ":" in host else _Server
        try:
            server = make_server(
                host, port, make_wsgi_app(registry), server_class, handler_class=_Quiet
            )
        except OSError as exc:
            where = f"[{host}]:{port}" if ":" in host else f"{host}:{port}"
            raise ConfigError(
                "metrics_port", f"cannot serve metrics on {where}: {exc.strerror or exc}"
            ) from exc
        thread = threading.Thread(
            target=server.serve_until_stopped, name=f"genrpc-metrics-{source.name}", daemon=True
        )
        thread.start()
        return cls(source.name, server, thread)

    def stop(self) -> None:
        """Stop serving and close the port (scrapes under way end with the connection)."""
        server = self._server
        server.stopping = True
        with contextlib.suppress(OSError):  # wakes its poll; its accept then fails
            server.socket.shutdown(socket.SHUT_RDWR)
        self._thread.join(JOIN)
        if self._thread.is_alive():
            logger.warning("event=metrics_server_still_running node=%s", self._name)
        server.server_close()

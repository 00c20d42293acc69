"""The counters behind a node's metrics, and how an exporter from above is plugged in.

Most figures are read when they are asked for (a scrape), from what the node keeps anyway: its
connections' frame and byte counters, its workers, its supervisors. What must outlive the thing
it counts is kept here: the traffic of connections that have ended, folded into totals per node
(``ConnectionTally``), so that a counter never goes back; and the outcome and latency of each
call this node makes (``_call_times.CallRecorder``), kept only when metrics are on.

The exporter (Prometheus, in ``genrpc_actors._observability``) sits above the node layer; it is
plugged in with ``install`` by the package, and the node starts it through ``start_metrics``.
"""

from __future__ import annotations

import threading
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any, NamedTuple, Protocol

from genrpc_actors import _protocol
from genrpc_actors._client._reply import Reply
from genrpc_actors._errors import BadRpc, ConfigError
from genrpc_actors._execution._process_workers import ProcessWorkers
from genrpc_actors._execution._thread_pool import WorkerPool
from genrpc_actors._node._call_times import CallRecorder, outcome_of

__all__ = [
    "ConnectionTally",
    "MetricsServer",
    "MetricsSource",
    "Traffic",
    "install",
    "replied",
    "reply_outcome",
    "start_metrics",
]


def reply_outcome(reply: Reply) -> str:
    """The outcome word of a finished ``Reply``: an error reply's reason is read from its body
    with every global refused (nothing in it runs; its exception stays unread)."""
    if reply.error is not None:
        return outcome_of(reply.error)
    raw = reply.raw
    if raw is None or raw[0] != _protocol.ERROR:
        return "ok"
    try:
        reason = _protocol.decode_body(raw[2], raw[1], _plain, inert=True)[0]
        return outcome_of(BadRpc(reason))
    except Exception:  # noqa: BLE001 - a body resolve() will refuse: its caller learns why
        return "badrpc:other"


def _plain(module: str, name: str) -> bool:
    return (module, name) in _protocol.PLAIN_GLOBALS


def replied(calls: CallRecorder, target: Any, started: int, reply: Reply) -> None:
    """An async call's reply (or its error) has come: a ``Reply`` callback."""
    calls.ended(target, reply_outcome(reply), started)


class Traffic(NamedTuple):
    """What went through connections: frames (requests and replies; heartbeats not counted),
    bytes, and the calls served (answered here, and of them the errors)."""

    frames_sent: int = 0
    frames_received: int = 0
    bytes_sent: int = 0
    bytes_received: int = 0
    calls_served: int = 0
    calls_failed: int = 0

    def __add__(self, other: tuple[Any, ...]) -> Traffic:
        return Traffic(*(a + b for a, b in zip(self, other, strict=True)))


class ConnectionTally:
    """The connections of one direction by node: open ones read when asked, ended ones folded
    into totals at their end, under one lock, so that a node's totals only grow."""

    def __init__(self, read: Callable[[Any], Traffic]) -> None:
        self._read = read
        self._lock = threading.Lock()
        self._open: dict[int, tuple[str, Any]] = {}
        self._ended: dict[str, Traffic] = {}

    def __repr__(self) -> str:
        return f"<ConnectionTally open={len(self._open)} nodes_ended={len(self._ended)}>"

    def opened(self, node: str, connection: Any) -> None:
        with self._lock:
            self._open[id(connection)] = (node, connection)

    def closed(self, connection: Any) -> None:
        """``connection`` has ended (told more than once: counted once)."""
        with self._lock:
            entry = self._open.pop(id(connection), None)  # held there: its id is not reused
            if entry is not None:
                node = entry[0]
                self._ended[node] = self._ended.get(node, Traffic()) + self._read(connection)

    def totals(self) -> dict[str, Traffic]:
        """Every node's traffic so far, its open and its ended connections together."""
        with self._lock:
            totals = dict(self._ended)
            for node, connection in self._open.values():
                totals[node] = totals.get(node, Traffic()) + self._read(connection)
        return totals

    def connections(self) -> list[tuple[str, Any]]:
        """The open connections, with their node."""
        with self._lock:
            return list(self._open.values())


@dataclass(frozen=True)
class MetricsSource:
    """What a node shows its exporter: its counters, and callables that read the rest."""

    name: str
    calls: CallRecorder
    outgoing: ConnectionTally
    incoming: ConnectionTally
    connections_up: Callable[[], dict[tuple[str, str], int]]  # (node, direction) -> count
    node_events: Callable[[], dict[tuple[str, str], int]]  # (node, "up"/"down") -> count
    restarts: Callable[[], dict[str, int]]  # supervisor -> restarts so far
    workers: WorkerPool
    processes: ProcessWorkers | None


class MetricsServer(Protocol):
    """A running exporter: the port it serves on, and how to stop it."""

    @property
    def port(self) -> int: ...

    def stop(self) -> None: ...


MetricsStart = Callable[[MetricsSource, str, int], MetricsServer]  # (source, host, port)
_start: MetricsStart | None = None


def install(start: MetricsStart) -> None:
    """Plug in the exporter that nodes with ``metrics_port`` start (the package does)."""
    global _start  # noqa: PLW0603 - one exporter per process, as _exports' one exporter
    _start = start


def start_metrics(source: MetricsSource, host: str, port: int) -> MetricsServer:
    """Start the exporter for a node; ``ConfigError`` when it cannot serve."""
    if _start is None:
        raise ConfigError("metrics_port", "no metrics exporter is installed")
    return _start(source, host, port)

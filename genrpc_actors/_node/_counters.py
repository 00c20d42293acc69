"""The counters behind a node's metrics, and how an exporter from above is plugged in.

Most figures are read when they are asked for (a scrape), from what the node keeps anyway: its
connections' frame and byte counters, its workers, its supervisors. What must outlive the thing
it counts is kept here: the traffic of connections that have ended, folded into totals per node
(``ConnectionTally``), so that a counter never goes back; and the outcome and latency of each
call this node makes (``CallRecorder``), kept only when metrics are on: a few integer
increments per call, under a lock of the called node's own.

The exporter (Prometheus, in ``genrpc_actors._observability``) sits above the node layer; it is
plugged in with ``install`` by the package, and the node starts it through ``start_metrics``.
"""

from __future__ import annotations

import bisect
import threading
import time
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any, Final, NamedTuple, Protocol

from genrpc_actors import _protocol
from genrpc_actors._client._reply import Reply
from genrpc_actors._errors import BadRpc, BadTcp, ConfigError, RpcError
from genrpc_actors._execution._process_workers import ProcessWorkers
from genrpc_actors._execution._thread_pool import WorkerPool

__all__ = [
    "LATENCY_BUCKETS",
    "CallRecorder",
    "CallTimes",
    "ConnectionTally",
    "MetricsServer",
    "MetricsSource",
    "Traffic",
    "install",
    "outcome_of",
    "reply_outcome",
    "start_metrics",
]

# upper bounds in seconds: a local call takes ~50 us, a remote one ~100 us, a slow one seconds
LATENCY_BUCKETS: Final = (
    0.0001, 0.00025, 0.0005, 0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5,
    5.0, 10.0,
)  # fmt: skip
# the BadRpc reasons a call's outcome is labelled with; any other is "badrpc:other"
KNOWN_REASONS: Final = frozenset(
    {
        "EXIT",
        "badnode",
        "econnrefused",
        "ehostunreach",
        "external_source_error",
        "incompatible",
        "invalid_cookie",
        "invalid_reply",
        "killed",
        "node_certificate_mismatch",
        "noproc",
        "not_running",
        "unauthorized",
        "undecodable",
        "undecodable_reply",
        "unpicklable_argument",
        "unpicklable_result",
    }
)


def outcome_of(error: BaseException | None) -> str:
    """A call's outcome in one of a bounded set of words: ``ok``, ``timeout``, ``badtcp``, or
    ``badrpc:REASON`` (``REASON`` one of ``KNOWN_REASONS``, else ``other``)."""
    if error is None:
        return "ok"
    if isinstance(error, BadTcp):
        return "badtcp"
    if isinstance(error, BadRpc):
        reason = error.reason
        word = reason if isinstance(reason, str) else reason[0]
        if word == "timeout":
            return "timeout"
        return f"badrpc:{word}" if word in KNOWN_REASONS else "badrpc:other"
    return "error"  # another RpcError (local misuse)


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


class CallTimes:
    """The calls made to one node: how many by outcome, and their latency in buckets."""

    __slots__ = ("buckets", "lock", "outcomes", "seconds")

    def __init__(self) -> None:
        self.lock = threading.Lock()
        self.buckets = [0] * (len(LATENCY_BUCKETS) + 1)  # the last: past every bound
        self.seconds = 0.0  # their sum
        self.outcomes: dict[str, int] = {}

    def observe(self, outcome: str, seconds: float) -> None:
        with self.lock:
            self.buckets[bisect.bisect_left(LATENCY_BUCKETS, seconds)] += 1
            self.seconds += seconds
            self.outcomes[outcome] = self.outcomes.get(outcome, 0) + 1


class CallRecorder:
    """Outcome and latency of the calls this node makes, by called node (keys count as their
    node: a label per key could grow without bound)."""

    __slots__ = ("_lock", "nodes")

    def __init__(self) -> None:
        self._lock = threading.Lock()
        self.nodes: dict[str, CallTimes] = {}

    def __repr__(self) -> str:
        return f"<CallRecorder nodes={len(self.nodes)}>"

    def observe(self, target: Any, error: RpcError | None, seconds: float) -> None:
        """One call to ``target`` ended, ``error`` being its error (None: it returned)."""
        self._times(target).observe("ok" if error is None else outcome_of(error), seconds)

    def replied(self, target: Any, started: float, reply: Reply) -> None:
        """An async call's reply has come (or its error): a ``Reply`` callback."""
        self._times(target).observe(reply_outcome(reply), time.perf_counter() - started)

    def _times(self, target: Any) -> CallTimes:
        node = target if type(target) is str else str(target[0])
        times = self.nodes.get(node)
        if times is None:
            with self._lock:
                times = self.nodes.setdefault(node, CallTimes())
        return times


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
            entry = self._open.pop(id(connection), None)
            if entry is not None and entry[1] is connection:
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

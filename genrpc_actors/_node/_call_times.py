"""The outcome and latency of each call a node makes, when its metrics are on: ``CallRecorder``.

This is on the caller's path, once per call: compiled with mypyc (``genrpc_actors._compiled``),
it reads the clock once (in nanoseconds: integers, nothing allocated), finds the called node's
counters in a dict, and counts the call in preallocated buckets. It takes no lock (one would
cost about as much as the rest): compiled, a method here runs no bytecode between reading a
counter and writing it back, so no other thread runs in between (the GIL is not let go); run as
pure Python, an increment lost to a thread switch is possible under concurrent calls, as for
the connections' own counters. Outcomes are words from a bounded set (``outcome_of``); nodes
are names, never shard keys, so the labels a scrape makes stay few.
"""

from __future__ import annotations

import threading
import time
from typing import Any, Final

from genrpc_actors._errors import BadRpc, BadTcp

__all__ = [
    "KNOWN_REASONS",
    "LATENCY_BUCKETS",
    "CallRecorder",
    "CallTimes",
    "clock",
    "outcome_of",
]

# upper bounds in seconds: a local call takes ~50 us, a remote one ~100 us, a slow one seconds
LATENCY_BUCKETS: Final = (
    0.0001, 0.00025, 0.0005, 0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5,
    5.0, 10.0,
)  # fmt: skip
_BOUNDS_NS: Final = (  # the same in nanoseconds (a test checks they agree)
    100_000, 250_000, 500_000, 1_000_000, 2_500_000, 5_000_000, 10_000_000, 25_000_000,
    50_000_000, 100_000_000, 250_000_000, 500_000_000, 1_000_000_000, 2_500_000_000,
    5_000_000_000, 10_000_000_000,
)  # fmt: skip
_LAST: Final = 16
clock: Final = time.perf_counter_ns  # when a call began (``started``), in nanoseconds
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


class CallTimes:
    """The calls made to one node: how many returned, how many failed by outcome, and their
    latency in buckets (the last one past every bound)."""

    def __init__(self) -> None:
        # the bounds read from here: compiled, a Final tuple read in a method is built anew
        # at every read
        self.bounds: tuple[int, ...] = _BOUNDS_NS
        self.buckets: list[int] = [0] * (_LAST + 1)
        self.nanoseconds = 0  # their sum
        self.ok = 0
        self.failed: dict[str, int] = {}  # by outcome

    def observe(self, outcome: str | None, nanoseconds: int) -> None:
        """One call took ``nanoseconds``; ``outcome`` None: it returned."""
        bounds = self.bounds
        index = 0  # the first bucket whose bound it does not pass (most calls: the first)
        while index < _LAST and bounds[index] < nanoseconds:
            index += 1
        self.buckets[index] += 1
        self.nanoseconds += nanoseconds
        if outcome is None:
            self.ok += 1
        else:
            self.failed[outcome] = self.failed.get(outcome, 0) + 1

    def snapshot(self) -> tuple[list[int], float, dict[str, int]]:
        """The bucket counts (not cumulative), their sum in seconds, and the calls by outcome
        word (``ok`` among them), read together."""
        outcomes = dict(self.failed)
        if self.ok:
            outcomes["ok"] = self.ok
        return list(self.buckets), self.nanoseconds / 1e9, outcomes


class CallRecorder:
    """Outcome and latency of the calls this node makes, by called node (keys count as their
    node: a label per key could grow without bound). ``started`` is ``clock()`` (nanoseconds)
    when the call began."""

    def __init__(self) -> None:
        self._lock = threading.Lock()
        self.nodes: dict[str, CallTimes] = {}

    def __repr__(self) -> str:
        return f"<CallRecorder nodes={len(self.nodes)}>"

    def ok(self, target: Any, started: int) -> None:
        """A call to ``target`` returned."""
        elapsed = time.perf_counter_ns() - started
        times = self.nodes.get(target) if type(target) is str else None
        if times is None:
            times = self.times(target)
        times.observe(None, elapsed)

    def failed(self, target: Any, error: BaseException, started: int) -> None:
        """A call to ``target`` raised ``error``."""
        self.times(target).observe(outcome_of(error), time.perf_counter_ns() - started)

    def ended(self, target: Any, outcome: str, started: int) -> None:
        """A call to ``target`` ended with ``outcome`` (a word of ``outcome_of``)."""
        elapsed = time.perf_counter_ns() - started
        self.times(target).observe(None if outcome == "ok" else outcome, elapsed)

    def times(self, target: Any) -> CallTimes:
        """The counters of ``target``'s node (made on its first call)."""
        node: str = target if type(target) is str else str(target[0])
        times = self.nodes.get(node)
        if times is None:
            with self._lock:
                times = self.nodes.setdefault(node, CallTimes())
        return times

"""A node's metrics, made when a scrape asks, from the counters the node keeps anyway.

Every family is named ``genrpc_...``; its labels are bounded: the peer node (never a request,
never a shard key), a direction, an outcome from a fixed set (``_counters.outcome_of``), a
worker kind, a supervisor, a kill reason. Nothing here runs on a call's path: a scrape reads.

| family | type | labels |
|---|---|---|
| ``genrpc_calls_total`` | counter | ``node``, ``outcome``: calls made (call, acall, async_call) |
| ``genrpc_call_duration_seconds`` | histogram | ``node``: their latency |
| ``genrpc_calls_served_total`` | counter | ``node``, ``outcome`` (ok, error): calls run here |
| ``genrpc_frames_total`` | counter | ``node``, ``connection``, ``direction`` |
| ``genrpc_bytes_total`` | counter | ``node``, ``connection``, ``direction`` |
| ``genrpc_connections`` | gauge | ``node``, ``connection``: authenticated, open |
| ``genrpc_node_events_total`` | counter | ``node``, ``event`` (up, down) |
| ``genrpc_workers`` | gauge | ``kind`` (thread, process) |
| ``genrpc_workers_busy`` | gauge | ``kind`` |
| ``genrpc_requests_queued`` | gauge | ``kind``: waiting for a free worker |
| ``genrpc_process_worker_kills_total`` | counter | ``reason`` (time_limit, exit 3, ...) |
| ``genrpc_supervisor_restarts_total`` | counter | ``supervisor`` (node, acceptors, clients) |

``connection`` is ``outgoing`` (this node called) or ``incoming`` (it was called); frames are
requests and replies (heartbeats not counted), bytes everything after authentication.
"""

from __future__ import annotations

import collections
from collections.abc import Iterator

from prometheus_client.core import (
    CounterMetricFamily,
    GaugeMetricFamily,
    HistogramMetricFamily,
    Metric,
)
from prometheus_client.registry import Collector

from genrpc_actors._node._call_times import LATENCY_BUCKETS
from genrpc_actors._node._counters import MetricsSource, Traffic

__all__ = ["NodeCollector"]

_BOUNDS = [*(repr(float(bound)) for bound in LATENCY_BUCKETS), "+Inf"]


class NodeCollector(Collector):
    """Collects one node's metrics (registered in a registry of that node's own)."""

    def __init__(self, source: MetricsSource) -> None:
        self._source = source

    def __repr__(self) -> str:
        return f"<NodeCollector {self._source.name}>"

    def collect(self) -> Iterator[Metric]:
        source = self._source
        yield from self._calls()
        yield from self._traffic()
        up = GaugeMetricFamily(
            "genrpc_connections",
            "Authenticated open connections, by node and direction.",
            labels=["node", "connection"],
        )
        for (node, direction), count in sorted(source.connections_up().items()):
            up.add_metric([node, direction], count)
        yield up
        events = CounterMetricFamily(
            "genrpc_node_events",
            "Times a node came up or went down for this one.",
            labels=["node", "event"],
        )
        for (node, event), count in sorted(source.node_events().items()):
            events.add_metric([node, event], count)
        yield events
        yield from self._workers()
        restarts = CounterMetricFamily(
            "genrpc_supervisor_restarts",
            "Children restarted by the node's supervisors.",
            labels=["supervisor"],
        )
        for supervisor, count in sorted(source.restarts().items()):
            restarts.add_metric([supervisor], count)
        yield restarts

    def _calls(self) -> Iterator[Metric]:
        made = CounterMetricFamily(
            "genrpc_calls",
            "Calls this node made (call, acall, async_call), by called node and outcome.",
            labels=["node", "outcome"],
        )
        latency = HistogramMetricFamily(
            "genrpc_call_duration_seconds",
            "Latency of the calls this node made, from send to outcome, by called node.",
            labels=["node"],
        )
        for node, times in sorted(self._source.calls.nodes.items()):
            counts, seconds, outcomes = times.snapshot()
            for outcome, count in sorted(outcomes.items()):
                made.add_metric([node, outcome], count)
            cumulative, total = [], 0
            for bound, count in zip(_BOUNDS, counts, strict=True):
                total += count
                cumulative.append((bound, float(total)))
            latency.add_metric([node], cumulative, seconds)
        yield made
        yield latency

    def _traffic(self) -> Iterator[Metric]:
        served = CounterMetricFamily(
            "genrpc_calls_served",
            "Calls from other nodes run here, by calling node and outcome (ok or error).",
            labels=["node", "outcome"],
        )
        frames = CounterMetricFamily(
            "genrpc_frames",
            "Request and reply frames, by node, connection (outgoing, incoming), direction.",
            labels=["node", "connection", "direction"],
        )
        data = CounterMetricFamily(
            "genrpc_bytes",
            "Bytes, by node, connection (outgoing, incoming) and direction.",
            labels=["node", "connection", "direction"],
        )
        directions = (("outgoing", self._source.outgoing), ("incoming", self._source.incoming))
        for connection, tally in directions:
            totals: dict[str, Traffic] = tally.totals()
            for node, traffic in sorted(totals.items()):
                frames.add_metric([node, connection, "sent"], traffic.frames_sent)
                frames.add_metric([node, connection, "received"], traffic.frames_received)
                data.add_metric([node, connection, "sent"], traffic.bytes_sent)
                data.add_metric([node, connection, "received"], traffic.bytes_received)
                if connection == "incoming":
                    ok = traffic.calls_served - traffic.calls_failed
                    served.add_metric([node, "ok"], ok)
                    served.add_metric([node, "error"], traffic.calls_failed)
        yield served
        yield frames
        yield data

    def _workers(self) -> Iterator[Metric]:
        source = self._source
        workers = GaugeMetricFamily(
            "genrpc_workers", "Worker threads and processes.", labels=["kind"]
        )
        busy = GaugeMetricFamily(
            "genrpc_workers_busy", "Workers running a request now.", labels=["kind"]
        )
        queued = GaugeMetricFamily(
            "genrpc_requests_queued", "Requests waiting for a free worker.", labels=["kind"]
        )
        pool = source.workers
        workers.add_metric(["thread"], pool.size)
        busy.add_metric(["thread"], pool.busy)
        queued.add_metric(["thread"], pool.queued)
        kills = CounterMetricFamily(
            "genrpc_process_worker_kills",
            "Process workers killed, by why (time_limit, memory_limit, cancelled, exit N, ...).",
            labels=["reason"],
        )
        processes = source.processes
        if processes is not None:
            workers.add_metric(["process"], processes.size)
            busy.add_metric(["process"], processes.busy)
            queued.add_metric(["process"], processes.queued)
            by_reason: collections.Counter[str] = collections.Counter()
            for worker in processes.statistics():
                by_reason.update(worker.kills)
            for reason, count in sorted(by_reason.items()):
                kills.add_metric([reason], count)
        yield workers
        yield busy
        yield queued
        yield kills

"""Rounds of every workload on every installed peer: each in a fresh server and client process.

For each round and each peer (in an order that rotates from round to round), the peer's server
starts in a process of its own, a client process runs the workloads against it and sends its
figures back, and the server is stopped (the ``incoming`` workload, whose client processes
the harness starts itself, runs once that client process is done). The result is plain data
(``run`` returns a dict that ``benchmarks.report`` turns into the table).
"""

from __future__ import annotations

import datetime
import importlib.util
import multiprocessing
import os
import platform
import sys
from collections.abc import Callable
from dataclasses import asdict, dataclass, field
from multiprocessing.connection import Connection as Pipe
from typing import Any

from benchmarks import targets
from benchmarks.servers import (
    GENRPC,
    GENRPC_METRICS,
    GENRPC_PROCESSES,
    GRPC,
    GRPC_BLOCKING,
    RAY,
    ServerHandle,
)

PEERS = (
    "floor",
    GENRPC,
    GENRPC_PROCESSES,
    GENRPC_METRICS,
    "Pyro5",
    "rpyc",
    "managers",
    GRPC_BLOCKING,
    GRPC,
    RAY,
)
WORKLOADS = (
    "sequential",
    "callers8",
    "callers64",
    "pipelined",
    "incoming",
    "echo",
    "casts",
    "isolation",
    "connections",
    "cpu_parallel",
    "noisy_neighbour",
    "overhead",
    "kill_latency",
    "asyncio_fanout",
    "asyncio_sequential",
    "actor_ask",
)
CPU_WORKLOADS = ("cpu_parallel", "noisy_neighbour", "overhead", "kill_latency")
ASYNC_WORKLOADS = ("asyncio_fanout", "asyncio_sequential")
# The workloads that the blocking gRPC peer runs: small calls, the echo and the pipeline.
GRPC_WORKLOADS = ("sequential", "callers8", "callers64", "pipelined", "echo")
# The peers with many calls in flight on one connection (``session.pipelines``): genrpc_actors'
# async_call, rpyc's async_, gRPC's future(); Pyro5 and managers have one at a time.
PIPELINING = ("floor", GENRPC, "rpyc", GRPC_BLOCKING)
INCOMING = ("floor", GENRPC)  # the peers that the incoming workload runs on
# What metrics cost: the small calls, on nodes that serve metrics (beside genrpc_actors' own)
METRICS_WORKLOADS = ("sequential", "callers8")
# peer -> the module it needs
REQUIRES = {"Pyro5": "Pyro5", "rpyc": "rpyc", GRPC_BLOCKING: "grpc", GRPC: "grpc", RAY: "ray"}


@dataclass(frozen=True)
class Plan:
    rounds: int = 3
    seconds: float = 2.0
    pin: int | None = None
    peers: tuple[str, ...] = PEERS
    workloads: tuple[str, ...] = WORKLOADS
    casts_big: int = 100_000
    casts_small: int = 10_000
    # Peers too slow for the full burst send fewer (the table prints the count each used).
    casts_big_limit: dict[str, int] = field(default_factory=dict)
    connections: int = 1000
    fanout: int = 10_000  # asyncio calls at once
    pipeline_depth: int = 1000  # calls in flight at once in the pipelined workloads
    incoming_processes: int = 4  # the client processes of the incoming workload

    def cast_counts(self, peer: str) -> tuple[int, int]:
        big = min(self.casts_big, self.casts_big_limit.get(peer, self.casts_big))
        return big, min(self.casts_small, big)


QUICK = {
    "rounds": 1,
    "seconds": 0.2,
    "casts_big": 2000,
    "casts_small": 200,
    "connections": 50,
    "fanout": 500,
    "pipeline_depth": 200,
}


def installed(peers: tuple[str, ...]) -> tuple[list[str], dict[str, str]]:
    """The peers that can run here, and the reason each other one is skipped."""
    ready, skipped = [], {}
    for peer in peers:
        module = REQUIRES.get(peer)
        if module is not None and importlib.util.find_spec(module) is None:
            skipped[peer] = f"{module} is not installed (pip install -e '.[bench]')"
        else:
            ready.append(peer)
    return ready, skipped


def _applies(peer: str, workload: str, casts: bool) -> bool:
    if workload == "actor_ask":
        return peer in (GENRPC, "Pyro5", RAY)
    if peer == RAY:  # it is there for the remote actors
        return False
    if workload in ASYNC_WORKLOADS:
        return peer in (GENRPC, GRPC)
    if peer == GRPC:  # it is there for the asyncio workloads
        return False
    if peer == GRPC_BLOCKING:
        return workload in GRPC_WORKLOADS
    if workload == "pipelined":
        return peer in PIPELINING
    if workload == "incoming":
        return peer in INCOMING
    if peer == GENRPC_PROCESSES:  # the same node but for where CPU-bound requests run
        return workload in CPU_WORKLOADS
    if peer == GENRPC_METRICS:  # the same nodes, serving metrics
        return workload in METRICS_WORKLOADS
    if workload == "casts":
        return casts
    if workload in ("connections", "overhead"):
        return peer == GENRPC
    return workload != "kill_latency"  # process workers only


def measured_peers(plan: Plan) -> tuple[str, ...]:
    """The peers of ``plan`` with a workload of it to run: the others are not even started
    (the floor, when only the asyncio workloads are chosen)."""
    return tuple(
        peer
        for peer in plan.peers
        if any(_applies(peer, workload, casts=True) for workload in plan.workloads)
    )


def _run_workload(workload: str, session: Any, peer: str, plan: Plan, server_pid: int) -> Any:
    from benchmarks import async_workloads  # noqa: PLC0415
    from benchmarks import workloads as w  # noqa: PLC0415

    if workload.startswith("callers"):
        callers = int(workload.removeprefix("callers"))
        return w.concurrent(session, plan.seconds, callers, server_pid)
    seconds = plan.seconds
    runs: dict[str, Callable[[], Any]] = {
        "asyncio_fanout": lambda: async_workloads.asyncio_fanout(session, server_pid, plan.fanout),
        "asyncio_sequential": lambda: async_workloads.asyncio_sequential(session, seconds),
        "actor_ask": lambda: w.actor_ask(session, seconds),
        "sequential": lambda: w.sequential(session, seconds, server_pid),
        "pipelined": lambda: w.pipelined(session, seconds, plan.pipeline_depth, server_pid),
        "echo": lambda: w.echo(session, seconds),
        "casts": lambda: w.casts(session, *plan.cast_counts(peer)),
        "isolation": lambda: w.isolation(session, seconds),
        "cpu_parallel": lambda: w.cpu_parallel(session, seconds, 2 * (os.cpu_count() or 1)),
        "noisy_neighbour": lambda: w.noisy_neighbour(session, seconds),
        "overhead": lambda: w.overhead(session, seconds),
        "kill_latency": lambda: w.kill_latency(session),
        "connections": lambda: w.connections(session, server_pid, plan.connections),
    }
    return runs[workload]()


def _client(peer: str, address: Any, server_pid: int, plan: Plan, pipe: Pipe) -> None:
    targets.setup_process(plan.pin)
    from benchmarks.clients import SESSIONS  # noqa: PLC0415

    figures: dict[str, Any] = {}
    session = SESSIONS[peer](address, plan.pin)
    try:
        for workload in plan.workloads:
            if workload == "incoming" or not _applies(peer, workload, session.casts):
                continue  # the harness runs incoming itself
            try:
                result = _run_workload(workload, session, peer, plan, server_pid)
            except Exception as exc:
                figures[f"{workload}.error"] = f"{type(exc).__name__}: {exc}"
                continue
            figures.update({f"{workload}.{key}": value for key, value in result.items()})
    finally:
        session.close()
    pipe.send(figures)


def _budget(plan: Plan) -> float:
    """How long a client process may take before it is given up on (and killed)."""
    return 120 + 20 * plan.seconds + (900 if "casts" in plan.workloads else 0)


def _incoming(peer: str, server: ServerHandle, plan: Plan) -> dict[str, Any]:
    from benchmarks.incoming import incoming  # noqa: PLC0415

    assert server.pid is not None
    try:
        figures = incoming(
            peer,
            server.address,
            server.pid,
            plan.seconds,
            plan.pipeline_depth,
            plan.incoming_processes,
            plan.pin,
        )
    except Exception as exc:
        return {"incoming.error": f"{type(exc).__name__}: {exc}"}
    return {f"incoming.{key}": value for key, value in figures.items()}


def run_peer(peer: str, plan: Plan) -> dict[str, Any]:
    """One round of every workload on ``peer``: its figures, or ``{"error": ...}``."""
    with ServerHandle(peer, plan.pin) as server:
        figures = _run_client(peer, server, plan)
        incoming = "incoming" in plan.workloads and _applies(peer, "incoming", casts=True)
        if incoming and "error" not in figures:
            figures.update(_incoming(peer, server, plan))
        return figures


def _run_client(peer: str, server: ServerHandle, plan: Plan) -> dict[str, Any]:
    """The figures of the workloads that a client process of ``peer`` runs."""
    if not any(w != "incoming" and _applies(peer, w, casts=True) for w in plan.workloads):
        return {}
    context = multiprocessing.get_context("spawn")
    parent, child = context.Pipe()
    process = context.Process(
        target=_client,
        args=(peer, server.address, server.pid, plan, child),
        name=f"bench-client-{peer}",
        daemon=True,
    )
    process.start()
    child.close()
    try:
        if not parent.poll(_budget(plan)):
            return {"error": f"no figures within {_budget(plan):.0f} s"}
        figures: dict[str, Any] = parent.recv()
        return figures
    except EOFError:
        return {"error": "the client process died"}
    finally:
        process.join(10)
        if process.is_alive():
            process.kill()
            process.join(10)
        parent.close()


class _NoProgress:
    """Stands in for tqdm when it is not installed (it comes with the ``bench`` extra)."""

    def __init__(self, **_options: Any) -> None:
        pass

    def set_postfix_str(self, text: str) -> None:
        pass

    def update(self) -> None:
        pass

    def __enter__(self) -> _NoProgress:
        return self

    def __exit__(self, *_exc: object) -> None:
        pass


def _progress(**options: Any) -> Any:
    try:
        from tqdm import tqdm  # noqa: PLC0415
    except ImportError:
        return _NoProgress(**options)
    return tqdm(**options)


def run(plan: Plan, *, progress: bool = True) -> dict[str, Any]:
    """Every round; the figures of each, with the settings and the peers skipped."""
    targets.setup_process(plan.pin)  # the processes it spawns start pinned as well
    load_before = os.getloadavg()[0]
    peers, skipped = installed(measured_peers(plan))
    for peer, reason in skipped.items():
        print(f"skipping {peer}: {reason}", file=sys.stderr)
    rounds: list[dict[str, Any]] = []
    steps = _progress(
        total=plan.rounds * len(peers),
        desc="bench",
        unit="run",
        file=sys.stderr,
        disable=not progress,
    )
    with steps:
        for index in range(plan.rounds):
            figures: dict[str, Any] = {}
            shift = index % max(1, len(peers))
            for peer in peers[shift:] + peers[:shift]:
                steps.set_postfix_str(f"round {index + 1}/{plan.rounds}: {peer}")
                figures[peer] = run_peer(peer, plan)
                steps.update()
            rounds.append({peer: figures[peer] for peer in peers})
    settings = asdict(plan)
    settings["cast_counts"] = {peer: plan.cast_counts(peer) for peer in peers}
    settings["cpus"] = os.cpu_count()
    return {
        "settings": settings,
        "machine": {
            "cpus": os.cpu_count(),
            "python": platform.python_version(),
            "platform": platform.platform(),
            "date": datetime.datetime.now(datetime.UTC).isoformat(timespec="seconds"),
            "load_before": load_before,  # 1-minute load averages: was anything else running?
            "load_after": os.getloadavg()[0],
        },
        "peers": peers,
        "skipped": skipped,
        "rounds": rounds,
    }

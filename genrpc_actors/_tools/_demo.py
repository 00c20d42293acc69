"""``genrpc demo``: a guided tour on a local cluster of node processes."""

from __future__ import annotations

import logging
import os
import time
from contextlib import ExitStack
from typing import Any

import pykka

import genrpc_actors
from genrpc_actors._tools import _demo_actors
from genrpc_actors.testing import LocalNode, free_port

__all__ = ["Greeter", "crunch", "end_this_process", "run_demo", "start_greeter"]

COOKIE = "genrpc-demo-cookie-not-secret"  # 16 bytes or more: no short_cookie warning


class Greeter(pykka.ThreadingActor):
    """A named actor on each node: it keeps what abcast/sbcast sent it."""

    use_daemon_thread = True  # it must not keep its node's process alive after the tour

    def __init__(self) -> None:
        super().__init__()
        self.heard: list[Any] = []

    def on_receive(self, message: Any) -> Any:
        self.heard.append(message)
        return None


def start_greeter() -> str:
    """Run on a node (by RPC): start a Greeter registered as "greeter"."""
    genrpc_actors.register("greeter", Greeter.start())
    return genrpc_actors.node()


def heard() -> list[Any]:
    """Run on a node (by RPC): what its greeter has received."""
    ref = genrpc_actors.whereis("greeter")
    return [] if ref is None else list(ref.proxy().heard.get(timeout=5))


def crunch(seconds: float) -> int:
    """Pure-Python work for about ``seconds``: it holds the GIL all along, as CPU-bound code
    does (run by RPC, in a thread of the node or in one of its process workers)."""
    end, count = time.monotonic() + seconds, 0
    while time.monotonic() < end:
        for _ in range(1000):
            count += 1
    return count


def end_this_process(code: int) -> None:
    """Run by RPC in a process worker: end it, as a crashing C extension or ``os._exit`` would."""
    os._exit(code)


def _p50_of_small_calls(node: Any, target: str, count: int = 40) -> float:
    """The median time of ``count`` small calls to ``target``, in milliseconds."""
    times = []
    for _ in range(count):
        began = time.perf_counter()
        node.call(target, "operator", "add", (1, 2))
        times.append(time.perf_counter() - began)
    return round(sorted(times)[len(times) // 2] * 1000, 2)


class _Tour:
    def __init__(self, out: Any) -> None:
        self.out, self.step = out, 0
        self.started = time.monotonic()

    def say(self, title: str) -> None:
        self.step += 1
        print(f"\n{self.step}. {title}", file=self.out, flush=True)

    def show(self, what: str, value: Any) -> None:
        print(f"   {what:<52} -> {value!r}", file=self.out, flush=True)


def run_demo(nodes: int = 3, out: Any = None) -> int:  # noqa: PLR0915 - a tour is a script
    """Start ``nodes`` node processes, show each feature, kill and restart one; returns 0."""
    import sys  # noqa: PLC0415

    tour = _Tour(out or sys.stdout)
    names = [f"node{i}@127.0.0.1" for i in range(1, nodes + 1)]
    me, dead = "demo@127.0.0.1", "nobody@127.0.0.1"
    my_port = free_port()
    print(f"Starting {nodes} node processes and this one ({me})...", file=tour.out, flush=True)
    with ExitStack() as stack:
        cluster: dict[str, LocalNode] = {}
        # each node knows where the others listen: their actors reach one another
        known = {me: my_port, **{name: free_port() for name in names}}
        for name in names:
            local = LocalNode(
                name,
                cookie=COOKIE,
                tcp_server_port=known[name],
                client_config_per_node=known,
                log_level=logging.CRITICAL,  # the crashes and kills of the tour are on purpose
            )
            cluster[name] = stack.enter_context(local)
        workers = "workers@127.0.0.1"  # a node whose CPU-bound requests run in processes
        cluster[workers] = stack.enter_context(
            LocalNode(
                workers,
                cookie=COOKIE,
                worker_processes=2,
                process_modules=[__name__],
                client_config_per_node={me: my_port},
                log_level=logging.ERROR,  # the worker it kills on purpose is not news
            )
        )
        ports: dict[str, Any] = {name: local.port for name, local in cluster.items()}
        ports[dead] = free_port()  # nothing listens there
        node = genrpc_actors.start(
            me,
            cookie=COOKIE,
            tcp_server_port=my_port,
            client_config_per_node=ports,
            connect_timeout=1.0,
        )
        stack.callback(node.stop)
        first = names[0]

        tour.say("call: run a function on another node, get its result")
        for name in names:
            tour.show(f"call({name!r}, 'os', 'getpid')", node.call(name, "os", "getpid"))
        tour.show("this process's pid, for comparison", os.getpid())

        tour.say("cast: fire and forget (True at once, even for a node that is down)")
        tour.show(
            f"cast({first!r}, 'time', 'sleep', (0.1,))", node.cast(first, "time", "sleep", (0.1,))
        )
        tour.show(f"cast({dead!r}, 'os', 'getpid')", node.cast(dead, "os", "getpid"))

        tour.say("async_call: start now, collect later (keys may be yielded again)")
        key = node.async_call(first, "math", "factorial", (20,))
        tour.show("nb_yield(key, 0) right away", node.nb_yield(key, 0))
        tour.show("yield_(key)", node.yield_(key))

        tour.say("multicall: every node at once, one deadline, results in order")
        result = node.multicall([*names, dead], "genrpc_actors", "node", timeout=3)
        tour.show("results", result.results)
        tour.show("bad nodes", result.bad_nodes)
        tour.show("why", {n: e.reason for n, e in result.errors.items()})

        tour.say("abcast / sbcast: messages to a named Pykka actor on every node")
        for name in names:
            node.call(name, "genrpc_actors._tools._demo", "start_greeter")
        node.abcast(names, "greeter", "hello from abcast")
        good, bad = node.sbcast([*names, dead], "greeter", "hello from sbcast", timeout=3)
        tour.show("sbcast good nodes", good)
        tour.show("sbcast bad nodes", bad)
        tour.show(
            f"what {first}'s greeter heard", node.call(first, "genrpc_actors._tools._demo", "heard")
        )

        tour.say("a shipped lambda: code travels by value (gen_rpc cannot do this)")
        offset = 1000
        tour.show(
            "call(node, lambda x: x + offset, args=(1,))",
            node.call(first, lambda x: x + offset, args=(1,)),
        )

        tour.say("per-key sharding: each (node, key) gets its own connection")
        for shard in ("orders", "payments"):
            node.call((first, shard), "operator", "add", (1, 1))
        tour.show("connections held", sorted(node.describe()["connections"]))
        tour.show("nodes()", node.nodes())

        tour.say("the GIL: a CPU-bound request slows every small call on its node...")
        tour.show(f"p50 of small calls to {first}, idle (ms)", _p50_of_small_calls(node, first))
        busy = node.async_call(first, __name__, "crunch", (2.0,))
        tour.show("  ... while it crunches in a thread (ms)", _p50_of_small_calls(node, first))
        node.yield_(busy)
        tour.say("...unless it runs in a process worker (worker_processes, process_modules)")
        tour.show(f"p50 of small calls to {workers}, idle (ms)", _p50_of_small_calls(node, workers))
        busy = node.async_call(workers, __name__, "crunch", (2.0,))
        tour.show("  ... while it crunches in a worker (ms)", _p50_of_small_calls(node, workers))
        node.yield_(busy)
        try:
            node.call(workers, __name__, "end_this_process", (3,))
        except genrpc_actors.RpcError as exc:
            tour.show("a worker that calls os._exit(3)", f"{type(exc).__name__}({exc.reason!r})")
        tour.show(
            "the node goes on: call(..., 'operator', 'add')",
            node.call(workers, "operator", "add", (2, 3)),
        )

        _demo_actors.remote_actors(tour, node, cluster, names)
        _demo_actors.supervision(tour, node, cluster, names)

        tour.say(f"failure: kill {first} (SIGKILL) under a pending call, then restart it")
        pending = node.async_call(first, "time", "sleep", (30,))
        cluster[first].kill()
        try:
            node.yield_(pending)
        except genrpc_actors.RpcError as exc:
            tour.show("the pending call fails at once", f"{type(exc).__name__}({exc.reason!r})")
        try:
            node.call(first, "os", "getpid")
        except genrpc_actors.RpcError as exc:
            tour.show("a new call while it is down", f"{type(exc).__name__}({exc.reason!r})")
        cluster[first].restart()
        tour.show("after restart: call(..., 'os', 'getpid')", node.call(first, "os", "getpid"))
        tour.show("its new process id", cluster[first].pid)

    elapsed = time.monotonic() - tour.started
    print(f"\nDone in {elapsed:.1f} s; every process stopped.", file=tour.out, flush=True)
    return 0

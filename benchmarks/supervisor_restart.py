"""How long a one_for_one supervisor takes to replace a crashed child.

Measured from the moment the crash is triggered (a ``tell`` whose handler raises) until the
supervisor hands out the new child's ref: failure detection, the restart decision, a new actor
thread, its ``on_start``, and the supervisor's bookkeeping.

With ``--remote``, the child lives on another node (a ``LocalNode`` process; the factory spawns
it there): measured from the crash until the replacement has answered an ask, which adds the
death's news crossing (the watch's reply), the spawn and the new watch (round trips). It is
printed beside a call's round trip to that node and the local restart time, both measured by
the same run, and the target: a median within 3 round trips plus the local restart.

    python -m benchmarks.supervisor_restart [--rounds N] [--remote]
"""

from __future__ import annotations

import argparse
import logging
import queue
import statistics
import threading
import time
from typing import Any

import supervision as sv


class Child(sv.SupervisedActor):
    def __init__(self, started: threading.Event) -> None:
        super().__init__()
        self.started = started

    def on_start(self) -> None:
        self.started.set()

    def on_receive(self, message: Any) -> Any:
        raise RuntimeError(f"crash on {message!r}")


def measure(rounds: int) -> list[float]:
    started = threading.Event()
    sup = sv.start_supervisor(
        [sv.ChildSpec("child", Child, args=(started,))], intensity=rounds + 1, period=3600.0
    )
    samples = []
    try:
        for _ in range(rounds):
            old = sup.child("child")
            assert old is not None
            started.clear()
            begin = time.perf_counter()
            old.tell("crash")
            started.wait(5.0)
            while (ref := sup.child("child")) is None or ref is old:
                pass
            samples.append(time.perf_counter() - begin)
    finally:
        sup.stop()
    return samples


def measure_remote(rounds: int) -> tuple[list[float], list[float]]:
    """Remote restarts and, in between, call round trips to the child's node (seconds)."""
    import genrpc_actors as gen_rpc  # noqa: PLC0415 - only the remote run needs a node
    from genrpc_actors.testing import LocalNode  # noqa: PLC0415

    cookie = "supervisor-restart-bench-cookie"
    host = LocalNode("bench-children@127.0.0.1", cookie=cookie, listen_address="127.0.0.1")
    host.start()
    node = gen_rpc.Node.start(
        "bench-supervisor@127.0.0.1",
        cookie=cookie,
        tcp_server_port=False,
        client_config_per_node={host.name: host.port},
    )
    node.call(host.name, "benchmarks.targets", "quiet_logs")
    children: queue.SimpleQueue[Any] = queue.SimpleQueue()

    def spawn() -> Any:
        ref = node.spawn(host.name, "benchmarks.targets:CrashingChild")
        children.put(ref)
        return ref

    sup = sv.start_supervisor(
        [sv.ChildSpec("child", start=spawn)], intensity=rounds + 1, period=3600.0
    )
    restarts, trips = [], []
    try:
        ref = children.get(timeout=30)
        for _ in range(rounds):
            begin = time.perf_counter()
            node.call(host.name, "operator", "add", (1, 2))
            trips.append(time.perf_counter() - begin)
            begin = time.perf_counter()
            ref.tell("crash")
            ref = children.get(timeout=30)
            if ref.ask("ping", timeout=30) != "pong":
                raise RuntimeError("the new child did not answer")
            restarts.append(time.perf_counter() - begin)
    finally:
        sup.stop()
        node.stop()
        host.stop()
    return restarts, trips


def _summary(label: str, samples: list[float]) -> tuple[float, str]:
    ms = sorted(s * 1000 for s in samples)
    median = statistics.median(ms)
    p99 = ms[min(len(ms) - 1, int(len(ms) * 0.99))]
    return median, f"{label}: median {median:.3f} ms, p99 {p99:.3f} ms, max {ms[-1]:.3f} ms"


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--rounds", type=int, default=None, help="500; 1,000 with --remote")
    parser.add_argument("--remote", action="store_true", help="the child on another node")
    args = parser.parse_args(argv)
    rounds = args.rounds or (1000 if args.remote else 500)
    logging.getLogger("supervision").setLevel(logging.CRITICAL)  # a crash per round is the point
    logging.getLogger("genrpc_actors").setLevel(logging.CRITICAL)
    local, line = _summary(f"supervisor restart (one_for_one, {rounds} rounds)", measure(rounds))
    print(line)
    if not args.remote:
        return
    restarts, trips = measure_remote(rounds)
    trip, line = _summary(f"call round trip to the child's node ({rounds} calls)", trips)
    print(line)
    remote, line = _summary(f"remote child restart, crash to answer ({rounds} rounds)", restarts)
    print(line)
    goal = 3 * trip + local
    verdict = "met" if remote <= goal else f"missed by {100 * (remote / goal - 1):.0f}%"
    print(
        f"target: median <= 3 x {trip:.3f} + {local:.3f} = {goal:.3f} ms: "
        f"{remote:.3f} ms, {verdict}"
    )


if __name__ == "__main__":
    main()

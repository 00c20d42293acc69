"""What serving metrics costs sequential calls: the same calls with and without, interleaved.

Two server nodes (``LocalNode`` processes), one with ``metrics_port`` and one without, and two
client nodes in this process, likewise; one caller makes small calls (``operator.add``) to one
pair, then to the other, in turn, in blocks of ``--block`` seconds for ``--seconds`` in all, so
that whatever else the machine does at the time falls on both pairs alike. ``make bench``'s
``genrpc_actors+metrics`` peer measures the same in rounds of its own, one after the other: on a
machine shared with other work its rounds vary more than the few percent to be told apart.

Prints each pair's calls/s and CPU microseconds per call (this process, the server process),
and the ratio with metrics on over off: the cost is ``1 - ratio`` of the calls/s. It checks
that the node with metrics counted every call (a scrape). Two pairs of processes are never
quite alike: ``--runs N`` measures N times, each with new nodes, and gives the median ratio;
``--control`` turns metrics off on both pairs, to show how far apart two pairs are without them
(the noise under the figure). ``--json``: the figures as JSON.

    python -m benchmarks.metrics_cost [--runs N] [--seconds S] [--block S] [--pin [CPU]]
                                      [--control] [--json]
"""

from __future__ import annotations

import argparse
import json
import statistics
import time
import urllib.request
from dataclasses import dataclass, field
from typing import Any

import psutil

from benchmarks import targets
from genrpc_actors import Node
from genrpc_actors.testing import LocalNode

COOKIE = "bench-cookie-of-16-bytes"
HOST = "127.0.0.1"


@dataclass
class Pair:
    """A client node and its server, with what their blocks added up to."""

    name: str
    client: Node
    server: LocalNode
    calls: int = 0
    seconds: float = 0.0
    client_cpu: float = 0.0
    server_cpu: float = 0.0
    rates: list[float] = field(default_factory=list)  # calls/s of each block
    warm_up: int = 0  # calls before the clock started

    @property
    def target(self) -> str:
        return self.server.name

    def block(self, seconds: float) -> None:
        """Small calls, one after the other, for ``seconds``."""
        server = psutil.Process(self.server.pid)
        call, target = self.client.call, self.target
        server_before, client_before = server.cpu_times(), time.process_time()
        calls = 0
        begin = time.perf_counter()
        until = begin + seconds
        while time.perf_counter() < until:
            for _ in range(20):
                call(target, "operator", "add", (1, 2))
            calls += 20
        elapsed = time.perf_counter() - begin
        client_after, server_after = time.process_time(), server.cpu_times()
        self.calls += calls
        self.seconds += elapsed
        self.client_cpu += client_after - client_before
        self.server_cpu += (server_after.user + server_after.system) - (
            server_before.user + server_before.system
        )
        self.rates.append(calls / elapsed)

    def figures(self) -> dict[str, float]:
        return {
            "calls": self.calls,
            "calls_per_s": self.calls / self.seconds,
            "client_cpu_us": 1e6 * self.client_cpu / self.calls,
            "server_cpu_us": 1e6 * self.server_cpu / self.calls,
        }


def counted(port: int | None, node: str) -> float:
    """The calls to ``node`` that the metrics on ``port`` counted (0 if none are served)."""
    if port is None:
        return 0.0
    with urllib.request.urlopen(f"http://{HOST}:{port}/metrics", timeout=5) as response:
        text = response.read().decode()
    prefix = f'genrpc_call_duration_seconds_count{{node="{node}"}} '
    found = [line.removeprefix(prefix) for line in text.splitlines() if line.startswith(prefix)]
    return float(found[0]) if found else 0.0


def measure(seconds: float, block: float, *, control: bool = False) -> dict[str, Any]:
    """One run; with ``control``, the "on" pair has no metrics either."""
    port = None if control else 0
    servers = {
        name: LocalNode(f"cost-{name}@{HOST}", cookie=COOKIE, listen_address=HOST, **extra)
        for name, extra in (("off", {}), ("on", {"metrics_port": port}))
    }
    pairs: list[Pair] = []
    try:
        for name, server in servers.items():
            server.start()
            client = Node.start(
                f"cost-client-{name}@{HOST}",
                cookie=COOKIE,
                tcp_server_port=False,
                listen_address=HOST,
                client_config_per_node={server.name: server.port},
                metrics_port=port if name == "on" else None,
            )
            pairs.append(Pair(name, client, server))
        for pair in pairs:  # connected and warm before the clock starts
            pair.block(min(block, 0.2))
            pair.warm_up, pair.calls = pair.calls, 0
            pair.seconds = pair.client_cpu = pair.server_cpu = 0.0
            pair.rates.clear()
        begin = time.monotonic()
        turn = 0
        while time.monotonic() - begin < seconds:
            first, second = pairs if turn % 2 == 0 else pairs[::-1]  # either may go first
            first.block(block)
            second.block(block)
            turn += 1
        off, on = pairs
        figures: dict[str, Any] = {"off": off.figures(), "on": on.figures()}
        figures["on"]["made"] = on.warm_up + on.calls
        figures["on"]["counted_by_metrics"] = counted(on.client.metrics_port, on.target)
        figures["ratio_calls_per_s"] = figures["on"]["calls_per_s"] / figures["off"]["calls_per_s"]
        figures["median_block_ratio"] = statistics.median(
            a / b for a, b in zip(on.rates, off.rates, strict=True)
        )
        figures["blocks"] = len(on.rates)
        return figures
    finally:
        for pair in pairs:
            pair.client.stop()
        for server in servers.values():
            server.stop()


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--runs", type=int, default=1, help="each with new nodes (default 1)")
    parser.add_argument("--seconds", type=float, default=10.0, help="per run (default 10)")
    parser.add_argument("--block", type=float, default=0.1, help="one turn (default 0.1)")
    parser.add_argument("--pin", type=int, nargs="?", const=0, metavar="CPU", help="pin to CPU")
    parser.add_argument("--control", action="store_true", help="metrics on neither pair")
    parser.add_argument("--json", action="store_true", help="the figures as JSON")
    args = parser.parse_args(argv)
    targets.setup_process(args.pin)  # the server processes start pinned as well
    runs = [measure(args.seconds, args.block, control=args.control) for _ in range(args.runs)]
    ratio = statistics.median(run["ratio_calls_per_s"] for run in runs)
    if args.json:
        print(json.dumps({"runs": runs, "median_ratio": ratio}, indent=2))
        return
    pinned = f"pinned to CPU {args.pin}" if args.pin is not None else "not pinned"
    for index, figures in enumerate(runs, 1):
        blocks = figures["blocks"]
        print(
            f"run {index}: sequential calls, {blocks} blocks of {args.block:g} s each way, {pinned}"
        )
        for name in ("off", "on"):
            f = figures[name]
            print(
                f"  metrics {name:<3}  {f['calls_per_s']:>9,.0f} calls/s  CPU per call: client "
                f"{f['client_cpu_us']:.1f} us, server {f['server_cpu_us']:.1f} us"
            )
        made, seen = figures["on"]["made"], figures["on"]["counted_by_metrics"]
        if not args.control:
            print(f"  the node with metrics counted {seen:,.0f} of the {made:,} calls it made")
        print(
            f"  on / off: {figures['ratio_calls_per_s']:.3f}; median of the blocks' ratios "
            f"{figures['median_block_ratio']:.3f}"
        )
    cost = 100 * (1 - ratio)
    print(f"median on / off of {len(runs)} run(s): {ratio:.3f} (metrics cost {cost:.1f}%)")


if __name__ == "__main__":
    main()

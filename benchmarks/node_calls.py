"""Calls between two node processes on loopback: the first figures of the hot path.

    python -m benchmarks.node_calls [--seconds S]

A server node runs in its own process (``genrpc_actors.testing.LocalNode``); the client node runs
here. Cases: sequential small calls; 8 concurrent callers; a 500 KB echo; 100,000 casts (the
time until the last one has run on the server, observed with a final call).
"""

from __future__ import annotations

import argparse
import statistics
import threading
import time

from genrpc_actors import Node
from genrpc_actors.testing import LocalNode

COOKIE = "bench"
SERVER = "bench-server@127.0.0.1"


def percentile(samples: list[float], fraction: float) -> float:
    ordered = sorted(samples)
    return ordered[min(len(ordered) - 1, int(len(ordered) * fraction))]


def sequential(client: Node, seconds: float) -> str:
    samples = []
    end = time.perf_counter() + seconds
    while time.perf_counter() < end:
        begin = time.perf_counter()
        client.call(SERVER, "operator", "add", (1, 2))
        samples.append(time.perf_counter() - begin)
    us = [s * 1e6 for s in samples]
    return (
        f"sequential small calls: {len(samples) / sum(samples):,.0f} calls/s, "
        f"p50 {statistics.median(us):.0f} us, p99 {percentile(us, 0.99):.0f} us"
    )


def concurrent(client: Node, seconds: float, callers: int = 8) -> str:
    counts = [0] * callers
    samples: list[list[float]] = [[] for _ in range(callers)]
    stop = time.perf_counter() + seconds

    def run(index: int) -> None:
        while time.perf_counter() < stop:
            begin = time.perf_counter()
            client.call(SERVER, "operator", "add", (index, 1))
            samples[index].append(time.perf_counter() - begin)
            counts[index] += 1

    threads = [threading.Thread(target=run, args=(i,)) for i in range(callers)]
    begin = time.perf_counter()
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    elapsed = time.perf_counter() - begin
    us = [s * 1e6 for per in samples for s in per]
    return (
        f"{callers} concurrent callers: {sum(counts) / elapsed:,.0f} calls/s, "
        f"p50 {statistics.median(us):.0f} us, p99 {percentile(us, 0.99):.0f} us"
    )


def large_echo(client: Node, seconds: float, size: int = 500 * 1024) -> str:
    payload = bytes(size)
    samples = []
    end = time.perf_counter() + seconds
    while time.perf_counter() < end:
        begin = time.perf_counter()
        assert len(client.call(SERVER, "tests.remote_helpers", "echo", (payload,))) == size
        samples.append(time.perf_counter() - begin)
    total = 2 * size * len(samples) / sum(samples)
    return (
        f"500 KB echo: {len(samples) / sum(samples):,.0f} calls/s, "
        f"p50 {statistics.median(samples) * 1e6:.0f} us, {total / 1e6:,.0f} MB/s (both ways)"
    )


def casts(client: Node, count: int = 100_000) -> str:
    begin = time.perf_counter()
    for i in range(count):
        client.cast(SERVER, "operator", "add", (i, 1))
    sent = time.perf_counter() - begin
    client.call(SERVER, "operator", "add", (0, 0), timeout=120)  # after the casts on the wire
    done = time.perf_counter() - begin
    return f"{count:,} casts: {count / sent:,.0f} casts/s sent, all delivered in {done:.2f} s"


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description="calls between two node processes")
    parser.add_argument("--seconds", type=float, default=3.0)
    parser.add_argument("--casts", type=int, default=100_000)
    args = parser.parse_args(argv)
    with LocalNode(SERVER, cookie=COOKIE) as server:
        client = Node.start(
            "bench-client@127.0.0.1",
            cookie=COOKIE,
            tcp_server_port=False,
            client_config_per_node={SERVER: server.port},
        )
        try:
            client.call(SERVER, "operator", "add", (1, 1))  # connect and warm up
            print(sequential(client, args.seconds))
            print(concurrent(client, args.seconds))
            print(large_echo(client, args.seconds))
            print(casts(client, args.casts))
        finally:
            client.stop()


if __name__ == "__main__":
    main()

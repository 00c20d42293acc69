"""The CPU-bound request of the benchmarks: a fixed amount of pure-Python work (~50 ms here).

A module of its own so that a genrpc_actors node can route exactly these requests to its
process workers (``process_modules=["benchmarks.cpu_targets"]``) while small calls stay in its
threads.
"""

from __future__ import annotations

WORK_ITERATIONS = 600_000


def work(iterations: int = WORK_ITERATIONS) -> int:
    """Sum of squares below ``iterations``: it holds the GIL all along, as CPU-bound code does."""
    total = 0
    for i in range(iterations):
        total += i * i
    return total


def add(a: int, b: int) -> int:
    """The small call, in this module so that it runs where ``work`` runs."""
    return a + b


def echo(value: object) -> object:
    """The echo, in this module so that it runs where ``work`` runs."""
    return value


def loop_forever() -> None:
    """A request that never returns: only a process worker's time limit ends it."""
    while True:
        pass

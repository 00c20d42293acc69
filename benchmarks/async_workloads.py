"""The asyncio workloads, over a session's ``async_client()`` (genrpc_actors and ``grpc.aio``).

Each runs one event loop in the client process's main thread (``asyncio.run``) and returns a
dict of figures, as ``benchmarks.workloads`` does: rates per second, latencies in microseconds,
sizes in MB.
"""

from __future__ import annotations

import asyncio
import gc
import threading
import time
from typing import Any

from benchmarks.clients import Session
from benchmarks.workloads import latencies, timed_loop

NAP = 0.010  # seconds each remote coroutine of the fan-out sleeps
SAMPLE_EVERY = 0.005  # seconds between two samples of memory and threads during a burst


class Peaks:
    """The peak RSS and thread count of this process and of the server's, sampled in a thread
    of their own from entering until leaving; ``growth()`` is each peak over its first sample
    (taken once the sampling thread runs, so that it does not count itself)."""

    def __init__(self, server_pid: int, every: float = SAMPLE_EVERY) -> None:
        import psutil  # noqa: PLC0415

        self._processes = {"client": psutil.Process(), "server": psutil.Process(server_pid)}
        self._every = every
        self._stop = threading.Event()
        self._first: dict[str, tuple[int, int]] = {}
        self._peak: dict[str, tuple[int, int]] = {}
        self._started = threading.Event()
        self._thread = threading.Thread(target=self._sample_until_stopped, daemon=True)

    def _sample(self) -> None:
        for side, process in self._processes.items():
            rss, threads = process.memory_info().rss, process.num_threads()
            self._first.setdefault(side, (rss, threads))
            peak = self._peak.get(side, (0, 0))
            self._peak[side] = (max(peak[0], rss), max(peak[1], threads))

    def _sample_until_stopped(self) -> None:
        self._sample()
        self._started.set()
        while not self._stop.wait(self._every):
            self._sample()

    def __enter__(self) -> Peaks:
        gc.collect()
        self._thread.start()
        self._started.wait()
        return self

    def __exit__(self, *_exc: object) -> None:
        self._stop.set()
        self._thread.join()
        self._sample()

    def growth(self) -> dict[str, float]:
        figures = {}
        for side in self._processes:
            (rss, threads), (peak_rss, peak_threads) = self._first[side], self._peak[side]
            figures[f"{side}_rss_mb"] = (peak_rss - rss) / 1e6
            figures[f"{side}_threads"] = peak_threads - threads
        return figures


async def _fanout(session: Session, server_pid: int, count: int, nap: float) -> dict[str, Any]:
    client = session.async_client()
    try:
        assert await client.nap(0, 1) == 1  # the connection made, the server's loop running
        with Peaks(server_pid) as peaks:
            begin = time.perf_counter()
            calls = (client.nap(nap, i) for i in range(count))
            results = await asyncio.gather(*calls, return_exceptions=True)
            wall = time.perf_counter() - begin
    finally:
        await client.close()
    completed = sum(result == i for i, result in enumerate(results))
    figures: dict[str, Any] = {"count": count, "completed": completed, "wall_s": wall}
    figures.update(peaks.growth())
    figures["server_threads_per_call"] = figures["server_threads"] / count
    failed = [r for r in results if isinstance(r, BaseException)]
    if failed:  # the table's notes show it; the figures stand
        figures["error"] = (
            f"{len(failed)} failed, the first: {type(failed[0]).__name__}: {failed[0]}"
        )
    return figures


def asyncio_fanout(
    session: Session, server_pid: int, count: int, nap: float = NAP
) -> dict[str, Any]:
    """``count`` calls at once from one event loop (``asyncio.gather``), each to a remote
    coroutine that sleeps ``nap`` seconds: how many completed, the wall time of the burst, and
    how much each side's RSS and thread count grew at their peak during it."""
    return asyncio.run(_fanout(session, server_pid, count, nap))


async def _awaited(session: Session, seconds: float) -> dict[str, float]:
    client = session.async_client()
    try:
        await client.add()
        samples: list[float] = []
        begin = now = time.perf_counter()
        until = begin + seconds
        while now < until:
            await client.add()
            then = time.perf_counter()
            samples.append(then - now)
            now = then
        elapsed = time.perf_counter() - begin
    finally:
        await client.close()
    return latencies(samples, elapsed)


def asyncio_sequential(session: Session, seconds: float) -> dict[str, float]:
    """Small calls awaited one after the other on an event loop: calls/s and latencies; and,
    for a peer with blocking calls too, their rate in the same process right after, and the
    ratio of the two (awaited / blocking)."""
    figures = asyncio.run(_awaited(session, seconds))
    if session.blocking:
        client = session.client()
        client.add()
        samples: list[float] = []
        begin = time.perf_counter()
        timed_loop(client.add, begin + seconds, samples)
        blocking = len(samples) / (time.perf_counter() - begin)
        client.close()
        figures["blocking_calls_per_s"] = blocking
        figures["ratio_to_blocking"] = figures["calls_per_s"] / blocking
    return figures

"""The workloads, each over a client session of any peer; each returns a dict of figures.

Latencies are in microseconds, rates per second, sizes in KB. A workload runs for ``seconds``
(except the cast bursts, which send a fixed count), after one warm-up call per connection.
CPU costs (``client_cpu_us``, ``server_cpu_us``) are the microseconds of CPU time, user and
system, that the client process and the server process spent in the timed window (``psutil``,
every thread of each process), divided by the calls made in it.
"""

from __future__ import annotations

import gc
import statistics
import threading
import time
from collections.abc import Callable
from typing import Any

import psutil

from benchmarks.clients import Client, Session

ECHO_SIZE = 500 * 1024


def cpu_seconds(process: psutil.Process) -> float:
    times = process.cpu_times()
    return float(times.user + times.system)


class CpuMeter:
    """CPU seconds that this process and the server's (when its pid is known) spend from
    ``start()`` to ``stop()``, or over a ``with`` block."""

    def __init__(self, server_pid: int | None) -> None:
        self._processes = {"client": psutil.Process()}
        if server_pid is not None:
            self._processes["server"] = psutil.Process(server_pid)
        self._begin: dict[str, float] = {}
        self.spent: dict[str, float] = {}

    def start(self) -> None:
        self._begin = {side: cpu_seconds(p) for side, p in self._processes.items()}

    def stop(self) -> None:
        self.spent = {
            side: cpu_seconds(p) - self._begin[side] for side, p in self._processes.items()
        }

    def __enter__(self) -> CpuMeter:
        self.start()
        return self

    def __exit__(self, *_exc: object) -> None:
        self.stop()

    def per_call(self, calls: int) -> dict[str, float]:
        """``{"client_cpu_us": ..., "server_cpu_us": ...}``: microseconds per call."""
        return {f"{side}_cpu_us": 1e6 * spent / calls for side, spent in self.spent.items()}


def percentile(samples: list[float], fraction: float) -> float:
    ordered = sorted(samples)
    return ordered[min(len(ordered) - 1, int(len(ordered) * fraction))]


def latencies(samples: list[float], elapsed: float) -> dict[str, float]:
    us = [s * 1e6 for s in samples]
    return {
        "calls_per_s": len(samples) / elapsed,
        "p50_us": statistics.median(us),
        "p99_us": percentile(us, 0.99),
    }


def timed_loop(operation: Callable[[], Any], until: float, samples: list[float]) -> None:
    now = time.perf_counter()
    while now < until:
        operation()
        then = time.perf_counter()
        samples.append(then - now)
        now = then


def sequential(session: Session, seconds: float, server_pid: int | None = None) -> dict[str, float]:
    """One caller, one small call after the other; the CPU each side spends per call."""
    client = session.client()
    client.add()
    samples: list[float] = []
    with CpuMeter(server_pid) as meter:
        begin = time.perf_counter()
        timed_loop(client.add, begin + seconds, samples)
        elapsed = time.perf_counter() - begin
    client.close()
    return {**latencies(samples, elapsed), **meter.per_call(len(samples))}


def concurrent(
    session: Session, seconds: float, callers: int, server_pid: int | None = None
) -> dict[str, float]:
    """``callers`` threads of this process, each making small calls in a loop; the CPU each
    side spends per call (this process's is every caller's)."""
    shared = session.client() if session.shared_callers else None
    samples: list[list[float]] = [[] for _ in range(callers)]
    clock = {"begin": 0.0, "until": 0.0}
    meter = CpuMeter(server_pid)

    def start_clock() -> None:
        meter.start()
        clock["begin"] = time.perf_counter()
        clock["until"] = clock["begin"] + seconds

    ready = threading.Barrier(callers, action=start_clock)
    failures: list[BaseException] = []

    def run(index: int) -> None:
        try:
            client = shared if shared is not None else session.client(f"caller{index}")
            client.add()
        except BaseException as exc:
            failures.append(exc)
            ready.abort()
            raise
        ready.wait()
        timed_loop(client.add, clock["until"], samples[index])
        if shared is None:
            client.close()

    threads = [threading.Thread(target=run, args=(i,), daemon=True) for i in range(callers)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    if failures:
        raise failures[0]
    elapsed = time.perf_counter() - clock["begin"]
    meter.stop()
    if shared is not None:
        shared.close()
    every = [s for per in samples for s in per]
    return {**latencies(every, elapsed), **meter.per_call(len(every))}


def pipelined(
    session: Session, seconds: float, depth: int, server_pid: int | None = None
) -> dict[str, float]:
    """One caller, ``depth`` small calls in flight at once on one connection, then every
    result awaited, again and again (``client.pipeline``): calls/s and the CPU each side spends
    per call."""
    client = session.client()
    if client.pipeline(depth) != 3:
        raise RuntimeError("a pipelined add(1, 2) did not answer 3")
    batches = 0
    with CpuMeter(server_pid) as meter:
        begin = time.perf_counter()
        until = begin + seconds
        while True:
            client.pipeline(depth)
            batches += 1
            if time.perf_counter() >= until:
                break
        elapsed = time.perf_counter() - begin
    client.close()
    calls = batches * depth
    return {"depth": depth, "calls_per_s": calls / elapsed, **meter.per_call(calls)}


def echo(session: Session, seconds: float, size: int = ECHO_SIZE) -> dict[str, float]:
    """A ``size``-byte payload there and back, one at a time: MB/s counted both ways."""
    client = session.client()
    payload = bytes(size)
    assert len(client.echo(payload)) == size
    samples: list[float] = []
    begin = time.perf_counter()
    timed_loop(lambda: client.echo(payload), begin + seconds, samples)
    elapsed = time.perf_counter() - begin
    client.close()
    return {
        "mb_per_s": 2 * size * len(samples) / elapsed / 1e6,
        "calls_per_s": len(samples) / elapsed,
    }


def cast_burst(client: Client, count: int) -> float:
    """Seconds from the first of ``count`` casts until all of them have run on the server."""
    client.reset()
    begin = time.perf_counter()
    for _ in range(count):
        client.cast()
    done = client.sync(count)
    elapsed = time.perf_counter() - begin
    if done < count:
        raise RuntimeError(f"{done} of {count} casts ran")
    return elapsed


def casts(session: Session, big: int, small: int) -> dict[str, float]:
    """A burst of ``big`` casts and one of ``small``: the rates and the per-message cost ratio."""
    client = session.client()
    cast_burst(client, min(small, 1000))  # warm-up
    small_s = cast_burst(client, small)
    big_s = cast_burst(client, big)
    client.close()
    big_rate, small_rate = big / big_s, small / small_s
    return {
        "big_count": big,
        "big_msgs_per_s": big_rate,
        "small_count": small,
        "small_msgs_per_s": small_rate,
        "cost_ratio": small_rate / big_rate,  # per-message cost at big / at small
    }


def isolation(session: Session, seconds: float, size: int = ECHO_SIZE) -> dict[str, float]:
    """p99 of small calls on one connection, idle and while another streams ``size`` echoes."""
    client = session.client()
    client.add()
    idle: list[float] = []
    timed_loop(client.add, time.perf_counter() + seconds, idle)
    stop = threading.Event()
    streaming = threading.Event()
    echoes = [0]

    def stream() -> None:
        bulk = session.client("bulk")
        payload = bytes(size)
        bulk.echo(payload)
        streaming.set()
        while not stop.is_set():
            bulk.echo(payload)
            echoes[0] += 1
        bulk.close()

    thread = threading.Thread(target=stream, daemon=True)
    thread.start()
    if not streaming.wait(30):
        stop.set()
        raise RuntimeError("the bulk connection did not start")
    busy: list[float] = []
    begin = time.perf_counter()
    timed_loop(client.add, begin + seconds, busy)
    elapsed = time.perf_counter() - begin
    stop.set()
    thread.join(30)
    client.close()
    idle_p99, busy_p99 = percentile(idle, 0.99) * 1e6, percentile(busy, 0.99) * 1e6
    return {
        "idle_p99_us": idle_p99,
        "busy_p99_us": busy_p99,
        "ratio": busy_p99 / idle_p99,
        "bulk_mb_per_s": 2 * size * echoes[0] / elapsed / 1e6,
    }


def connections(session: Any, server_pid: int, count: int) -> dict[str, float]:
    """genrpc_actors only: ``count`` keyed connections, one call each; memory and threads."""
    import psutil  # noqa: PLC0415

    from benchmarks.clients import TARGETS  # noqa: PLC0415
    from benchmarks.servers import SERVER_NODE  # noqa: PLC0415

    node = session.node
    here, there = psutil.Process(), psutil.Process(server_pid)
    gc.collect()
    rss = (here.memory_info().rss, there.memory_info().rss)
    threads = (here.num_threads(), there.num_threads())
    worked = 0
    for i in range(count):
        try:
            worked += node.call((SERVER_NODE, i), TARGETS, "add", (i, 1), timeout=60) == i + 1
        except Exception:  # counted as a connection that did not work
            continue
    time.sleep(0.2)  # the server's side of the last connections settles
    gc.collect()
    return {
        "count": count,
        "worked": worked,
        "client_rss_kb": (here.memory_info().rss - rss[0]) / 1024 / count,
        "server_rss_kb": (there.memory_info().rss - rss[1]) / 1024 / count,
        "client_threads": (here.num_threads() - threads[0]) / count,
        "server_threads": (there.num_threads() - threads[1]) / count,
    }


def _work_loop(
    session: Session,
    shared: Client | None,
    lane: str,
    until: float,
    done: list[int],
    index: int,
    failures: list[BaseException],
) -> None:
    """Call ``work`` until ``until``; a client of its own is opened in this thread (Pyro5's
    proxies belong to the thread that made them)."""
    try:
        client = shared if shared is not None else session.client(lane)
        while time.perf_counter() < until:
            client.work()
            done[index] += 1
        if shared is None:
            client.close()
    except BaseException as exc:
        failures.append(exc)


def cpu_parallel(session: Session, seconds: float, callers: int) -> dict[str, float]:
    """CPU-bound calls (``work``, ~50 ms each): the rate one at a time, then with ``callers``
    at once. A node whose requests share one GIL stays near 1x; one with process workers
    approaches the number of cores."""
    client = session.client()
    client.work()
    failures: list[BaseException] = []
    done = [0]
    begin = time.perf_counter()
    _work_loop(session, client, "", begin + seconds, done, 0, failures)
    serial = done[0] / (time.perf_counter() - begin)
    shared = client if session.shared_callers else None
    counts = [0] * callers
    until = time.perf_counter() + seconds
    begin = time.perf_counter()
    threads = [
        threading.Thread(
            target=_work_loop,
            args=(session, shared, f"cpu{i}", until, counts, i, failures),
            daemon=True,
        )
        for i in range(callers)
    ]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    parallel = sum(counts) / (time.perf_counter() - begin)
    client.close()
    if failures:
        raise failures[0]
    return {
        "callers": callers,
        "serial_per_s": serial,
        "parallel_per_s": parallel,
        "speedup": parallel / serial,
    }


def _neighbour(
    session: Session,
    lane: str,
    started: threading.Barrier,
    stop: threading.Event,
    failures: list[BaseException],
) -> None:
    try:
        client = session.client(lane)
        client.work()
        started.wait()
        while not stop.is_set():
            client.work()
        client.close()
    except BaseException as exc:
        failures.append(exc)
        started.abort()


def noisy_neighbour(session: Session, seconds: float) -> dict[str, float]:
    """Small calls, p50 and p99, on an idle server and beside 1 and 2 CPU-bound requests that
    run all along on other connections of the same server."""
    client = session.client()
    client.add()
    figures: dict[str, float] = {}
    failures: list[BaseException] = []
    for busy in (0, 1, 2):
        stop = threading.Event()
        started = threading.Barrier(busy + 1)
        threads = [
            threading.Thread(
                target=_neighbour,
                args=(session, f"noise{i}", started, stop, failures),
                daemon=True,
            )
            for i in range(busy)
        ]
        for thread in threads:
            thread.start()
        try:
            started.wait()
        except threading.BrokenBarrierError:
            stop.set()
            raise failures[0] if failures else RuntimeError("a neighbour failed") from None
        samples: list[float] = []
        timed_loop(client.add, time.perf_counter() + seconds, samples)
        stop.set()
        for thread in threads:
            thread.join()
        us = [s * 1e6 for s in samples]
        figures[f"busy{busy}_p50_us"] = statistics.median(us)
        figures[f"busy{busy}_p99_us"] = percentile(us, 0.99)
    client.close()
    if failures:
        raise failures[0]
    for busy in (1, 2):
        for stat in ("p50", "p99"):
            figures[f"busy{busy}_{stat}_ratio"] = (
                figures[f"busy{busy}_{stat}_us"] / figures[f"busy0_{stat}_us"]
            )
    return figures


def overhead(session: Any, seconds: float, size: int = ECHO_SIZE) -> dict[str, float]:
    """genrpc_actors only: small calls and ``size``-byte echoes to the functions of
    ``benchmarks.cpu_targets``, which the ``+processes`` node runs in its process workers and
    the other in its threads: what a process hop costs."""
    from benchmarks import cpu_targets  # noqa: PLC0415
    from benchmarks.servers import SERVER_NODE  # noqa: PLC0415

    node, module = session.node, cpu_targets.__name__
    node.call(SERVER_NODE, module, "add", (1, 2))
    samples: list[float] = []
    begin = time.perf_counter()
    timed_loop(lambda: node.call(SERVER_NODE, module, "add", (1, 2)), begin + seconds, samples)
    small = latencies(samples, time.perf_counter() - begin)
    payload = bytes(size)
    echoes: list[float] = []
    begin = time.perf_counter()
    timed_loop(lambda: node.call(SERVER_NODE, module, "echo", (payload,)), begin + seconds, echoes)
    elapsed = time.perf_counter() - begin
    return {
        "calls_per_s": small["calls_per_s"],
        "p50_us": small["p50_us"],
        "echo_mb_per_s": 2 * size * len(echoes) / elapsed / 1e6,
    }


def kill_latency(session: Any) -> dict[str, float]:
    """genrpc_actors with process workers only: a request that never returns is killed at the
    node's ``request_time_limit``: how long after the limit its caller hears of it; how long
    after that the pool serves a request again (another worker may serve it); and how long
    until the killed worker is replaced and ready (all workers idle with a live process, one
    of them new), with the time its new process took to start."""
    from benchmarks import cpu_targets  # noqa: PLC0415
    from benchmarks.servers import KILL_AFTER, SERVER_NODE  # noqa: PLC0415
    from genrpc_actors import BadRpc  # noqa: PLC0415

    node, module = session.node, cpu_targets.__name__

    def workers() -> list[dict[str, Any]]:
        info = node.call(SERVER_NODE, "genrpc_actors.introspection", "describe", timeout=30)
        return list(info["process_workers"])

    node.call(SERVER_NODE, module, "add", (1, 2))
    before = {w["pid"] for w in workers()}
    begin = time.perf_counter()
    try:
        node.call(SERVER_NODE, module, "loop_forever", timeout=KILL_AFTER + 30)
    except BadRpc as exc:
        if exc.reason != ("killed", "time_limit"):
            raise
    else:
        raise RuntimeError("a request that never returns returned")
    answered = time.perf_counter()
    while True:
        try:
            node.call(SERVER_NODE, module, "add", (1, 2), timeout=30)
            break
        except BadRpc:
            continue
    served = time.perf_counter()
    while True:
        now = workers()
        new = [w for w in now if w["pid"] not in before]
        if new and all(w["state"] == "idle" for w in now):
            break
        if time.perf_counter() - answered > 30:
            raise RuntimeError("the killed worker was not replaced in 30 s")
        time.sleep(0.002)
    replaced = time.perf_counter()
    return {
        "late_ms": (answered - begin - KILL_AFTER) * 1000,
        "served_ms": (served - answered) * 1000,
        "replaced_ms": (replaced - answered) * 1000,
        "start_ms": new[0]["started_s"] * 1000,
    }


def actor_ask(session: Session, seconds: float) -> dict[str, float]:
    """Sequential asks of a remote actor (genrpc_actors: ``RemoteActorRef.ask``; Pyro5: proxy
    method calls; Ray: actor method calls with ``ray.get``), and, where the peer has them,
    sequential calls of a function in the same run, alternating in slices, for the ratio."""
    asker = session.actor_client()
    try:
        for _ in range(200):  # warm up: the actor started, the connection made
            asker.ask()
        caller = session.client() if session.blocking else None
        ask_samples: list[float] = []
        call_samples: list[float] = []
        asked = called = 0.0
        slices = 4
        for _ in range(slices):
            start = time.perf_counter()
            timed_loop(asker.ask, start + seconds / slices, ask_samples)
            asked += time.perf_counter() - start
            if caller is not None:
                start = time.perf_counter()
                timed_loop(caller.add, start + seconds / slices, call_samples)
                called += time.perf_counter() - start
        asks = latencies(ask_samples, asked)
        figures = {
            "asks_per_s": asks["calls_per_s"],
            "p50_us": asks["p50_us"],
            "p99_us": asks["p99_us"],
        }
        if caller is not None:
            caller.close()
            calls_per_s = latencies(call_samples, called)["calls_per_s"]
            figures["calls_per_s"] = calls_per_s
            figures["ratio_to_call"] = figures["asks_per_s"] / calls_per_s
        return figures
    finally:
        asker.close()

"""The ``incoming`` workload: several client processes pipelining calls into one server at once.

Each client process opens a session of its own (for genrpc_actors: a client node of its own),
warms up with one pipeline of calls and says it is ready; once all are, the harness notes the
server process's CPU time and tells them when to stop, and each runs ``client.pipeline(depth)``
until then and sends back how many calls it made and the CPU time it spent. The figures: the
calls the server took in per second, all clients together, and the CPU microseconds per call of
the server process (the cost of serving) and of the client processes (their sum over the calls).

It runs from the harness's own process, not from a client process: the client processes are
daemons, and a daemonic process cannot start processes of its own.
"""

from __future__ import annotations

import multiprocessing
import time
from multiprocessing.connection import Connection as Pipe
from typing import Any

import psutil

from benchmarks import targets
from benchmarks.workloads import cpu_seconds

READY_TIMEOUT = 60.0  # seconds for a client process to start, connect and warm up


def _caller(peer: str, address: Any, pin: int | None, depth: int, pipe: Pipe) -> None:
    targets.setup_process(pin)
    from benchmarks.clients import SESSIONS  # noqa: PLC0415

    session = SESSIONS[peer](address, pin)
    try:
        client = session.client()
        client.pipeline(depth)
        pipe.send("ready")
        until = pipe.recv()
        here = psutil.Process()
        before = cpu_seconds(here)
        calls = 0
        while time.monotonic() < until:  # one clock for every process of the machine
            client.pipeline(depth)
            calls += depth
        pipe.send((calls, cpu_seconds(here) - before))
        client.close()
    except BaseException as exc:
        pipe.send(("error", f"{type(exc).__name__}: {exc}"))
        raise
    finally:
        session.close()


def _receive(pipe: Pipe, timeout: float, what: str) -> Any:
    if not pipe.poll(timeout):
        raise RuntimeError(f"a client process sent no {what} within {timeout:.0f} s")
    message = pipe.recv()
    if isinstance(message, tuple) and message[0] == "error":
        raise RuntimeError(f"a client process failed: {message[1]}")
    return message


def incoming(
    peer: str,
    address: Any,
    server_pid: int,
    seconds: float,
    depth: int,
    processes: int,
    pin: int | None,
) -> dict[str, float]:
    """``processes`` client processes, each with ``depth`` calls in flight, into one server."""
    context = multiprocessing.get_context("spawn")
    pipes: list[Pipe] = []
    started: list[multiprocessing.process.BaseProcess] = []
    try:
        for index in range(processes):
            parent, child = context.Pipe()
            process = context.Process(
                target=_caller,
                args=(peer, address, pin, depth, child),
                name=f"bench-incoming{index}-{peer}",
                daemon=True,
            )
            process.start()
            child.close()
            pipes.append(parent)
            started.append(process)
        for pipe in pipes:
            _receive(pipe, READY_TIMEOUT, "ready")
        server = psutil.Process(server_pid)
        before = cpu_seconds(server)
        begin = time.monotonic()
        for pipe in pipes:
            pipe.send(begin + seconds)
        done = [_receive(pipe, READY_TIMEOUT + seconds, "count") for pipe in pipes]
        elapsed = time.monotonic() - begin
        server_cpu = cpu_seconds(server) - before
    finally:
        for pipe in pipes:
            pipe.close()
        for each in started:
            each.join(10)
            if each.is_alive():
                each.kill()
                each.join(10)
    calls = sum(count for count, _ in done)
    return {
        "processes": processes,
        "depth": depth,
        "calls_per_s": calls / elapsed,
        "server_cpu_us": 1e6 * server_cpu / calls,
        "client_cpu_us": 1e6 * sum(cpu for _, cpu in done) / calls,
    }

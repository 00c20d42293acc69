"""What the benchmark servers run, and how every benchmark process sets itself up.

Every peer's server calls these same functions, so each peer does the same work per request:
``add`` (the small call), ``echo`` (the 500 KB payload), ``tick`` (the fire-and-forget message),
``wait_ticks`` (the round trip that ends a burst: it returns once every tick has *run*,
whatever order the server ran them in) and ``nap`` (a coroutine that sleeps: the server awaits
it on its event loop). Kept free of heavy imports: servers import it by name.
"""

from __future__ import annotations

import asyncio
import logging
import os
import resource
import threading
import time
from typing import Any

import pykka

import supervision as sv

_tick_lock = threading.Lock()
_ticks = 0


def add(a: Any, b: Any) -> Any:
    return a + b


def echo(value: Any) -> Any:
    return value


async def nap(seconds: float, value: Any) -> Any:
    """``value`` after ``seconds`` of ``asyncio.sleep``: a request that waits, holding no thread."""
    return await asyncio.sleep(seconds, value)


def tick() -> None:
    global _ticks  # noqa: PLW0603 - the server-wide count of the messages that have run
    with _tick_lock:
        _ticks += 1


def reset_ticks() -> int:
    global _ticks  # noqa: PLW0603
    with _tick_lock:
        _ticks = 0
    return 0


def wait_ticks(count: int, timeout: float = 600.0) -> int:
    """Return the number of ticks run once it reaches ``count`` (or when ``timeout`` is over)."""
    deadline = time.monotonic() + timeout
    while _ticks < count and time.monotonic() < deadline:
        time.sleep(0.0005)
    return _ticks


def pin_process(cpu: int) -> int:
    """Pin every thread of this process to ``cpu`` (threads started later inherit it).

    ``sched_setaffinity(0, ...)`` moves only the calling thread on Linux, so each thread
    listed in /proc/self/task is moved; returns how many were.
    """
    cpus = {cpu}
    moved = 0
    for entry in os.listdir("/proc/self/task"):
        try:
            os.sched_setaffinity(int(entry), cpus)
            moved += 1
        except (ProcessLookupError, PermissionError):  # a thread that ended meanwhile
            continue
    os.sched_setaffinity(0, cpus)
    return moved


def raise_fd_limit() -> int:
    """Raise this process's open-file limit to its hard limit (1,000 connections need it)."""
    soft, hard = resource.getrlimit(resource.RLIMIT_NOFILE)
    if soft < hard:
        resource.setrlimit(resource.RLIMIT_NOFILE, (hard, hard))
    return resource.getrlimit(resource.RLIMIT_NOFILE)[0]


def setup_process(pin: int | None) -> None:
    """What every benchmark process does first: enough file descriptors, and the pinning."""
    raise_fd_limit()
    if pin is not None:
        pin_process(pin)


class EchoActor(pykka.ThreadingActor):
    """The actor that ``actor_ask`` asks: it answers each message with the message."""

    def on_receive(self, message: Any) -> Any:
        return message


class CrashingChild(sv.SupervisedActor):
    """The remote child of ``supervisor_restart --remote``: answers ``"ping"``, dies of
    anything else."""

    def on_receive(self, message: Any) -> Any:
        if message == "ping":
            return "pong"
        raise RuntimeError(f"crash on {message!r}")


def quiet_logs() -> bool:
    """Crashes on purpose are not news: the benchmark's server logs none of them."""
    for name in ("supervision", "genrpc_actors"):
        logging.getLogger(name).setLevel(logging.CRITICAL)
    return True

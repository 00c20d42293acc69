"""Functions that tests run in process workers (``process_modules``), and the ways a request can
end the process that runs it."""

from __future__ import annotations

import ctypes
import os
import time


def pid() -> int:
    return os.getpid()


def echo(value: object) -> object:
    return value


def exit_with(code: int) -> None:
    os._exit(code)


def segfault() -> None:
    ctypes.string_at(0)


def spin(seconds: float) -> int:
    """A pure-Python loop: it holds the GIL, as CPU-bound requests do."""
    end = time.monotonic() + seconds
    count = 0
    while time.monotonic() < end:
        count += 1
    return count


def allocate(megabytes: int) -> int:
    """Hold ``megabytes`` of touched memory for a while (past any memory limit it is killed)."""
    block = bytearray(megabytes * 1024 * 1024)
    for i in range(0, len(block), 4096):
        block[i] = 1
    time.sleep(2)
    return len(block)


def system_exit() -> None:
    raise SystemExit(7)


def unpicklable() -> object:
    return (n for n in range(3))


def sleep_then(seconds: float, value: object) -> object:
    time.sleep(seconds)
    return value


def shared_regions(value: object) -> list[str]:
    """The shared memory regions this worker has mapped, while it runs a request of ``value``."""
    with open(f"/proc/{os.getpid()}/maps") as maps:
        return [line.split()[-2] for line in maps if "genrpc-worker-body" in line]

"""Coroutine functions that tests call on remote nodes (by name, as RPC targets)."""

from __future__ import annotations

import asyncio
import os
import threading
from collections.abc import Coroutine
from pathlib import Path
from typing import Any


async def double(x: int) -> int:
    await asyncio.sleep(0)
    return 2 * x


async def sleep_then(seconds: float, value: Any) -> Any:
    await asyncio.sleep(seconds)
    return value


async def raise_value_error(text: str) -> None:
    await asyncio.sleep(0)
    raise ValueError(text)


def returns_a_coroutine(x: int) -> Coroutine[Any, Any, int]:
    """Not itself ``async def``: what it returns is awaited all the same."""
    return double(x)


async def pid() -> int:
    return os.getpid()


async def thread_name() -> str:
    """The thread a coroutine runs in (the node's event loop's)."""
    return threading.current_thread().name


async def record_cancellation(path: str, seconds: float = 60.0) -> str:
    """Write ``started`` to ``path``, sleep; when cancelled, append ``cancelled`` and, in
    ``finally``, ``finally``: what a test reads to see that the cancellation arrived."""
    record = Path(path)
    record.write_text("started\n")
    try:
        await asyncio.sleep(seconds)
    except asyncio.CancelledError:
        with record.open("a") as out:
            out.write("cancelled\n")
        raise
    finally:
        with record.open("a") as out:
            out.write("finally\n")
    return "slept"

"""Bounded waits shared by the tests: never a bare sleep, always a deadline that fails the test."""

from __future__ import annotations

import time
from collections.abc import Callable
from typing import Any

import psutil

WAIT = 5.0  # generous bound for anything that should happen "at once"


def wait_for(condition: Callable[[], Any], timeout: float = WAIT, interval: float = 0.002) -> Any:
    """Poll ``condition`` until it returns something truthy; fail after ``timeout`` seconds."""
    deadline = time.monotonic() + timeout
    while True:
        value = condition()
        if value:
            return value
        if time.monotonic() > deadline:
            raise AssertionError(f"condition not met within {timeout} s: {condition}")
        time.sleep(interval)


def process_gone(pid: int) -> bool:
    """Whether the process ``pid`` has ended (a zombie waiting for its parent counts)."""
    try:
        return bool(psutil.Process(pid).status() == psutil.STATUS_ZOMBIE)
    except psutil.NoSuchProcess:
        return True

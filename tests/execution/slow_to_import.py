"""A module that takes a while to import (imported only by test_slow_import.py, remotely)."""

from __future__ import annotations

import time

time.sleep(0.5)  # the import itself is slow: calls made meanwhile must wait for it


def answer() -> int:
    return 42

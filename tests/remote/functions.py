"""Functions that tests call on remote nodes (imported there by name, as RPC targets)."""

from __future__ import annotations

import os
import threading
import time
from collections.abc import Iterator
from typing import Any

from genrpc_actors.testing import incoming

__version__ = "1.0.0"


def stub_function() -> str:
    return "stub_function"


def echo(value: Any) -> Any:
    return value


def pid() -> int:
    return os.getpid()


def sleep_then(seconds: float, value: Any) -> Any:
    time.sleep(seconds)
    return value


def unpicklable_result() -> Any:
    return (n for n in range(3))  # neither pickle nor dill can carry a generator


def raise_value_error(text: str) -> None:
    raise ValueError(text)


def raise_keyboard_interrupt() -> None:
    raise KeyboardInterrupt


def close_acceptors() -> int:
    """Close every incoming connection of this process's default node; returns how many."""
    from genrpc_actors._node._node import default_node

    connections = incoming(default_node())
    for connection in connections:
        connection.close()
    return len(connections)


def write_file(path: str) -> None:
    with open(path, "w") as stream:
        stream.write("written")


class WritesFile:
    """Unpickling this writes a file: the canary for "nothing is unpickled before auth"."""

    def __init__(self, path: str) -> None:
        self.path = path

    def __reduce__(self) -> tuple[Any, ...]:
        return (write_file, (self.path,))


_FLAGS: dict[str, threading.Event] = {}
_FLAGS_LOCK = threading.Lock()


def _flag(name: str) -> threading.Event:
    with _FLAGS_LOCK:
        return _FLAGS.setdefault(name, threading.Event())


def set_flag(name: str) -> bool:
    _flag(name).set()
    return True


def wait_for_flag(name: str, timeout: float) -> bool:
    """Wait until another request sets the flag ``name``; True if it did within ``timeout``."""
    return _flag(name).wait(timeout)


def set_flag_then_wait_for_flag(started: str, release: str, timeout: float) -> bool:
    """Say that it runs (the flag ``started``), then wait as ``wait_for_flag(release)``."""
    set_flag(started)
    return wait_for_flag(release, timeout)


def generator_result() -> Iterator[int]:
    """A result that neither pickle nor dill can carry."""
    return (n for n in range(3))

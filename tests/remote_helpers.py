"""Functions that tests call on remote nodes (imported there by name, as RPC targets)."""

from __future__ import annotations

import os
import time
from typing import Any

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
    from genrpc_actors._node import default_node

    connections = list(default_node().acceptors)
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

"""A clock that moves only when told, and a node whose timers run on it."""

from __future__ import annotations

import threading
from collections.abc import Callable
from typing import Any

from genrpc_actors._config import Config
from genrpc_actors._node import Node

__all__ = ["FakeClock", "start_node"]


class FakeClock:
    """A monotonic clock that moves only when ``advance`` says; whatever ``subscribe``\\ d to it
    (a node's timers) looks at it again each time it moves."""

    def __init__(self, start: float = 0.0) -> None:
        self._now = start
        self._lock = threading.Lock()
        self._listeners: list[Callable[[], None]] = []

    def __call__(self) -> float:
        with self._lock:
            return self._now

    def __repr__(self) -> str:
        return f"<FakeClock now={self()}>"

    def subscribe(self, listener: Callable[[], None]) -> None:
        """Call ``listener()`` after every ``advance``."""
        with self._lock:
            self._listeners.append(listener)

    def advance(self, seconds: float) -> None:
        """Move the clock forward by ``seconds`` (>= 0) and tell the listeners."""
        if seconds < 0:
            raise ValueError("a monotonic clock does not go back")
        with self._lock:
            self._now += seconds
            listeners = list(self._listeners)
        for listener in listeners:
            listener()


def start_node(
    name: str, *, clock: Callable[[], float], config: Config | None = None, **overrides: Any
) -> Node:
    """``Node.start``, with the node's timers (``async_call_inactivity_timeout``) on ``clock``."""
    base = config if config is not None else Config.from_env()
    node = Node(name, base.replace(**overrides) if overrides else base, clock=clock)
    node._start_tree()  # noqa: SLF001 - Node.start, with a clock of the test's
    return node

"""A node whose timers run on a clock of the test's (``supervision.testing.FakeClock``)."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

from genrpc_actors._config import Config
from genrpc_actors._node import Node
from supervision.testing import FakeClock

__all__ = ["FakeClock", "start_node"]


def start_node(
    name: str, *, clock: Callable[[], float], config: Config | None = None, **overrides: Any
) -> Node:
    """``Node.start``, with the node's timers (``async_call_inactivity_timeout``) on ``clock``;
    a clock with ``subscribe`` (``FakeClock``) has them look again each time it moves."""
    base = config if config is not None else Config.from_env()
    node = Node(name, base.replace(**overrides) if overrides else base, clock=clock)
    node._start_tree()  # noqa: SLF001 - Node.start, with a clock of the test's
    return node

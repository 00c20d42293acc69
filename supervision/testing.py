"""A testing kit: a fake clock for intensity windows, and a fixture that tears every tree down.

Use the fixture from a ``conftest.py``::

    from supervision.testing import supervision_trees  # noqa: F401  (a pytest fixture)

or make it automatic with ``pytest_plugins = ["supervision.testing"]`` and an autouse wrapper.
The fixture is defined when pytest is installed; the clock and ``stop_actors`` need nothing.
"""

from __future__ import annotations

import threading
import time
from collections.abc import Callable
from typing import TYPE_CHECKING

from supervision._lifecycle import Lifecycle, live_lifecycles
from supervision._signals import SHUTDOWN

if TYPE_CHECKING:
    from collections.abc import Iterable, Iterator

__all__ = ["FakeClock", "stop_actors", "supervision_trees"]


class FakeClock:
    """A monotonic clock that moves only when told: pass it as ``clock=`` to a supervisor.

    Whatever waits for a deadline on it in a thread of its own (a timer thread) can
    ``subscribe`` a listener, called after every ``advance``, to look at the clock again."""

    def __init__(self, start: float = 0.0) -> None:
        self._now = start
        self._lock = threading.Lock()
        self._listeners: list[Callable[[], None]] = []

    def __call__(self) -> float:
        with self._lock:
            return self._now

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

    def __repr__(self) -> str:
        return f"<FakeClock now={self()}>"


def stop_actors(lifecycles: Iterable[Lifecycle], timeout: float = 10.0) -> list[str]:
    """Stop the given supervised actors, roots of trees first, and wait for their threads.

    Returns the names of those that were still alive. Raises ``TimeoutError`` if some would not
    die within ``timeout`` seconds.
    """
    pending = [lc for lc in lifecycles if not lc.dead.is_set()]
    names = [lc.name for lc in pending]
    deadline = time.monotonic() + timeout
    while pending:
        # A root has no live parent: stopping it stops its subtree without restarts.
        roots = [lc for lc in pending if lc.parent is None or lc.parent.dead.is_set()]
        for lc in roots or pending:
            lc.kill(SHUTDOWN)
        for lc in roots or pending:
            if not lc.wait_dead(max(0.0, deadline - time.monotonic())):
                raise TimeoutError(f"{lc.name} did not stop within {timeout} s")
        pending = [lc for lc in pending if not lc.dead.is_set()]
    return names


def supervision_trees() -> Iterator[None]:
    """Stop, after the test, every supervised actor the test left alive (trees from the root)."""
    before = set(live_lifecycles())
    yield
    stop_actors([lc for lc in live_lifecycles() if lc not in before])


try:  # the fixture, for tests that use pytest
    import pytest

    supervision_trees = pytest.fixture(supervision_trees)
except ImportError:  # pragma: no cover - pytest is a test dependency only
    pass

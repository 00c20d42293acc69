"""Nodes still running when the interpreter exits are stopped, so that a script ends.

A node's actors run in non-daemon threads (Pykka's), and the interpreter joins those before it
runs ``atexit`` handlers: a script that starts a node and ends, or dies of an exception, without
``stop()`` would wait forever. ``threading._register_atexit`` (what ``concurrent.futures`` uses)
runs before that join.
"""

from __future__ import annotations

import logging
import threading
import weakref
from typing import Protocol

__all__ = ["stop_at_exit"]

logger = logging.getLogger("genrpc_actors")


class _Stoppable(Protocol):
    name: str

    def stop(self) -> None: ...


_running: weakref.WeakSet[_Stoppable] = weakref.WeakSet()
_lock = threading.Lock()
_registered = False


def stop_at_exit(node: _Stoppable) -> None:
    """Stop ``node`` when the interpreter exits, if it still runs then."""
    global _registered  # noqa: PLW0603 - one hook per process
    with _lock:
        _running.add(node)
        if _registered:
            return
        try:
            threading._register_atexit(_stop_all)  # type: ignore[attr-defined]  # noqa: SLF001
        except RuntimeError:  # the interpreter is already shutting down
            return
        _registered = True


def _stop_all() -> None:
    with _lock:
        nodes = list(_running)
        _running.clear()
    for node in nodes:
        try:
            node.stop()
        except Exception:
            logger.exception("event=stop_at_exit_failed node=%s", node.name)
        else:
            logger.debug("event=stopped_at_exit node=%s", node.name)

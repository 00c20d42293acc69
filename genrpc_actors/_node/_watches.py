"""The actors of this node that other nodes watch: a SUPERVISE "watch" becomes a
``supervision.monitor`` of the actor, whose ``Down`` calls that watch's ``on_exit`` (which sends
the reply) in the dying actor's own thread.

``supervision`` tells a monitor's ``Down`` to an actor ref; the watcher here is a ref whose
``tell`` is that call (``_CallbackRef``): no relay thread to wake, and nothing to stop.
"""

from __future__ import annotations

import threading
import weakref
from collections.abc import Callable
from typing import Any

import pykka

import supervision as sv

__all__ = ["Watches"]

OnExit = Callable[[Any], None]


class _CallbackRef(pykka.ActorRef[Any]):
    """The watcher of every monitor a node holds for others: ``tell(Down)`` calls ``down``."""

    def __init__(self, down: weakref.WeakMethod[Callable[[int, Any], None]]) -> None:
        self._down = down  # weakly: the watches hold this ref (no actor behind it)
        self.actor_urn = "genrpc-watches"

    def __repr__(self) -> str:
        return "<the watches of this node>"

    def is_alive(self) -> bool:
        return True

    def tell(self, message: Any) -> None:
        down = self._down()
        if down is not None and isinstance(message, sv.Down):
            down(message.monitor_ref.id, message.reason)


class Watches:
    """This node's actors watched for other nodes: ``watch(ref, on_exit)`` returns what cancels
    it. Thread-safe."""

    def __init__(self) -> None:
        # reentrant: the Down of an actor dead already comes during the monitor, in its thread
        self._lock = threading.RLock()
        self._watcher = _CallbackRef(weakref.WeakMethod(self.down))
        self._on_exit: dict[int, OnExit] = {}
        self._early: dict[int, Any] = {}  # what came during a monitor, in its own thread
        self._registering = False
        self._stopped = False

    def __repr__(self) -> str:
        return f"<Watches {len(self._on_exit)}>"

    def watch(self, ref: pykka.ActorRef[Any], on_exit: OnExit) -> Callable[[], None]:
        """Call ``on_exit(reason)`` once ``ref`` dies (at once if it is dead); ``TypeError``
        if it is not a ``supervision.SupervisedActor``."""
        # under the lock: a Down from the actor's thread waits until the watch is filed
        with self._lock:
            if self._stopped:
                raise TypeError("the node stops: it watches no actor any more")
            self._registering = True
            try:
                mref = sv.monitor(self._watcher, ref)
            finally:
                self._registering = False
            early = self._early.pop(mref.id, _NOT_YET)
            if early is _NOT_YET:
                self._on_exit[mref.id] = on_exit
        if early is not _NOT_YET:
            on_exit(early)

        def cancel() -> None:
            with self._lock:
                self._on_exit.pop(mref.id, None)
            sv.demonitor(mref)

        return cancel

    def down(self, monitor_id: int, reason: Any) -> None:
        with self._lock:
            on_exit = self._on_exit.pop(monitor_id, None)
            if on_exit is None and self._registering:  # during the monitor, in this thread
                self._early[monitor_id] = reason
        if on_exit is not None:  # else it was cancelled
            on_exit(reason)

    def stop(self) -> None:
        with self._lock:
            self._stopped = True
            self._on_exit.clear()


_NOT_YET: Any = object()

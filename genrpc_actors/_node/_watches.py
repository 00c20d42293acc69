"""The actors of this node that other nodes watch: a SUPERVISE "watch" becomes a
``supervision.monitor`` of the actor, whose ``Down`` a relay actor turns into the call of that
watch's ``on_exit`` (which sends the reply).

One relay per node, started on the first watch and stopped with the node. ``supervision``
tells a monitor's ``Down`` to an actor, so the relay is that actor; its thread sends the replies.
"""

from __future__ import annotations

import contextlib
import threading
from collections.abc import Callable
from typing import Any

import pykka

import supervision as sv

__all__ = ["Watches"]

OnExit = Callable[[Any], None]


class _Relay(pykka.ThreadingActor):
    """Receives the ``Down`` of every watched actor and calls its watch's ``on_exit``."""

    def __init__(self, watches: Watches) -> None:
        super().__init__()
        self._watches = watches

    def on_receive(self, message: Any) -> None:
        if isinstance(message, sv.Down):
            self._watches.down(message.monitor_ref.id, message.reason)


class Watches:
    """This node's actors watched for other nodes: ``watch(ref, on_exit)`` returns what cancels
    it. Thread-safe."""

    def __init__(self) -> None:
        self._lock = threading.Lock()
        self._relay: pykka.ActorRef[Any] | None = None
        self._on_exit: dict[int, OnExit] = {}
        self._stopped = False

    def __len__(self) -> int:
        return len(self._on_exit)

    def __repr__(self) -> str:
        return f"<Watches {len(self._on_exit)}>"

    def watch(self, ref: pykka.ActorRef[Any], on_exit: OnExit) -> Callable[[], None]:
        """Call ``on_exit(reason)`` once ``ref`` dies (at once if it is dead); ``TypeError``
        if it is not a ``supervision.SupervisedActor``."""
        relay = self._relay_ref()
        # under the lock: a Down (told to the relay, never called here) waits until it is filed
        with self._lock:
            mref = sv.monitor(relay, ref)
            self._on_exit[mref.id] = on_exit

        def cancel() -> None:
            with self._lock:
                self._on_exit.pop(mref.id, None)
            sv.demonitor(mref)

        return cancel

    def down(self, monitor_id: int, reason: Any) -> None:
        with self._lock:
            on_exit = self._on_exit.pop(monitor_id, None)
        if on_exit is not None:  # else it was cancelled
            on_exit(reason)

    def stop(self) -> None:
        with self._lock:
            relay, self._relay, self._stopped = self._relay, None, True
            self._on_exit.clear()
        if relay is not None:
            with contextlib.suppress(pykka.ActorDeadError):
                relay.stop()

    def _relay_ref(self) -> pykka.ActorRef[Any]:
        with self._lock:
            if self._stopped:
                raise TypeError("the node stops: it watches no actor any more")
            if self._relay is None:
                self._relay = _Relay.start(self)
            return self._relay

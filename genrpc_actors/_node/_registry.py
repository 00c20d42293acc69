"""Named actors: the targets of ``abcast`` and ``sbcast`` (Erlang's registered names)."""

from __future__ import annotations

import threading
from typing import Any

import pykka

from genrpc_actors._errors import NameTakenError
from genrpc_actors._node._exports import EXPORTED, Exports

__all__ = ["Registry"]


class Registry:
    """Names to Pykka actor refs; a dead actor's name is free again. Thread-safe.

    Names that start with ``#`` are the node's exported actors (``_exports``): found here, as
    registered ones are, but never registered."""

    def __init__(self, exports: Exports | None = None) -> None:
        self._names: dict[str, pykka.ActorRef[Any]] = {}
        self._lock = threading.Lock()
        self.exports = exports if exports is not None else Exports()

    def register(self, name: str, actor_ref: pykka.ActorRef[Any]) -> None:
        if not isinstance(name, str) or not name:
            raise TypeError(f"name must be a non-empty str, not {name!r}")
        if name.startswith(EXPORTED):
            raise ValueError(f"a registered name cannot start with {EXPORTED!r}: {name!r}")
        if not isinstance(actor_ref, pykka.ActorRef):
            raise TypeError(f"actor_ref must be a pykka.ActorRef, not {type(actor_ref).__name__}")
        with self._lock:
            current = self._names.get(name)
            if current is not None and current.is_alive() and current is not actor_ref:
                raise NameTakenError(("name_taken", name), f"{name!r} is registered to {current}")
            self._names[name] = actor_ref

    def unregister(self, name: str) -> None:
        with self._lock:
            self._names.pop(name, None)

    def whereis(self, name: str) -> pykka.ActorRef[Any] | None:
        if name[:1] == EXPORTED:
            return self.exports.lookup(name)
        ref = self._names.get(name)
        return ref if ref is not None and ref.is_alive() else None

    def registered(self) -> list[str]:
        with self._lock:
            return sorted(n for n, ref in self._names.items() if ref.is_alive())

    def deliver(self, name: str, message: Any) -> bool:
        """``tell`` ``message`` to the actor named ``name``; False if there is none."""
        ref = self.whereis(name)
        if ref is None:
            return False
        try:
            ref.tell(message)
        except pykka.ActorDeadError:
            return False
        return True

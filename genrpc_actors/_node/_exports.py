"""Local actors that travel: a ``pykka.ActorRef`` pickled by this process arrives elsewhere as a
``RemoteActorRef`` to it.

The process's default node exports the actor under ``"#" + its URN`` (unique to that actor, so
a ref to a dead actor can never reach another one) for as long as the actor lives, and asks for
that name are answered by it as for a registered name. Dead actors' entries are swept as new
ones come, so the table holds about as many entries as there are live exported actors.
"""

from __future__ import annotations

import copyreg
import pickle
import threading
from collections.abc import Callable
from typing import Any

import pykka

from genrpc_actors._node._remote_actors import RemoteActorRef

__all__ = ["EXPORTED", "Exports", "install"]

EXPORTED = "#"  # the first character of an exported actor's name
_SWEEP_FLOOR = 256  # entries the table may hold before a sweep looks for dead ones


class Exports:
    """This node's exported actors: name to ref, while they live. Thread-safe."""

    def __init__(self) -> None:
        self._refs: dict[str, pykka.ActorRef[Any]] = {}
        self._lock = threading.Lock()
        self._sweep_at = _SWEEP_FLOOR

    def __len__(self) -> int:
        return len(self._refs)

    def __repr__(self) -> str:
        return f"<Exports {len(self._refs)}>"

    def export(self, ref: pykka.ActorRef[Any]) -> str:
        name = EXPORTED + ref.actor_urn
        with self._lock:
            self._refs[name] = ref
            if len(self._refs) >= self._sweep_at:
                self._refs = {n: r for n, r in self._refs.items() if r.is_alive()}
                self._sweep_at = max(_SWEEP_FLOOR, 2 * len(self._refs))
        return name

    def lookup(self, name: str) -> pykka.ActorRef[Any] | None:
        ref = self._refs.get(name)
        if ref is not None and not ref.is_alive():
            with self._lock:
                self._refs.pop(name, None)
            return None
        return ref


Exporter = Callable[[pykka.ActorRef[Any]], tuple[str, str]]  # ref -> (node, exported name)
_exporter: list[Exporter] = []


def install(exporter: Exporter) -> None:
    """Have every ``pykka.ActorRef`` this process pickles travel as a ``RemoteActorRef``
    exported by ``exporter`` (the default node's)."""
    _exporter[:] = [exporter]


def _reduce(ref: pykka.ActorRef[Any]) -> tuple[Any, ...]:
    if not _exporter:
        raise pickle.PicklingError("an actor ref travels only from a running node")
    node, name = _exporter[0](ref)
    return (RemoteActorRef, (node, name))


copyreg.pickle(pykka.ActorRef, _reduce)

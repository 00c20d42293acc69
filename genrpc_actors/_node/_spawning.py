"""``spawn``: a Pykka actor started on this node for another one, linked to that node.

A SPAWN (an ASK with flag ``SPAWN``) names a class as ``"module:Class"`` (a class object only
when module control is off: it travels by value), its arguments, and perhaps a name to register
it under; without one, the actor is exported under its URN. Each spawned actor is linked to the
node that spawned it: when the last connection from that node ends (the node killed, cut off,
stopped), its actors stop, as Erlang's ``spawn_link`` would have them.
"""

from __future__ import annotations

import importlib
import logging
import threading
from typing import Any

import pykka

import supervision as sv
from genrpc_actors import _protocol
from genrpc_actors._errors import NameTakenError
from genrpc_actors._execution._request import ModuleControl, Outcome, awaited_outcome, error_body
from genrpc_actors._node._registry import Registry

__all__ = ["Spawned", "spawn_here"]

logger = logging.getLogger("genrpc_actors")


class Spawned:
    """The actors this node started for other nodes, by the node that asked. Thread-safe."""

    def __init__(self) -> None:
        self._by_peer: dict[str, list[pykka.ActorRef[Any]]] = {}
        self._lock = threading.Lock()

    def __len__(self) -> int:
        return sum(len(refs) for refs in self._by_peer.values())

    def add(self, peer: str, ref: pykka.ActorRef[Any]) -> None:
        with self._lock:
            refs = [r for r in self._by_peer.get(peer, []) if r.is_alive()]  # swept as it goes
            refs.append(ref)
            self._by_peer[peer] = refs

    def peer_gone(self, peer: str) -> None:
        """The node ``peer`` has no connection to this one any more: its actors stop."""
        with self._lock:
            refs = self._by_peer.pop(peer, [])
        alive = [ref for ref in refs if ref.is_alive()]
        if alive:
            logger.info("event=spawned_stopped peer=%s actors=%d", peer, len(alive))
        for ref in alive:
            ref.stop(block=False)


def spawn_here(
    control: ModuleControl,
    registry: Registry,
    spawned: Spawned,
    node: str,
    peer: str,
    flags: int,
    body: Any,
) -> Outcome:
    """Carry out a SPAWN from ``peer``: the reply is ``(node, the actor's name, whether it is
    a supervision.SupervisedActor)``."""
    if not control.allows("pykka") or (flags & _protocol.DILL and control.enabled):
        return _protocol.ERROR, 0, error_body("unauthorized")
    try:
        cls, args, kwargs, name = _protocol.decode_body(
            body, flags, control.unpickling, max_nesting=control.max_nesting
        )
        if isinstance(cls, str):
            module, _, qualname = cls.partition(":")
            cls = getattr(importlib.import_module(module), qualname)
        if not (isinstance(cls, type) and issubclass(cls, pykka.Actor)):
            raise TypeError(f"{cls!r} is not a Pykka actor class")
        ref = cls.start(*args, **(kwargs or {}))
    except _protocol.RefusedGlobal:
        return _protocol.ERROR, 0, error_body("unauthorized")
    except BaseException as exc:  # noqa: BLE001 - the class, or its start, failed there
        return awaited_outcome(False, exc)
    try:
        if name is None:
            name = registry.exports.export(ref)
        else:
            registry.register(name, ref)
    except (NameTakenError, TypeError, ValueError) as exc:
        ref.stop(block=False)
        return awaited_outcome(False, exc)
    if peer != node:
        spawned.add(peer, ref)
    return awaited_outcome(True, (node, name, issubclass(cls, sv.SupervisedActor)))

"""Actors that tests start on remote nodes (through calls, by name) and then reach as
``RemoteActorRef``s."""

from __future__ import annotations

import threading
import time
from typing import Any

import pykka

import genrpc_actors
import supervision as sv


class Counter(pykka.ThreadingActor):
    """Counts what it is told and asked; ``"boom"`` raises, ``("sleep", s)`` sleeps."""

    def __init__(self) -> None:
        super().__init__()
        self.count = 0

    def on_receive(self, message: Any) -> Any:
        if message == "boom":
            raise ValueError("boom")
        if message == "thread":
            return threading.current_thread().name
        if isinstance(message, tuple) and message[:1] == ("sleep",):
            time.sleep(message[1])
            return "slept"
        self.count += 1
        return ("got", message, self.count)

    def add(self, n: int) -> int:
        self.count += n
        return self.count


def start_counter(name: str) -> bool:
    """Start a ``Counter`` here, registered as ``name`` (replacing a dead one)."""
    genrpc_actors.register(name, Counter.start())
    return True


def stop_actor(name: str) -> bool:
    ref = genrpc_actors.whereis(name)
    if ref is None:
        return False
    ref.stop()
    return True


def ask_ref(ref: Any, message: Any) -> Any:
    """Ask an actor that a ref (sent here) names: a reply-to address at work."""
    return ref.ask(message, timeout=10)


def tell_ref(ref: Any, message: Any) -> str:
    ref.tell(message)
    return repr(ref)


def forward(node: str, ref: Any, message: Any) -> str:
    """Send the ref on to ``node``, which tells it ``message``."""
    result: str = genrpc_actors.call(node, __name__, "tell_ref", (ref, message))
    return result


def spawn_on(node: str, actor_class: str, name: str) -> bool:
    """Spawn an actor on ``node`` from this node (which it is then linked to)."""
    ref = genrpc_actors.spawn(node, actor_class, name=name)
    return bool(ref.is_alive())


class Worker(sv.SupervisedActor):
    """A supervised actor for remote links, monitors and children: ``"crash"`` raises,
    ``"stop"`` stops it normally, ``"node"`` answers its node, ``"exits"`` the ``sv.Exit``
    messages it trapped (with ``trap_exits=True``)."""

    def __init__(self, trap_exits: bool = False, tag: Any = None) -> None:
        super().__init__()
        self.trap_exits = trap_exits
        self.tag = tag
        self.exits: list[tuple[Any, Any]] = []

    def on_receive(self, message: Any) -> Any:
        if isinstance(message, sv.Exit):
            self.exits.append((message.ref, message.reason))
            return None
        if message == "crash":
            raise WorkerCrashed(f"{self.tag} crashed")
        if message == "stop":
            self.stop()
            return None
        if message == "node":
            return genrpc_actors.node()
        if message == "exits":
            return list(self.exits)
        return ("worker", self.tag, message)


class WorkerCrashed(Exception):  # noqa: N818 - an exit reason
    """What a ``Worker`` told ``"crash"`` dies of."""


class Unpicklable(Exception):  # noqa: N818 - an exit reason
    """An exit reason that cannot travel: it holds a lock."""

    def __init__(self) -> None:
        super().__init__("holds a lock")
        self.lock = threading.Lock()


class Fragile(sv.SupervisedActor):
    """Dies, when told ``"die"``, of an exception that cannot be pickled."""

    def on_receive(self, message: Any) -> Any:
        if message == "die":
            raise Unpicklable
        return message


def link_here(name: str, other: Any) -> bool:
    """Link the actor registered here as ``name`` and ``other`` (a ref sent here)."""
    ref = genrpc_actors.whereis(name)
    assert ref is not None
    sv.link(ref, other)
    return True


_supervisors: list[Any] = []  # kept alive here until this node stops


def supervise_remote(node: str, name: str) -> bool:
    """Start, on this node, a supervisor whose one child is a ``Worker`` spawned on ``node``
    and registered there as ``name``."""
    spec = sv.ChildSpec("w", start=lambda: genrpc_actors.spawn(node, Worker, name=name))
    _supervisors.append(sv.start_supervisor([spec]))
    return True

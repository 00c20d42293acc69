"""Actors that tests start on remote nodes (through calls, by name) and then reach as
``RemoteActorRef``s."""

from __future__ import annotations

import threading
import time
from typing import Any

import pykka

import genrpc_actors


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

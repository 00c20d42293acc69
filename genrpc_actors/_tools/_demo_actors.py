"""The demo's actor scenes: remote actors and node monitoring, and supervision across nodes.

The actors here run on the demo's node processes, spawned there by name
(``"genrpc_actors._tools._demo_actors:Clerk"``); the tour itself is ``_demo.run_demo``.
"""

from __future__ import annotations

import logging
import queue
import time
from typing import Any

import pykka

import genrpc_actors
import supervision as sv

__all__ = [
    "Clerk",
    "Listener",
    "Worker",
    "ask_and_reply",
    "keep_a_worker",
    "remote_actors",
    "supervision",
]

WAIT = 10.0  # seconds any step of a scene may take


class Clerk(pykka.ThreadingActor):
    """Answers what it is asked, with the node it runs on; counts the questions."""

    use_daemon_thread = True

    def __init__(self) -> None:
        super().__init__()
        self.count = 0

    def on_receive(self, message: Any) -> Any:
        self.count += 1
        return f"{genrpc_actors.node()} heard {message!r}"


class Worker(sv.SupervisedActor):
    """A supervised worker: says where it runs; ``"crash"`` makes it raise."""

    use_daemon_thread = True

    def on_receive(self, message: Any) -> Any:
        if message == "crash":
            raise RuntimeError("told to crash")
        return genrpc_actors.node()


class Listener(pykka.ThreadingActor):
    """An actor of the demo's own node: what it is told goes to a queue the tour reads."""

    use_daemon_thread = True

    def __init__(self, box: queue.Queue[Any]) -> None:
        super().__init__()
        self.box = box

    def on_receive(self, message: Any) -> None:
        self.box.put(message)


def ask_and_reply(clerk: Any, question: Any, reply_to: Any) -> str:
    """Run on a node (by RPC): ask ``clerk`` (an actor of another node) and tell the answer to
    ``reply_to`` (a reference that arrived here with the call)."""
    answer = clerk.ask(question, timeout=WAIT)
    reply_to.tell((genrpc_actors.node(), "passes on", answer))
    return genrpc_actors.node()


_kept: list[sv.Supervisor] = []  # the supervisors keep_a_worker started, while this node runs


def keep_a_worker(node: str, name: str) -> bool:
    """Run on a node (by RPC): a supervisor here that keeps a ``Worker`` on ``node``,
    registered there as ``name`` (spawned by this node, so linked to it)."""
    spec = sv.ChildSpec("worker", start=lambda: genrpc_actors.spawn(node, Worker, name=name))
    _kept.append(sv.start_supervisor([spec]))
    return True


def remote_actors(tour: Any, node: Any, cluster: dict[str, Any], names: list[str]) -> None:
    """Ask an actor of one node, hand a reply-to reference to another, see a node go down."""
    first, second, third = names[0], names[1], names[2 % len(names)]
    tour.say("remote actors: spawn an actor on another node, ask it, proxy it")
    clerk = node.spawn(first, f"{__name__}:Clerk")
    tour.show(f"spawn({first!r}, ...:Clerk)", clerk)
    tour.show("clerk.ask('hello')", clerk.ask("hello"))
    tour.show("clerk.proxy().count.get()", clerk.proxy().count.get(timeout=WAIT))

    tour.say("a reply-to reference: an actor of this node, handed to another node")
    box: queue.Queue[Any] = queue.Queue()
    listener = Listener.start(box)
    try:
        node.call(second, __name__, "ask_and_reply", (clerk, "where are you?", listener))
        tour.show(f"what {second} told this node's listener", box.get(timeout=WAIT))

        tour.say(f"node monitoring: kill {third} (SIGKILL), hear NodeDown; restart it, NodeUp")
        node.call(third, "os", "getpid")  # up for this node
        every = node.monitor_nodes(listener)
        cluster[third].kill()
        tour.show("the listener hears", box.get(timeout=WAIT))
        cluster[third].restart()
        node.call(third, "os", "getpid")
        tour.show("and once it is back", box.get(timeout=WAIT))
        node.demonitor_node(every)
    finally:
        listener.stop()
        clerk.proxy().stop()


def supervision(tour: Any, node: Any, cluster: dict[str, Any], names: list[str]) -> None:
    """A supervisor on this node keeps a worker on another: restarted there after a crash, on
    the next node when its own is killed, until too many restarts make the supervisor give up."""
    homes = names[1:3] if len(names) >= 3 else names  # noqa: PLR2004 - two nodes if there are
    box: queue.Queue[Any] = queue.Queue()
    narrator = Listener.start(box)

    def place() -> Any:
        """The child's factory: spawn it on the first of its homes that answers."""
        for home in homes:
            try:
                worker = node.spawn(home, f"{__name__}:Worker")
            except genrpc_actors.RpcError:
                continue
            sv.monitor(narrator, worker)  # so the tour can say how it ends
            return worker
        raise RuntimeError(f"none of {homes} can take the worker")

    tour.say(f"supervision across nodes: a worker on {homes[0]}, its supervisor here")
    quiet = logging.getLogger("supervision")
    level, quiet.level = quiet.level, logging.CRITICAL  # the tour tells what it logs
    sup = sv.start_supervisor([sv.ChildSpec("worker", start=place)], intensity=2, period=30)
    sv.monitor(narrator, sup.ref)
    try:
        worker = sup.child("worker")
        tour.show("the worker runs on", worker.ask("where"))
        worker.tell("crash")
        tour.show("it crashes; its monitor says", _reason(box))
        worker = _next_worker(sup, worker)
        tour.show("restarted by the supervisor, on", worker.ask("where"))

        cluster[homes[0]].kill()
        tour.show(f"{homes[0]} is killed; the monitor says", _reason(box))
        worker = _next_worker(sup, worker)
        tour.show("restarted elsewhere, on", worker.ask("where"))

        worker.tell("crash")
        tour.show("a third crash within 30 s", _reason(box))
        tour.show("intensity 2 exceeded: the supervisor exits", _reason(box))
        tour.show("sup.statistics().escalated", sup.statistics().escalated)
    finally:
        if sup.is_alive():
            sup.stop()
        narrator.stop()
        quiet.setLevel(level)
        cluster[homes[0]].restart()


def _reason(box: queue.Queue[Any]) -> Any:
    down = box.get(timeout=WAIT)
    return down.reason if isinstance(down, sv.Down) else down


def _next_worker(sup: sv.Supervisor, old: Any) -> Any:
    """The worker that replaced ``old``."""
    deadline = time.monotonic() + WAIT
    while time.monotonic() < deadline:
        worker = sup.child("worker")
        if worker is not None and worker != old:
            return worker
        time.sleep(0.01)  # a tour's pace; the supervisor restarts in a millisecond or two
    raise RuntimeError("the supervisor did not restart the worker")

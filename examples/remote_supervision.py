"""Supervision across nodes: a supervisor on this node keeps a worker on another.

    python examples/remote_supervision.py

It starts two node processes, node2 and node3, on this machine. The worker runs on node2; when
it crashes the supervisor starts a new one there; when node2 is killed, on node3; when it has
restarted more than `intensity` times within `period` seconds, the supervisor gives up and
exits (it would escalate to its own supervisor, if it had one). Each event is printed with its
reason, as a monitor of the worker hears it.
"""

from __future__ import annotations

import queue
import time
from typing import Any

import pykka

import genrpc_actors as gen_rpc
import supervision as sv
from genrpc_actors.testing import LocalNode, free_port

COOKIE = "an-example-cookie-of-16-bytes-or-more"
HOMES = ["node2@127.0.0.1", "node3@127.0.0.1"]


class Worker(sv.SupervisedActor):
    """Runs on node2 or node3 (this script's class, shipped there by value): says where it
    runs; "crash" makes it raise."""

    def on_receive(self, message: Any) -> str:
        if message == "crash":
            raise RuntimeError("told to crash")
        return gen_rpc.node()


class Listener(pykka.ThreadingActor):
    """What the monitors tell, put in a queue for the script to print."""

    def __init__(self, box: queue.Queue[Any]) -> None:
        super().__init__()
        self.box = box

    def on_receive(self, message: Any) -> None:
        self.box.put(message)


def main() -> None:
    me = "supervisor@127.0.0.1"
    ports = {name: free_port() for name in [me, *HOMES]}
    hosts = {
        name: LocalNode(
            name, cookie=COOKIE, tcp_server_port=ports[name], client_config_per_node=ports
        ).start()
        for name in HOMES
    }
    gen_rpc.start(me, cookie=COOKIE, tcp_server_port=ports[me], client_config_per_node=ports)
    events: queue.Queue[Any] = queue.Queue()
    listener = Listener.start(events)

    def place() -> gen_rpc.RemoteActorRef:
        """The child's factory: a new Worker on the first home that answers."""
        for home in HOMES:
            try:
                worker = gen_rpc.spawn(home, Worker)
            except gen_rpc.RpcError:
                continue
            sv.monitor(listener, worker)
            print(f"started a worker on {home}")
            return worker
        raise RuntimeError("no node can take the worker")

    def event() -> Any:
        down: sv.Down = events.get(timeout=10)
        return down.reason

    def next_worker(old: Any) -> Any:
        deadline = time.monotonic() + 10
        while (worker := sup.child("worker")) in (None, old) and time.monotonic() < deadline:
            time.sleep(0.01)
        return worker

    sup = sv.start_supervisor([sv.ChildSpec("worker", start=place)], intensity=2, period=30)
    sv.monitor(listener, sup.ref)
    try:
        worker = sup.child("worker")
        print(f"the worker answers from {worker.ask('where')}")

        worker.tell("crash")
        print(f"the worker crashed: {event()!r}")
        worker = next_worker(worker)
        print(f"restarted; it answers from {worker.ask('where')}")

        hosts[HOMES[0]].kill()
        print(f"{HOMES[0]} was killed: {event()!r}")
        worker = next_worker(worker)
        print(f"restarted; it answers from {worker.ask('where')}")

        worker.tell("crash")
        print(f"the worker crashed again: {event()!r}")
        print(f"3 restarts within 30 s is more than 2: the supervisor exits with {event()!r}")
        print(f"escalated: {sup.statistics().escalated}")
    finally:
        if sup.is_alive():
            sup.stop()
        listener.stop()
        gen_rpc.stop()
        for host in hosts.values():
            host.stop()


if __name__ == "__main__":
    main()

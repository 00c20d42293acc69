"""Supervision across hosts: a supervisor on the runner keeps a worker on a lab host; when that
host's node is killed, cut off or frozen, the worker's monitor says ``("noconnection", node)``
(at once for a kill, within the keepalive bound plus a second otherwise) and the supervisor
restarts the worker on another host. And when the supervisor's own node is killed, the worker
it spawned elsewhere stops. Both drivers."""

from __future__ import annotations

import os
import queue
import signal
import time
from collections.abc import Iterator
from typing import Any

import pykka
import pytest

import supervision as sv
from genrpc_actors import RemoteActorRef, RpcError
from integration.lab import link
from integration.nodes import KEEPALIVE, NodeProcess, wait_until
from integration.test_cluster import needs_links
from integration.test_node_monitoring import Inbox

BOUND = KEEPALIVE["socket_keepalive_idle"] + (
    KEEPALIVE["socket_keepalive_interval"] * KEEPALIVE["socket_keepalive_count"]
)
DEMO = "genrpc_actors._tools._demo_actors"
WORKER = f"{DEMO}:Worker"


@pytest.fixture
def events() -> Iterator[tuple[pykka.ActorRef[Any], queue.Queue[Any]]]:
    box: queue.Queue[Any] = queue.Queue()
    ref = Inbox.start(box)
    yield ref, box
    ref.stop()


def _keeper(runner: Any, homes: list[str], listener: pykka.ActorRef[Any]) -> sv.Supervisor:
    """A supervisor on the runner whose worker lives on the first of ``homes`` that is up (one
    that is down is tried last: a frozen node would hold a spawn for its connect_timeout)."""

    def place() -> RemoteActorRef:
        up = runner.nodes()
        for home in sorted(homes, key=lambda h: h not in up):
            try:
                worker: RemoteActorRef = runner.spawn(home, WORKER)
            except RpcError:
                continue
            sv.monitor(listener, worker)
            return worker
        raise RuntimeError(f"none of {homes} took the worker")

    return sv.start_supervisor([sv.ChildSpec("worker", start=place)], intensity=10, period=60)


def _replaced(sup: sv.Supervisor, old: Any) -> RemoteActorRef:
    return wait_until(lambda: (w := sup.child("worker")) not in (None, old) and w, timeout=10)


def _down(box: queue.Queue[Any], bound: float, started: float) -> tuple[Any, float]:
    """The next Down's reason, and the seconds since ``started`` (the fault)."""
    down = box.get(timeout=bound + 5)
    return down.reason, time.monotonic() - started


def test_a_worker_whose_node_is_killed_is_restarted_elsewhere(runner, lab, cluster, events):
    listener, box = events
    victim, other = (host.name for host in lab.hosts[:2])
    sup = _keeper(runner, [victim, other], listener)
    try:
        worker = sup.child("worker")
        assert worker.ask("where") == victim
        started = time.monotonic()
        cluster[victim].kill()
        reason, took = _down(box, 1, started)
        print(f"detected: worker's node killed, Down after {took:.3f} s")
        assert reason == ("noconnection", victim)
        assert took < 1.0
        assert _replaced(sup, worker).ask("where") == other
    finally:
        sup.stop()
        cluster[victim].start()


def test_a_worker_whose_node_is_cut_off_is_restarted_elsewhere(runner, lab, events):
    needs_links(lab)
    listener, box = events
    host, other = lab.hosts[-1], lab.hosts[0].name
    for up in (host.name, other):  # both up: the worker goes to the first, its restart to
        assert runner.call(up, "os", "getpid")  # the other (the one cut off is tried last)
    sup = _keeper(runner, [host.name, other], listener)
    try:
        worker = sup.child("worker")
        assert worker.ask("where") == host.name
        started = time.monotonic()
        link(lab, host, up=False)
        try:
            reason, took = _down(box, BOUND + 1, started)
            print(f"detected: worker's node cut off, Down after {took:.2f} s (bound {BOUND} s)")
            assert reason == ("noconnection", host.name)
            assert took < BOUND + 1 + 0.5
            assert _replaced(sup, worker).ask("where") == other
        finally:
            link(lab, host, up=True)
    finally:
        sup.stop()


def test_a_worker_whose_node_is_frozen_is_restarted_elsewhere(runner, lab, cluster, events):
    listener, box = events
    frozen: NodeProcess = cluster[lab.hosts[1].name]
    name, other = frozen.host.name, lab.hosts[0].name
    for up in (name, other):
        assert runner.call(up, "os", "getpid")
    sup = _keeper(runner, [name, other], listener)
    try:
        worker = sup.child("worker")
        assert worker.ask("where") == name
        started = time.monotonic()
        os.kill(frozen.pid, signal.SIGSTOP)  # its kernel still answers TCP keepalive probes
        try:
            reason, took = _down(box, BOUND + 1, started)
            print(f"detected: worker's node frozen, Down after {took:.2f} s (bound {BOUND} s)")
            assert reason == ("noconnection", name)
            assert took < BOUND + 1 + 0.5
            assert _replaced(sup, worker).ask("where") == other
        finally:
            os.kill(frozen.pid, signal.SIGCONT)
    finally:
        sup.stop()


def test_the_supervisors_node_killed_stops_its_worker(runner, lab, cluster):
    keeper, home = (host.name for host in lab.hosts[:2])
    name = f"kept-by-{keeper.partition('@')[0]}"
    assert runner.call(keeper, DEMO, "keep_a_worker", (home, name)) is True
    worker = runner.actor(home, name)
    assert worker.ask("where") == home
    started = time.monotonic()
    cluster[keeper].kill()
    try:
        wait_until(lambda: not worker.is_alive(), timeout=5)  # spawned linked to the keeper
        took = time.monotonic() - started
        print(f"detected: supervisor's node killed, worker stopped after {took:.3f} s")
    finally:
        cluster[keeper].start()

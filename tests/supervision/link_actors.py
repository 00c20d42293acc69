"""Actors and waits for the link, monitor and dynamic supervisor tests (the ones other tests
share are in ``tests/actors.py`` and ``tests/waiting.py``)."""

from __future__ import annotations

import queue
import threading
from typing import Any

import pykka

import supervision as sv
from supervision._lifecycle import lifecycle_of
from tests.actors import Recorder
from tests.waiting import WAIT


class Blocker(sv.SupervisedActor):
    """Records every message it handles; on ``"block"`` it sets ``entered`` and waits (bounded)
    for ``release`` before answering ``"done"``."""

    def __init__(
        self, entered: threading.Event, release: threading.Event, handled: list[Any]
    ) -> None:
        super().__init__()
        self.entered, self.release, self.handled = entered, release, handled

    def on_receive(self, message: Any) -> Any:
        self.handled.append(message)
        if message == "block":
            self.entered.set()
            self.release.wait(WAIT)
            return "done"
        return message


class GatedFailingStart(sv.SupervisedActor):
    """Fails in ``on_start`` with ``error``, but only once ``gate`` is set (bounded wait)."""

    def __init__(self, gate: threading.Event, error: BaseException) -> None:
        super().__init__()
        self.gate, self.error = gate, error

    def on_start(self) -> None:
        self.gate.wait(WAIT)
        raise self.error


class GatedInit(sv.SupervisedActor):
    """Blocks in ``__init__`` (the starter's thread) until ``gate`` is set (bounded wait)."""

    def __init__(self, gate: threading.Event) -> None:
        super().__init__()
        gate.wait(WAIT)


class PlainCollector(pykka.ThreadingActor):
    """A plain Pykka actor (not supervised) that puts every message it receives in ``inbox``."""

    def __init__(self, inbox: queue.Queue[Any]) -> None:
        super().__init__()
        self.inbox = inbox

    def on_receive(self, message: Any) -> Any:
        self.inbox.put(message)
        return message


def get(inbox: queue.Queue[Any]) -> Any:
    """The next message of ``inbox``; fails (``queue.Empty``) if none comes within ``WAIT``."""
    return inbox.get(timeout=WAIT)


def watch(target: pykka.ActorRef[Any]) -> tuple[sv.MonitorRef, queue.Queue[Any]]:
    """Monitor ``target`` from a new Recorder; returns the monitor ref and the Recorder's queue."""
    inbox: queue.Queue[Any] = queue.Queue()
    watcher = Recorder.start(inbox)
    return sv.monitor(watcher, target), inbox


def next_down(inbox: queue.Queue[Any], ref: pykka.ActorRef[Any]) -> sv.Down:
    """The next message of ``inbox``, which must be the ``Down`` of ``ref``."""
    message = get(inbox)
    assert isinstance(message, sv.Down), message
    assert message.ref == ref
    return message


def wait_dead(ref: pykka.ActorRef[Any]) -> None:
    """Wait until the supervised actor ``ref`` has died and its thread has ended, so that every
    link and monitor has been told (they are told in that thread, before it ends)."""
    assert lifecycle_of(ref).wait_dead(WAIT), f"{ref} did not die within {WAIT} s"


def assert_alive(ref: pykka.ActorRef[Any]) -> None:
    """``ref`` still handles messages (an exit signal would have been handled before this ask)."""
    assert ref.ask("ping", timeout=WAIT) == "ping"

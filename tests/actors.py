"""Small supervised actors shared by the tests: recorders, workers that crash on request, and
children that fail to start or are slow to stop."""

from __future__ import annotations

import queue
import threading
from typing import Any

import pykka

import supervision as sv


class Recorder(sv.SupervisedActor):
    """Puts every message it receives in ``inbox``; answers asks with the message."""

    def __init__(self, inbox: queue.Queue[Any] | None = None, *, trap: bool = False) -> None:
        super().__init__()
        self.inbox: queue.Queue[Any] = inbox if inbox is not None else queue.Queue()
        self.trap_exits = trap

    def on_receive(self, message: Any) -> Any:
        self.inbox.put(message)
        return message


class Worker(sv.SupervisedActor):
    """A child that crashes on ``"crash"``, exits with ``SystemExit`` on ``"exit"``, and logs its
    starts and stops into a shared journal."""

    def __init__(self, name: str = "w", journal: list[str] | None = None) -> None:
        super().__init__()
        self.name = name
        self.journal = journal if journal is not None else []

    def on_start(self) -> None:
        self.journal.append(f"start {self.name}")

    def on_stop(self) -> None:
        self.journal.append(f"stop {self.name}")

    def on_receive(self, message: Any) -> Any:
        if message == "crash":
            raise RuntimeError(f"{self.name} crashed")
        if message == "exit":
            raise SystemExit(3)
        return message


class FailingStart(sv.SupervisedActor):
    def on_start(self) -> None:
        raise ValueError("cannot start")


class FailingInit(sv.SupervisedActor):
    def __init__(self) -> None:
        super().__init__()
        raise KeyError("bad init")


class SlowStop(sv.SupervisedActor):
    """Takes ``delay`` seconds in on_stop, unless ``release`` is set first."""

    def __init__(self, release: threading.Event, delay: float = 30.0) -> None:
        super().__init__()
        self.release, self.delay = release, delay

    def on_stop(self) -> None:
        self.release.wait(self.delay)


def dead(ref: pykka.ActorRef[Any]) -> bool:
    return not ref.is_alive()

"""What the node knows of its process workers and of the requests it gives them."""

from __future__ import annotations

import collections
import contextlib
import os
import signal
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any

import psutil

from genrpc_actors import _protocol

if TYPE_CHECKING:
    from genrpc_actors._execution._worker_channel import Channel

__all__ = ["Outcome", "Ticket", "WorkerStatistics", "kill"]

Outcome = Callable[[int, int, _protocol.Body], None]  # (kind, flags, body) of the reply


@dataclass(frozen=True, slots=True)
class WorkerStatistics:
    """One process worker at one moment."""

    pid: int | None
    busy: bool
    requests: int
    rss: int  # bytes
    cpu_s: float
    kills: dict[str, int] = field(default_factory=dict)  # by reason: time_limit, exit 3, ...
    started_s: float = 0.0  # how long its process took to start and import process_modules
    state: str = "idle"  # idle, busy, starting (a new process, not ready yet), or broken


class Ticket:
    """A request for a process worker; ``cancel()`` it when its caller stops waiting: it is
    dropped if it has not started, and the process running it is killed if it has."""

    __slots__ = ("_on_cancel", "body", "cancelled", "deadline", "done", "flags", "worker")

    def __init__(
        self, on_cancel: Callable[[Ticket], None], flags: int, body: Any, done: Outcome | None
    ) -> None:
        self._on_cancel = on_cancel  # its pool's
        self.flags, self.body, self.done = flags, body, done
        self.cancelled = False
        self.worker: _Worker | None = None  # while a worker runs it
        self.deadline: float | None = None

    def __repr__(self) -> str:
        state = "cancelled" if self.cancelled else "running" if self.worker else "waiting"
        return f"<Ticket {state}>"

    def cancel(self) -> None:
        self._on_cancel(self)


class _Worker:
    """A process, the channel to it, and what the node knows of it."""

    __slots__ = (
        "broken",
        "channel",
        "kills",
        "process",
        "requests",
        "started_s",
        "starting",
        "ticket",
        "why",
    )

    def __init__(self) -> None:
        self.process: Any = None
        self.channel: Channel | None = None
        self.broken: str | None = None  # why it could not be replaced, until it is
        self.ticket: Ticket | None = None  # the request it runs
        self.why: str | None = None  # why it is being killed
        self.requests = 0
        self.started_s = 0.0
        self.starting = False  # a new process, not ready yet
        self.kills: collections.Counter[str] = collections.Counter()

    def __repr__(self) -> str:
        pid = self.process.pid if self.process is not None else None
        return f"<ProcessWorker pid={pid} busy={self.ticket is not None}>"

    def statistics(self) -> WorkerStatistics:
        process = self.process
        pid = process.pid if process is not None else None
        rss, cpu = 0, 0.0
        if pid is not None:
            try:
                info = psutil.Process(pid)
                rss = info.memory_info().rss
                times = info.cpu_times()
                cpu = times.user + times.system
            except psutil.Error:
                pass
        return WorkerStatistics(
            pid,
            self.ticket is not None,
            self.requests,
            rss,
            round(cpu, 3),
            dict(self.kills),
            round(self.started_s, 4),
            self.state,
        )

    @property
    def state(self) -> str:
        if self.ticket is not None:
            return "busy"
        if self.broken is not None:
            return "broken"
        return "starting" if self.starting or self.process is None else "idle"


def kill(process: Any) -> None:
    """SIGKILL, without reaping it: only a worker's owner reaps its process."""
    if process is not None and process.pid is not None:
        with contextlib.suppress(ProcessLookupError):
            os.kill(process.pid, signal.SIGKILL)

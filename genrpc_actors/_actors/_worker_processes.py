"""The node's process workers as a child of its tree: started with the node, ended with it."""

from __future__ import annotations

import supervision as sv
from genrpc_actors._execution._process_workers import ProcessWorkers

__all__ = ["WorkerProcesses"]


class WorkerProcesses(sv.SupervisedActor):
    """Owns the pool: starts every worker before the node listens (a worker that cannot start,
    say a ``process_modules`` module that fails to import, fails the node's start instead of
    looping), and kills them all when it stops. A worker that dies is replaced by the pool
    itself, so the supervisor restarts this actor only if the pool as a whole fails."""

    def __init__(self, pool: ProcessWorkers) -> None:
        super().__init__()
        self._pool = pool
        pool.start()

    def on_stop(self) -> None:
        self._pool.stop()

"""What a node tells about itself at one moment: ``Node.statistics()``."""

from __future__ import annotations

from dataclasses import dataclass

__all__ = ["NodeStatistics"]


@dataclass(frozen=True, slots=True)
class NodeStatistics:
    """A node's counters at one moment."""

    name: str
    port: int
    running: bool
    connections: int  # outgoing, one per (node, key)
    pending_calls: int  # requests awaiting a reply on those connections
    acceptors: int  # incoming connections (those still in their handshake included)
    workers: int  # worker threads, busy or idle
    busy_workers: int
    queued_requests: int = 0  # waiting for a thread: max_worker_threads are busy
    process_workers: int = 0  # worker processes
    busy_process_workers: int = 0
    queued_process_requests: int = 0  # waiting for a free process worker
    pending_handshakes: int = 0  # incoming connections not authenticated yet
    refused_handshakes: int = 0  # closed at once: max_pending_handshakes were pending
    awaiting: int = 0  # requests whose awaitables the node's event loop awaits now

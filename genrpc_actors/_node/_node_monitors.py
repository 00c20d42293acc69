"""Which nodes are up, and who wants to know: ``monitor_node``, ``monitor_nodes``, ``nodes()``.

A node is up from the moment one of this node's connections to it (any key) has authenticated,
and down when the last one is lost; the connections' client table reports both
(``connection_up``, ``connection_down``). A watcher is any Pykka actor: it is told ``NodeUp`` and
``NodeDown`` messages, and a watcher that has died is simply dropped.
"""

from __future__ import annotations

import itertools
import logging
import threading
from dataclasses import dataclass
from typing import Any

import pykka

__all__ = ["NodeDown", "NodeMonitorRef", "NodeMonitors", "NodeUp"]

logger = logging.getLogger("genrpc_actors")
_ids = itertools.count(1)


@dataclass(frozen=True, slots=True)
class NodeMonitorRef:
    """What ``monitor_node`` and ``monitor_nodes`` return; pass it to ``demonitor_node``."""

    id: int
    node: str | None  # None: every node (monitor_nodes)

    def __repr__(self) -> str:
        return f"<NodeMonitorRef #{self.id} on {self.node or 'every node'}>"


@dataclass(frozen=True, slots=True)
class NodeUp:
    """Told to ``monitor_nodes`` watchers when a node comes up."""

    monitor_ref: NodeMonitorRef
    node: str


@dataclass(frozen=True, slots=True)
class NodeDown:
    """Told once to a ``monitor_node`` watcher, and to ``monitor_nodes`` watchers, when a node
    goes down; ``reason`` is gen_rpc's (``"closed"``, ``"econnrefused"``, ``"timeout"``, ...)."""

    monitor_ref: NodeMonitorRef
    node: str
    reason: Any


Watcher = pykka.ActorRef[Any]


class NodeMonitors:
    """The nodes that are up, with the monitors on them; thread-safe, tells outside its lock."""

    def __init__(self) -> None:
        self._lock = threading.Lock()
        self._up: dict[str, int] = {}  # node -> its authenticated, open connections
        self._once: dict[str, dict[int, tuple[NodeMonitorRef, Watcher]]] = {}  # monitor_node
        self._every: dict[int, tuple[NodeMonitorRef, Watcher]] = {}  # monitor_nodes
        self._events: dict[tuple[str, str], int] = {}  # (node, "up" or "down") -> how often

    def __repr__(self) -> str:
        watched = sum(len(monitors) for monitors in self._once.values())
        return f"<NodeMonitors up={len(self._up)} monitors={watched + len(self._every)}>"

    def nodes(self) -> list[str]:
        """The nodes that are up, sorted."""
        return sorted(self._up)

    def is_up(self, node: str) -> bool:
        return node in self._up

    def events(self) -> dict[tuple[str, str], int]:
        """How often each node came up and went down for this one: ``(node, "up")`` -> n."""
        with self._lock:
            return dict(self._events)

    @property
    def monitors(self) -> int:
        return sum(len(monitors) for monitors in self._once.values()) + len(self._every)

    # -- what the connections report -----------------------------------------------------------

    def connection_up(self, node: str) -> None:
        """A connection to ``node`` has authenticated."""
        with self._lock:
            count = self._up.get(node, 0)
            self._up[node] = count + 1
            told = list(self._every.values()) if not count else []
            if not count:
                self._events[node, "up"] = self._events.get((node, "up"), 0) + 1
        if told:
            logger.info("event=node_up node=%s", node)
        for mref, watcher in told:
            self._tell(watcher, NodeUp(mref, node))

    def connection_down(self, node: str, *, was_up: bool, reason: Any) -> None:
        """A connection to ``node`` has ended (``was_up``: it had authenticated), or could not
        be made: when it was the last, ``node`` is down."""
        with self._lock:
            if was_up:
                count = self._up.get(node, 0) - 1
                if count > 0:
                    self._up[node] = count
                    return
                self._up.pop(node, None)
                self._events[node, "down"] = self._events.get((node, "down"), 0) + 1
            elif node in self._up:
                return  # another connection to it (a key) failed: the node is still up
            once = self._once.pop(node, {})
            every = list(self._every.values()) if was_up else []
        if was_up:
            logger.info("event=node_down node=%s reason=%r", node, reason)
        for mref, watcher in [*once.values(), *every]:
            self._tell(watcher, NodeDown(mref, node, reason))

    # -- monitors ------------------------------------------------------------------------------

    def monitor_node(self, node: str, watcher: Watcher) -> NodeMonitorRef:
        """One ``NodeDown`` for ``node`` to ``watcher`` (the caller connects if it is not up)."""
        mref = NodeMonitorRef(next(_ids), node)
        with self._lock:
            self._once.setdefault(node, {})[mref.id] = (mref, watcher)
        return mref

    def monitor_nodes(self, watcher: Watcher) -> NodeMonitorRef:
        """``NodeUp`` and ``NodeDown`` for every node to ``watcher`` until demonitored."""
        mref = NodeMonitorRef(next(_ids), None)
        with self._lock:
            self._every[mref.id] = (mref, watcher)
        return mref

    def demonitor(self, mref: NodeMonitorRef) -> None:
        """No message for ``mref`` after this (one already told stays told)."""
        with self._lock:
            if mref.node is None:
                self._every.pop(mref.id, None)
                return
            monitors = self._once.get(mref.node)
            if monitors is not None:
                monitors.pop(mref.id, None)
                if not monitors:
                    del self._once[mref.node]

    def _tell(self, watcher: Watcher, message: NodeUp | NodeDown) -> None:
        try:
            watcher.tell(message)
        except pykka.ActorDeadError:  # a watcher that died is simply dropped
            if message.monitor_ref.node is None:
                self.demonitor(message.monitor_ref)

"""The life record of one supervised actor: its state, its exit reason, and who hears of its death.

Pykka tells nobody when an actor dies. Every :class:`~supervision.SupervisedActor` owns one
``Lifecycle``, reachable from its ``ActorRef``; links, monitors and supervisors register here and
are called, in the dying actor's thread, once it has finished (after ``on_stop``/``on_failure``).

Theory of operation: the state goes ``STARTING -> RUNNING -> DEAD`` or ``STARTING -> DEAD``, under
one lock. Whoever registers after the death is answered at once, in its own thread, so a late
monitor or link behaves like an early one. Callbacks run outside the lock.
"""

from __future__ import annotations

import itertools
import queue
import threading
import weakref
from typing import TYPE_CHECKING, Any, NamedTuple, Protocol

from pykka._envelope import Envelope

from supervision._signals import NORMAL, Exit, ExitReason

if TYPE_CHECKING:
    from collections.abc import Callable, Hashable

    import pykka
    from pykka._actor import ActorInbox

__all__ = ["Inbox", "Kill", "Lifecycle", "LifecycleOwner", "lifecycle_of", "live_lifecycles"]

STARTING, RUNNING, DEAD = "starting", "running", "dead"

_tokens = itertools.count(1)
_live: set[Lifecycle] = set()
_live_lock = threading.Lock()


class Kill(NamedTuple):
    """An exit signal: stop with ``reason`` before handling anything still queued."""

    reason: ExitReason


class Inbox(queue.Queue[Envelope[Any]]):
    """Pykka's inbox with a front lane for exit signals, which pass queued messages (as in OTP)."""

    def put_urgent(self, item: Envelope[Any]) -> None:
        with self.not_empty:
            self.queue.appendleft(item)
            self.unfinished_tasks += 1
            self.not_empty.notify()


class LifecycleOwner(Protocol):
    """What a lifecycle needs of its actor (``SupervisedActor`` is the one implementation): the
    ref it reports about, the inbox it signals through, and whether exits are trapped."""

    @property
    def actor_ref(self) -> pykka.ActorRef[Any]: ...

    @property
    def actor_inbox(self) -> ActorInbox: ...

    @property
    def trap_exits(self) -> bool: ...


class Lifecycle:
    """State, exit reason, links and listeners of one supervised actor. Thread-safe."""

    def __init__(self, actor: LifecycleOwner) -> None:
        # The ref carries its lifecycle to whoever holds it (``lifecycle_of``), so the lifecycle
        # holds the ref weakly: strong both ways, the two would be a cycle that only the cycle
        # collector frees. Whoever holds a lifecycle holds the ref as well, or is the actor
        # (which holds it) or the actor's thread.
        self._ref = weakref.ref(actor.actor_ref)
        self.urn = actor.actor_ref.actor_urn
        self.link_key: Hashable = self.urn  # what its links are filed under (see _foreign)
        self.name = str(actor.actor_ref)  # what the ref's str() says
        self._actor = weakref.ref(actor)
        self._inbox: Inbox = actor.actor_inbox  # type: ignore[assignment]
        self._lock = threading.Lock()
        self.state = STARTING
        self.ran = False  # it reached RUNNING, however briefly
        self.reason: ExitReason | None = None
        self._links: dict[Hashable, Lifecycle] = {}
        self._exit_listeners: dict[int, Callable[[ExitReason], None]] = {}
        self._start_listeners: list[Callable[[bool, ExitReason | None], None]] = []
        self.started = threading.Event()  # set once RUNNING or DEAD
        self.dead = threading.Event()
        self.thread: threading.Thread | None = None
        self.published: Any = None  # a snapshot the actor shares with other threads
        self.parent: Lifecycle | None = None  # the supervisor that started it, if any

    def __repr__(self) -> str:
        return f"<Lifecycle {self.name} {self.state} reason={self.reason!r}>"

    @property
    def ref(self) -> pykka.ActorRef[Any]:
        """The actor's ref (``ReferenceError`` once nothing holds it any more)."""
        ref = self._ref()
        if ref is None:
            raise ReferenceError(f"the ref of {self.name} is gone")
        return ref

    # -- transitions (called from the actor's own thread) --------------------------------------

    def mark_live(self) -> None:
        """The actor was built and its thread is about to start (an actor whose ``__init__``
        failed never gets here, and is never counted as live)."""
        with _live_lock:
            _live.add(self)

    def mark_running(self) -> None:
        with self._lock:
            if self.state != STARTING:
                return
            self.state = RUNNING
            self.ran = True
            callbacks, self._start_listeners = self._start_listeners, []
        self.started.set()
        for callback in callbacks:
            callback(True, None)

    def mark_dead(self, reason: ExitReason) -> None:
        with self._lock:
            if self.state == DEAD:
                return
            self.state, self.reason = DEAD, reason
            starts, self._start_listeners = self._start_listeners, []
            exits, self._exit_listeners = self._exit_listeners, {}
            links, self._links = self._links, {}
        with _live_lock:
            _live.discard(self)
        self.started.set()
        self.dead.set()
        for start_callback in starts:
            start_callback(False, reason)
        for exit_callback in exits.values():
            exit_callback(reason)
        for peer in links.values():
            peer.remove_link(self)
            peer.exit_signal(self.ref, reason)

    # -- registration (any thread) -------------------------------------------------------------

    def when_started(self, callback: Callable[[bool, ExitReason | None], None]) -> None:
        """Call ``callback(True, None)`` once running, or ``callback(False, reason)`` if it died
        while starting. An actor that started and has died since counts as started: its exit
        is news for exit listeners, not a start failure."""
        with self._lock:
            state, reason, ran = self.state, self.reason, self.ran
            if state == STARTING:
                self._start_listeners.append(callback)
                return
        callback(ran, None if ran else reason)

    def add_exit_listener(self, callback: Callable[[ExitReason], None]) -> int:
        """Call ``callback(reason)`` on death (at once if already dead); returns a removal token."""
        token = next(_tokens)
        with self._lock:
            if self.state != DEAD:
                self._exit_listeners[token] = callback
                return token
            reason = self.reason
        assert reason is not None
        callback(reason)
        return token

    def remove_exit_listener(self, token: int) -> None:
        with self._lock:
            self._exit_listeners.pop(token, None)

    def add_link(self, peer: Lifecycle) -> ExitReason | None:
        """Link to ``peer``; if this actor is already dead, return its reason instead."""
        with self._lock:
            if self.state == DEAD:
                return self.reason
            self._links[peer.link_key] = peer
            return None

    def remove_link(self, peer: Lifecycle) -> None:
        with self._lock:
            self._links.pop(peer.link_key, None)

    def linked(self, key: Hashable) -> Lifecycle | None:
        """The peer linked under ``key`` (its ``link_key``), if any."""
        with self._lock:
            return self._links.get(key)

    # -- signals -------------------------------------------------------------------------------

    def exit_signal(self, sender: Any, reason: ExitReason) -> None:
        """A linked actor died: trap it as an ``Exit`` message, or die of it unless normal."""
        actor = self._actor()
        if actor is None or self.dead.is_set():
            return
        if actor.trap_exits:
            self._inbox.put(Envelope(Exit(sender, reason)))
        elif reason is not NORMAL:
            self.kill(reason)

    def kill(self, reason: ExitReason) -> None:
        """Stop the actor with ``reason`` as soon as its current message is handled."""
        if not self.dead.is_set():
            self._inbox.put_urgent(Envelope(Kill(reason)))

    def wait_dead(self, timeout: float | None = None) -> bool:
        """Wait until the actor has died and every listener was called; join its thread too."""
        if not self.dead.wait(timeout):
            return False
        thread = self.thread
        if thread is not None and thread is not threading.current_thread():
            thread.join(timeout)
            return not thread.is_alive()
        return True


def lifecycle_of(ref: pykka.ActorRef[Any]) -> Lifecycle:
    """The lifecycle of a supervised actor's ref; ``TypeError`` for any other actor."""
    lifecycle = getattr(ref, "_sv_lifecycle", None)
    if not isinstance(lifecycle, Lifecycle):
        raise TypeError(f"{ref!r} is not the ref of a supervision.SupervisedActor")
    return lifecycle


def live_lifecycles() -> list[Lifecycle]:
    """Every supervised actor not yet dead, in no particular order."""
    with _live_lock:
        return list(_live)

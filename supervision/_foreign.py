"""Refs that supervision does not own: the protocol an actor reference implements so that links,
monitors and supervisors treat it as one of theirs, and the lifecycle that stands for it.

A *foreign ref* names an actor whose life this process does not record (an actor of another
node, most often): ``supervision`` cannot see it die, so the ref tells it. Whatever carries the
ref (``genrpc_actors.RemoteActorRef`` is one) implements :class:`ForeignRef`:

- ``sv_watch(on_exit)``: call ``on_exit(reason)`` once, from any thread, when the actor dies
  (its exit reason) or can no longer be reached (a reason of the ref's choosing, such as
  ``("noconnection", node)``); at once, before returning or soon after, if it is dead already.
  Returns a token for ``sv_unwatch``. Raises ``TypeError`` if the actor cannot be watched (it
  is not a :class:`~supervision.SupervisedActor`).
- ``sv_unwatch(token)``: no ``on_exit`` call for that token afterwards.
- ``sv_exit(reason)``: stop the actor with ``reason``, as :func:`supervision.exit` would, without
  waiting (nothing happens if it is gone).
- ``sv_signal(sender, reason)``: the actor ``sender``, linked to it, has died with ``reason``;
  deliver that exit signal as :func:`supervision.exit_signal` would where the actor lives.
- ``sv_link(other)`` / ``sv_unlink(other)``: link (unlink) the actor and ``other``, where the
  actor lives, as :func:`supervision.link` would there.

A :class:`ForeignLifecycle` adapts such a ref to what links, monitors and supervisors use of a
``Lifecycle``: each holder gets its own (watches are per holder), keyed by ``urn``.
"""

from __future__ import annotations

import itertools
import threading
from collections.abc import Callable, Hashable
from typing import TYPE_CHECKING, Any, Protocol, runtime_checkable

from supervision._lifecycle import Lifecycle, lifecycle_of

if TYPE_CHECKING:
    import pykka

    from supervision._signals import ExitReason

__all__ = ["ForeignLifecycle", "ForeignRef", "foreign_key", "is_foreign", "watchable_of"]

_incarnations = itertools.count(1)
_METHODS = ("sv_watch", "sv_unwatch", "sv_exit", "sv_signal", "sv_link", "sv_unlink")
_FOREIGN_TYPES: dict[type, bool] = {}  # by type: isinstance of a runtime Protocol costs ~90 us


@runtime_checkable
class ForeignRef(Protocol):
    """An actor reference that supervision does not own; see the module's documentation."""

    def sv_watch(self, on_exit: Callable[[ExitReason], None]) -> Hashable: ...

    def sv_unwatch(self, token: Hashable) -> None: ...

    def sv_exit(self, reason: ExitReason) -> None: ...

    def sv_signal(self, sender: Any, reason: ExitReason) -> None: ...

    def sv_link(self, other: Any) -> None: ...

    def sv_unlink(self, other: Any) -> None: ...


def is_foreign(ref: Any) -> bool:
    """Whether ``ref`` is a foreign ref (has every method of ``ForeignRef``); cheap."""
    kind = type(ref)
    known = _FOREIGN_TYPES.get(kind)
    if known is None:
        known = all(callable(getattr(kind, method, None)) for method in _METHODS)
        if len(_FOREIGN_TYPES) < 1024:  # noqa: PLR2004 - a bound on a cache of types
            _FOREIGN_TYPES[kind] = known
    return known


class ForeignLifecycle:
    """What a link, a monitor or a supervisor holds for a foreign ref: the parts of a
    ``Lifecycle`` they use, carried out through the ref. Its ``link_key`` is the ref itself
    (a link is found again by the ref's equality); its ``urn``, unique to this holder."""

    def __init__(self, ref: ForeignRef) -> None:
        self.ref = ref
        self.link_key = foreign_key(ref)
        # a restarted actor under the same name is another incarnation, never the old one
        self.urn = f"{ref!r}#{next(_incarnations)}"
        self.name = repr(ref)
        self.parent: Lifecycle | None = None
        self._link_tokens: dict[Hashable, Hashable] = {}  # local peer's link key -> its watch
        self._lock = threading.Lock()

    def __repr__(self) -> str:
        return f"<ForeignLifecycle {self.name}>"

    def when_started(self, callback: Callable[[bool, ExitReason | None], None]) -> None:
        """A foreign actor counts as started once its ref exists (its start has returned): a
        failure of its ``on_start`` arrives as its exit."""
        callback(True, None)

    def add_exit_listener(self, callback: Callable[[ExitReason], None]) -> Hashable:
        return self.ref.sv_watch(callback)

    def remove_exit_listener(self, token: Hashable) -> None:
        self.ref.sv_unwatch(token)

    def kill(self, reason: ExitReason) -> None:
        self.ref.sv_exit(reason)

    def exit_signal(self, sender: pykka.ActorRef[Any], reason: ExitReason) -> None:
        """The local actor ``sender``, linked to this one, has died with ``reason``."""
        self.ref.sv_signal(sender, reason)

    def add_link(self, peer: Lifecycle) -> ExitReason | None:
        """Link the local ``peer`` to this actor: when it dies, ``peer`` gets its exit signal.
        If the watch finds it dead while it is being made, its reason is returned instead (the
        caller signals ``peer``, and no link is made), as ``Lifecycle.add_link`` does."""
        registering, early = True, []

        def on_exit(reason: ExitReason) -> None:
            with self._lock:
                if registering:
                    early.append(reason)
                    return
                self._link_tokens.pop(peer.link_key, None)
            peer.remove_link(self)  # type: ignore[arg-type]  # a Lifecycle's peers may be foreign
            peer.exit_signal(self.ref, reason)

        token = self.ref.sv_watch(on_exit)
        with self._lock:
            registering = False
            if not early:
                self._link_tokens[peer.link_key] = token
        return early[0] if early else None

    def remove_link(self, peer: Lifecycle) -> None:
        with self._lock:
            token = self._link_tokens.pop(peer.link_key, None)
        if token is not None:
            self.ref.sv_unwatch(token)


def foreign_key(ref: ForeignRef) -> Hashable:
    """What a link to a foreign ref is filed under: the ref itself (found again by equality)."""
    return ("foreign", ref)


def watchable_of(ref: Any) -> Lifecycle | ForeignLifecycle:
    """The lifecycle of a supervised actor's ref, or one standing for a foreign ref;
    ``TypeError`` for anything else (a plain Pykka actor's ref among them)."""
    if is_foreign(ref):
        return ForeignLifecycle(ref)
    return lifecycle_of(ref)

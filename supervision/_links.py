"""Links and monitors between supervised actors (Erlang's ``link/1`` and ``monitor/2``)."""

from __future__ import annotations

import contextlib
import itertools
import threading
from typing import Any

import pykka

from supervision._foreign import ForeignLifecycle, foreign_key, is_foreign, watchable_of
from supervision._lifecycle import Lifecycle, lifecycle_of
from supervision._signals import Down, ExitReason, MonitorRef

__all__ = ["demonitor", "exit", "exit_signal", "link", "monitor", "unlink"]

_monitor_ids = itertools.count(1)
# monitor id -> (target's lifecycle, token at the target, token at the watcher or None)
_Entry = tuple[Lifecycle | ForeignLifecycle, Any, Lifecycle | None, int | None]
_monitors: dict[int, _Entry] = {}
_monitors_lock = threading.Lock()


def link(a: Any, b: Any) -> None:
    """Link two supervised actors: when either dies abnormally, the other dies with the same reason.

    An actor with ``trap_exits = True`` receives ``Exit(ref, reason)`` instead, for every exit of
    the other, normal ones included. Linking to an actor that is already dead signals at once.
    Either may be a foreign ref (another node's actor, see ``ForeignRef``); two foreign refs
    are linked where the first one's actor lives.
    """
    if is_foreign(a) and is_foreign(b):
        a.sv_link(b)
        return
    if is_foreign(a):
        a, b = b, a
    first = lifecycle_of(a)
    if is_foreign(b):
        if first.linked(foreign_key(b)) is not None:
            return  # linked already: one link, as Erlang's
        second: Lifecycle | ForeignLifecycle = ForeignLifecycle(b)
    else:
        second = lifecycle_of(b)
    if first is second:
        return
    reason = second.add_link(first)
    if reason is not None:
        first.exit_signal(b, reason)
        return
    reason = first.add_link(second)  # type: ignore[arg-type]  # a Lifecycle's peer may be foreign
    if reason is not None:
        second.remove_link(first)
        second.exit_signal(a, reason)


def exit(ref: Any, reason: ExitReason) -> None:
    """Stop the supervised actor ``ref`` with ``reason``, from any thread, without waiting.

    The actor stops as soon as the message it is handling (if any) is done, before anything still
    queued; ``on_stop`` runs; links, monitors and its supervisor see ``reason``. Nothing happens
    if it is already dead. ``ref`` may be a foreign ref (another node's actor).
    """
    watchable_of(ref).kill(reason)


def exit_signal(ref: pykka.ActorRef[Any], sender: Any, reason: ExitReason) -> None:
    """Deliver to the supervised actor ``ref`` the exit signal of ``sender``, an actor linked to
    it that died with ``reason``: ``ref`` receives ``Exit(sender, reason)`` if it traps exits,
    else it dies with ``reason`` unless that is ``NORMAL``. What a ``ForeignRef``'s
    ``sv_signal`` does where its actor lives."""
    lifecycle_of(ref).exit_signal(sender, reason)


def unlink(a: Any, b: Any) -> None:
    """Remove the link between ``a`` and ``b``, if any (either may be a foreign ref)."""
    if is_foreign(a) and is_foreign(b):
        a.sv_unlink(b)
        return
    if is_foreign(a):
        a, b = b, a
    first = lifecycle_of(a)
    if is_foreign(b):
        peer = first.linked(foreign_key(b))
        if peer is not None:
            first.remove_link(peer)
            peer.remove_link(first)
        return
    second = lifecycle_of(b)
    first.remove_link(second)
    second.remove_link(first)


def monitor(watcher: pykka.ActorRef[Any], target: Any) -> MonitorRef:
    """Tell ``watcher`` a :class:`~supervision.Down` once ``target`` has died.

    ``watcher`` may be any Pykka actor; ``target`` must be a supervised actor, or a foreign ref
    (another node's actor: its ``Down`` also comes when it can no longer be reached, with the
    reason its ref gives). If it is already dead, the ``Down`` is sent at once. A monitor held
    by a supervised watcher ends with it.
    """
    if not isinstance(watcher, pykka.ActorRef):
        raise TypeError(f"watcher must be a pykka.ActorRef, not {type(watcher).__name__}")
    target_lifecycle = watchable_of(target)
    mref = MonitorRef(next(_monitor_ids), target)

    def on_target_exit(reason: ExitReason) -> None:
        if _forget(mref.id) is None:
            return  # demonitor() won the race: no Down after it returned
        with contextlib.suppress(pykka.ActorDeadError):
            watcher.tell(Down(mref, target, reason))

    watcher_lifecycle = getattr(watcher, "_sv_lifecycle", None)
    with _monitors_lock:
        _monitors[mref.id] = (target_lifecycle, 0, None, None)
    try:
        token = target_lifecycle.add_exit_listener(on_target_exit)
    except BaseException:  # a foreign ref that cannot be watched (TypeError), or unreachable
        _forget(mref.id)
        raise
    watcher_token = None
    if isinstance(watcher_lifecycle, Lifecycle):
        watcher_token = watcher_lifecycle.add_exit_listener(lambda _reason: demonitor(mref))
    with _monitors_lock:
        if mref.id in _monitors:
            _monitors[mref.id] = (target_lifecycle, token, watcher_lifecycle, watcher_token)
        elif isinstance(watcher_lifecycle, Lifecycle) and watcher_token is not None:
            watcher_lifecycle.remove_exit_listener(watcher_token)
    return mref


def demonitor(mref: MonitorRef) -> None:
    """Cancel a monitor; no ``Down`` is sent for it afterwards (one already sent stays sent)."""
    if not isinstance(mref, MonitorRef):
        raise TypeError(f"expected a MonitorRef, not {type(mref).__name__}")
    entry = _forget(mref.id)
    if entry is None:
        return
    target_lifecycle, token, watcher_lifecycle, watcher_token = entry
    target_lifecycle.remove_exit_listener(token)
    if watcher_lifecycle is not None and watcher_token is not None:
        watcher_lifecycle.remove_exit_listener(watcher_token)


def _forget(monitor_id: int) -> _Entry | None:
    with _monitors_lock:
        return _monitors.pop(monitor_id, None)

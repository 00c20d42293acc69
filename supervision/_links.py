"""Links and monitors between supervised actors (Erlang's ``link/1`` and ``monitor/2``)."""

from __future__ import annotations

import contextlib
import itertools
import threading
from typing import Any

import pykka

from supervision._lifecycle import Lifecycle, lifecycle_of
from supervision._signals import Down, ExitReason, MonitorRef

__all__ = ["demonitor", "exit", "link", "monitor", "unlink"]

_monitor_ids = itertools.count(1)
# monitor id -> (target's lifecycle, token at the target, token at the watcher or None)
_monitors: dict[int, tuple[Lifecycle, int, Lifecycle | None, int | None]] = {}
_monitors_lock = threading.Lock()


def link(a: pykka.ActorRef[Any], b: pykka.ActorRef[Any]) -> None:
    """Link two supervised actors: when either dies abnormally, the other dies with the same reason.

    An actor with ``trap_exits = True`` receives ``Exit(ref, reason)`` instead, for every exit of
    the other, normal ones included. Linking to an actor that is already dead signals at once.
    """
    first, second = lifecycle_of(a), lifecycle_of(b)
    if first is second:
        return
    reason = second.add_link(first)
    if reason is not None:
        first.exit_signal(b, reason)
        return
    reason = first.add_link(second)
    if reason is not None:
        second.remove_link(first)
        second.exit_signal(a, reason)


def exit(ref: pykka.ActorRef[Any], reason: ExitReason) -> None:
    """Stop the supervised actor ``ref`` with ``reason``, from any thread, without waiting.

    The actor stops as soon as the message it is handling (if any) is done, before anything still
    queued; ``on_stop`` runs; links, monitors and its supervisor see ``reason``. Nothing happens
    if it is already dead.
    """
    lifecycle_of(ref).kill(reason)


def unlink(a: pykka.ActorRef[Any], b: pykka.ActorRef[Any]) -> None:
    """Remove the link between ``a`` and ``b``, if any."""
    first, second = lifecycle_of(a), lifecycle_of(b)
    first.remove_link(second)
    second.remove_link(first)


def monitor(watcher: pykka.ActorRef[Any], target: pykka.ActorRef[Any]) -> MonitorRef:
    """Tell ``watcher`` a :class:`~supervision.Down` once ``target`` has died.

    ``watcher`` may be any Pykka actor; ``target`` must be a supervised actor. If it is already
    dead, the ``Down`` is sent at once. A monitor held by a supervised watcher ends with it.
    """
    if not isinstance(watcher, pykka.ActorRef):
        raise TypeError(f"watcher must be a pykka.ActorRef, not {type(watcher).__name__}")
    target_lifecycle = lifecycle_of(target)
    mref = MonitorRef(next(_monitor_ids), target)

    def on_target_exit(reason: ExitReason) -> None:
        if _forget(mref.id) is None:
            return  # demonitor() won the race: no Down after it returned
        with contextlib.suppress(pykka.ActorDeadError):
            watcher.tell(Down(mref, target, reason))

    watcher_lifecycle = getattr(watcher, "_sv_lifecycle", None)
    with _monitors_lock:
        _monitors[mref.id] = (target_lifecycle, 0, None, None)
    token = target_lifecycle.add_exit_listener(on_target_exit)
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


def _forget(monitor_id: int) -> tuple[Lifecycle, int, Lifecycle | None, int | None] | None:
    with _monitors_lock:
        return _monitors.pop(monitor_id, None)

"""SUPERVISE: what another node asks of this node's actors so that it can link, monitor and
supervise them (``supervision``'s protocol for refs it does not own, carried out here).

A SUPERVISE body is ``(op, name, arg)`` for the actor registered (or exported) as ``name``:

- ``"watch"``: no reply until the actor dies; then a REPLY of its exit reason (wire form,
  below). ``noproc`` at once if no live actor has the name, ``not_supervised`` if it is not a
  ``supervision.SupervisedActor``. A CANCEL of the request ends the watch; so does the end of
  the connection.
- ``"exit"`` (``arg``: a reason): stop it with that reason (``supervision.exit``); no reply.
- ``"signal"`` (``arg``: ``(sender, reason)``): a linked actor of the asking node died; deliver
  its exit signal (``supervision.exit_signal``); no reply.
- ``"link"`` / ``"unlink"`` (``arg``: another actor's ref): ``supervision.link`` / ``unlink``
  here; REPLY ``True``.

An exit reason travels as ``("normal",)``, ``("shutdown",)`` or ``("reason", text, pickle)``:
the exception pickled (``None`` when it cannot be) and its ``repr``, which the receiver keeps
when it cannot unpickle it. Module control counts these requests as the module ``"pykka"``.
"""

from __future__ import annotations

import pickle
import threading
from collections.abc import Callable
from typing import Any

import pykka

import supervision as sv
from genrpc_actors import _protocol
from genrpc_actors._execution._request import ModuleControl, Outcome, awaited_outcome, error_body
from genrpc_actors._server._asks import REFUSED, decode_for_actors

__all__ = ["Watching", "decode_reason", "encode_reason", "supervise_here"]

Send = Callable[[int, int, _protocol.Body], None]  # (kind, flags, body) of the reply
Lookup = Callable[[str], "pykka.ActorRef[Any] | None"]
# (ref, on_exit) -> what cancels the watch; TypeError for an actor that cannot be watched
Watch = Callable[["pykka.ActorRef[Any]", Callable[[sv.ExitReason], None]], Callable[[], None]]

WireReason = tuple[Any, ...]


class Watching:
    """A watch, filed with its request until it ends: a CANCEL or the connection's end
    cancels it; ``open`` once registered and until the actor's death was sent."""

    __slots__ = ("_cancel", "_lock", "ended")

    def __init__(self) -> None:
        self._cancel: Callable[[], None] | None = None
        self._lock = threading.Lock()
        self.ended = False  # the death was sent, or it was cancelled

    @property
    def open(self) -> bool:
        return self._cancel is not None and not self.ended

    def started(self, cancel: Callable[[], None]) -> None:
        with self._lock:
            if not self.ended:
                self._cancel = cancel

    def end(self) -> bool:
        """True the first time: the one who ends it sends (or cancels) it."""
        with self._lock:
            first, self.ended = not self.ended, True
            return first

    def cancel(self) -> None:
        if self.end() and self._cancel is not None:
            self._cancel()


def encode_reason(reason: Any) -> WireReason:
    """An exit reason's wire form (see the module's documentation)."""
    if reason is sv.NORMAL:
        return ("normal",)
    if reason is sv.SHUTDOWN:
        return ("shutdown",)
    try:
        data: bytes | None = pickle.dumps(reason, protocol=5)
    except Exception:  # noqa: BLE001 - what cannot travel still has its repr
        data = None
    return ("reason", repr(reason), data)


def decode_reason(
    wire: Any, allowed: Callable[[str, str], bool] | None, max_nesting: int
) -> sv.ExitReason | Any:
    """The exit reason that ``wire`` carries: as it was, or its ``repr`` if it cannot be
    unpickled here (a module this node lacks, one its module control refuses)."""
    if wire == ("normal",):
        return sv.NORMAL
    if wire == ("shutdown",):
        return sv.SHUTDOWN
    if not (isinstance(wire, tuple) and len(wire) == 3 and wire[0] == "reason"):  # noqa: PLR2004
        return repr(wire)
    _, text, data = wire
    if isinstance(data, bytes):
        try:
            return _protocol.decode_body(data, 0, allowed, max_nesting=max_nesting)
        except Exception:  # noqa: BLE001, S110 - its repr stands for it
            pass
    return str(text)


def supervise_here(
    control: ModuleControl,
    lookup: Lookup,
    watch: Watch,
    flags: int,
    body: Any,
    send: Send,
    watching: Watching,
) -> None:
    """Carry out a SUPERVISE body; a reply, if any, goes to ``send``: now, or at the actor's
    death for a watch (``watching``, which the caller files for a CANCEL, is open until then)."""
    decoded = decode_for_actors(control, flags, body, send)
    if decoded is REFUSED:
        return
    op, name, arg = decoded
    ref = lookup(name) if isinstance(name, str) else None
    if op == "watch":
        _watch(ref, watch, send, watching)
    elif ref is None:
        if op in ("link", "unlink"):
            send(_protocol.ERROR, 0, error_body("noproc"))
    elif op == "exit":
        _exit(ref, decode_reason(arg, control.unpickling, control.max_nesting))
    elif op == "signal":
        sender, wire = arg
        _signal(ref, sender, decode_reason(wire, control.unpickling, control.max_nesting))
    elif op in ("link", "unlink"):
        send(*_link(op, ref, arg))


def _watch(ref: pykka.ActorRef[Any] | None, watch: Watch, send: Send, watching: Watching) -> None:
    if ref is None:
        send(_protocol.ERROR, 0, error_body("noproc"))
        return

    def on_exit(reason: sv.ExitReason) -> None:
        if watching.end():
            send(*awaited_outcome(True, encode_reason(reason)))

    try:
        watching.started(watch(ref, on_exit))
    except TypeError as exc:
        send(_protocol.ERROR, 0, error_body(("not_supervised", str(exc))))


def _exit(ref: pykka.ActorRef[Any], reason: Any) -> None:
    try:
        sv.exit(ref, reason)
    except TypeError:  # a plain Pykka actor: it can only be stopped
        ref.stop(block=False)


def _signal(ref: pykka.ActorRef[Any], sender: Any, reason: Any) -> None:
    try:
        sv.exit_signal(ref, sender, reason)
    except TypeError:  # a plain Pykka actor has no links: it dies of an abnormal exit
        if reason is not sv.NORMAL:
            ref.stop(block=False)


def _link(op: str, ref: pykka.ActorRef[Any], other: Any) -> Outcome:
    try:
        (sv.link if op == "link" else sv.unlink)(ref, other)
    except Exception as exc:  # noqa: BLE001 - the caller's error, with its reason
        return awaited_outcome(False, exc)
    return awaited_outcome(True, True)

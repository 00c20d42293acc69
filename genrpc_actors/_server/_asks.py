"""ASK: a message for a named actor of this node, answered from the actor's own thread.

The message goes into the actor's inbox as Pykka's ``ask`` would put it, with an ``Answer`` as
the future to reply to: when the actor has handled it, the answer is encoded and sent from the
actor's thread, so an ask costs no worker thread. Module control counts it as the module
``"pykka"``, as broadcasts.
"""

from __future__ import annotations

import sys
from collections.abc import Callable
from typing import Any

import pykka
from pykka._envelope import Envelope

from genrpc_actors import _protocol
from genrpc_actors._execution._request import ModuleControl, Outcome, awaited_outcome, error_body

__all__ = ["REFUSED", "Answer", "ask_here", "decode_for_actors"]

Send = Callable[[int, int, _protocol.Body], None]  # (kind, flags, body) of the reply
Lookup = Callable[[str], "pykka.ActorRef[Any] | None"]  # a live actor by its registered name

_NOPROC: Outcome = (_protocol.ERROR, 0, error_body("noproc"))


class Answer(pykka.Future[Any]):
    """The future an asked actor replies to: its value or exception is sent as the reply."""

    def __init__(self, send: Send) -> None:
        super().__init__()
        self._send: Send | None = send

    def get(self, timeout: float | None = None) -> Any:  # noqa: ARG002 - nobody waits here
        raise RuntimeError("an Answer is sent, not waited for")

    def set(self, value: Any = None) -> None:
        self._reply(awaited_outcome(True, value))

    def set_exception(self, exc_info: Any = None) -> None:
        exc = (exc_info or sys.exc_info())[1]
        if isinstance(exc, pykka.ActorDeadError):  # it died with the message still queued
            self._reply(_NOPROC)
        else:
            self._reply(awaited_outcome(False, exc))

    def _reply(self, outcome: Outcome) -> None:
        send, self._send = self._send, None  # once
        if send is not None:
            send(*outcome)


def decode_for_actors(control: ModuleControl, flags: int, body: Any, send: Send) -> Any:
    """The body of a request for this node's actors (an ASK, a SUPERVISE), which module control
    counts as the module ``"pykka"``; ``REFUSED`` once its ERROR went to ``send``."""
    if not control.allows("pykka") or (flags & _protocol.DILL and control.enabled):
        send(_protocol.ERROR, 0, error_body("unauthorized"))
        return REFUSED
    try:
        return _protocol.decode_body(
            body, flags, control.unpickling, max_nesting=control.max_nesting
        )
    except _protocol.RefusedGlobal:
        send(_protocol.ERROR, 0, error_body("unauthorized"))
    except Exception as exc:  # noqa: BLE001 - whatever unpickling raised
        send(_protocol.ERROR, 0, error_body(("undecodable", f"{type(exc).__name__}: {exc}")))
    return REFUSED


REFUSED: Any = object()  # what decode_for_actors returns for a request it answered itself


def ask_here(control: ModuleControl, lookup: Lookup, flags: int, body: Any, send: Send) -> None:
    """Carry out an ASK body: its reply goes to ``send``, now (refused, ``noproc``, a PROBE)
    or from the actor's thread once it has handled the message."""
    decoded = decode_for_actors(control, flags, body, send)
    if decoded is REFUSED:
        return
    name, message = decoded
    ref = lookup(name) if isinstance(name, str) else None
    if flags & _protocol.PROBE:
        send(*awaited_outcome(True, ref is not None))
        return
    if ref is None:
        send(*_NOPROC)
        return
    answer = Answer(send)
    ref.actor_inbox.put(Envelope(message, reply_to=answer))
    if not ref.is_alive():  # it died as the message went in: it may never be read (once)
        answer.set_exception((pykka.ActorDeadError, pykka.ActorDeadError(name), None))

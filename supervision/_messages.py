"""What passes between a supervisor actor, its handles, its children and its operations.

The supervisor's mailbox receives a handle's :class:`Request`, a child's :class:`ChildStarted`
and :class:`ChildExited` (told from the child's thread by its lifecycle), and its own
:class:`TimerExpired`. An operation (a generator, see ``_supervisor.py``) yields a :data:`Wait`:
:class:`WaitStarted` until one child has run its ``on_start``, :class:`WaitExited` until some
children have died or ``timeout`` seconds have passed.
"""

from __future__ import annotations

import contextlib
from collections.abc import Generator
from typing import Any, NamedTuple, TypeAlias

import pykka

from supervision._signals import ExitReason

__all__ = [
    "ChildExited",
    "ChildStarted",
    "Operation",
    "Request",
    "TimerExpired",
    "Wait",
    "WaitExited",
    "WaitStarted",
    "tell_if_alive",
]


class Request(NamedTuple):
    """A handle's request; ``reply`` gets the answer or the error."""

    kind: str
    arg: Any
    reply: pykka.Future[Any]


class ChildStarted(NamedTuple):
    """The child incarnation ``urn`` has run its ``on_start`` (``ok``) or died first."""

    urn: str
    ok: bool
    reason: ExitReason | None


class ChildExited(NamedTuple):
    """The child incarnation ``urn`` has died with ``reason``."""

    urn: str
    reason: ExitReason


class TimerExpired(NamedTuple):
    """The shutdown timer numbered ``token`` has run out (a stale token is ignored)."""

    token: int


class WaitStarted(NamedTuple):
    """Resume the operation with ``(ok, reason)`` once child ``urn`` has started or died."""

    urn: str


class WaitExited(NamedTuple):
    """Resume the operation once all of ``urns`` have died (with an empty set), or once
    ``timeout`` seconds have passed (with the urns abandoned; ``None``: no limit)."""

    urns: set[str]
    timeout: float | None


Wait: TypeAlias = WaitStarted | WaitExited
Operation: TypeAlias = Generator[Wait, Any, Any]


def tell_if_alive(ref: pykka.ActorRef[Any], message: Any) -> None:
    """Tell ``message`` to ``ref``; nothing happens if that actor is already dead."""
    with contextlib.suppress(pykka.ActorDeadError):
        ref.tell(message)

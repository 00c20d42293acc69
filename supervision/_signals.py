"""Exit reasons and the messages that links and monitors deliver.

An actor's *exit reason* is :data:`NORMAL` (it was stopped), :data:`SHUTDOWN` (its supervisor, or a
supervisor shutting down, stopped it), or the exception that killed it.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any, Final, NamedTuple, TypeAlias

if TYPE_CHECKING:
    import pykka

__all__ = ["NORMAL", "SHUTDOWN", "Down", "Exit", "ExitReason", "MonitorRef", "is_clean_exit"]


class _Atom:
    """A named exit reason, compared by identity; pickles to the same object."""

    __slots__ = ("_name",)

    def __init__(self, name: str) -> None:
        self._name = name

    def __repr__(self) -> str:
        return f"supervision.{self._name.upper()}"

    def __reduce__(self) -> str:
        return self._name.upper()


NORMAL: Final = _Atom("normal")
SHUTDOWN: Final = _Atom("shutdown")

# NORMAL, SHUTDOWN or an exception; from a foreign ref (another node's actor) also what its
# carrier reports: "noproc", ("noconnection", node), or the repr of a reason that cannot travel
ExitReason: TypeAlias = _Atom | BaseException | str | tuple[Any, ...]


def is_clean_exit(reason: ExitReason) -> bool:
    """Whether ``reason`` ends a ``"transient"`` child without a restart (OTP's normal/shutdown)."""
    return reason is NORMAL or reason is SHUTDOWN


class Exit(NamedTuple):
    """Delivered to a linked actor that sets ``trap_exits = True`` when ``ref`` has died
    (``ref``: a ``pykka.ActorRef``, or a foreign ref)."""

    ref: pykka.ActorRef[Any] | Any
    reason: ExitReason


class MonitorRef(NamedTuple):
    """What :func:`supervision.monitor` returns; pass it to :func:`supervision.demonitor`."""

    id: int
    target: pykka.ActorRef[Any] | Any  # or a foreign ref

    def __repr__(self) -> str:
        return f"<MonitorRef #{self.id} on {self.target}>"


class Down(NamedTuple):
    """Delivered to a monitoring actor once the monitored actor ``ref`` has died."""

    monitor_ref: MonitorRef
    ref: pykka.ActorRef[Any] | Any  # or a foreign ref
    reason: ExitReason

"""Child specifications and what supervisors report about their children."""

from __future__ import annotations

import math
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any

import pykka

from supervision._policy import RESTART_TYPES, STRATEGIES, RestartType

__all__ = ["ChildInfo", "ChildSpec", "SupervisorStatistics", "check_intensity"]


@dataclass(frozen=True)
class ChildSpec:
    """How to start one child: ``actor_class.start(*args, **kwargs)`` must return an ``ActorRef``
    of a :class:`~supervision.SupervisedActor` (``supervision.Supervisor`` qualifies); or, in
    its place, ``start``, a factory called with no arguments that returns such an ``ActorRef``
    or a foreign ref (``ForeignRef``: another node's actor, which the factory starts there; it
    is called again for each restart, and may place the new actor elsewhere).

    ``restart`` is ``"permanent"``, ``"transient"`` or ``"temporary"``; ``shutdown`` is how many
    seconds a stopping child may take before it is abandoned (``None``: no limit, as OTP's
    ``infinity``, advisable for a nested supervisor; ``0``: do not wait at all).
    """

    id: str
    actor_class: Any = None
    args: Sequence[Any] = ()
    kwargs: Mapping[str, Any] | None = None
    restart: RestartType = "permanent"
    shutdown: float | None = 5.0
    start: Callable[[], Any] | None = None
    _kwargs: dict[str, Any] = field(init=False, repr=False, compare=False)

    def __post_init__(self) -> None:
        if not isinstance(self.id, str) or not self.id:
            raise TypeError(f"ChildSpec id must be a non-empty str, not {self.id!r}")
        if self.start is not None:
            if self.actor_class is not None or self.args or self.kwargs:
                raise TypeError(
                    f"ChildSpec {self.id!r}: give start, or actor_class with args and kwargs,"
                    " not both"
                )
            if not callable(self.start):
                raise TypeError(
                    f"ChildSpec {self.id!r}: start must be callable, not {self.start!r}"
                )
        elif not callable(getattr(self.actor_class, "start", None)):
            raise TypeError(f"ChildSpec {self.id!r}: {self.actor_class!r} has no start()")
        if isinstance(self.args, str | bytes) or not isinstance(self.args, Sequence):
            raise TypeError(f"ChildSpec {self.id!r}: args must be a sequence, not {self.args!r}")
        if self.kwargs is not None and not isinstance(self.kwargs, Mapping):
            raise TypeError(f"ChildSpec {self.id!r}: kwargs must be a mapping or None")
        if self.restart not in RESTART_TYPES:
            raise ValueError(f"ChildSpec {self.id!r}: restart must be one of {RESTART_TYPES}")
        if self.shutdown is not None:
            if isinstance(self.shutdown, bool) or not isinstance(self.shutdown, int | float):
                raise TypeError(f"ChildSpec {self.id!r}: shutdown must be seconds or None")
            if not self.shutdown >= 0 or math.isinf(self.shutdown):
                raise ValueError(f"ChildSpec {self.id!r}: shutdown must be >= 0 and finite")
        object.__setattr__(self, "_kwargs", dict(self.kwargs or {}))

    def launch(self) -> Any:
        """Start one incarnation of the child (in the calling thread, as OTP's start function):
        its ``ActorRef``, or the foreign ref that ``start`` returned."""
        if self.start is not None:
            return self.start()
        ref = self.actor_class.start(*self.args, **self._kwargs)
        if not isinstance(ref, pykka.ActorRef):
            raise TypeError(f"{self.actor_class!r}.start() returned {ref!r}, not an ActorRef")
        return ref


@dataclass(frozen=True, slots=True)
class ChildInfo:
    """One row of ``which_children()``: ``ref`` is ``None`` while the child is not running."""

    id: str
    ref: Any  # a pykka.ActorRef, a foreign ref, or None
    restart: RestartType


@dataclass(frozen=True, slots=True)
class SupervisorStatistics:
    """A supervisor's counters.

    ``children`` counts child specs, ``active`` the child actors alive (starting, running or
    stopping), ``restarts`` the restarts carried out so far (one per exit that caused any, however
    many children the strategy restarted: the unit of ``intensity``), ``recent_restarts`` those
    still inside the intensity window, ``escalated`` whether the supervisor gave up.
    """

    strategy: str
    intensity: int
    period: float
    dynamic: bool
    children: int
    active: int
    restarts: int
    recent_restarts: int
    escalated: bool = False
    max_children: int | None = None


def check_intensity(strategy: str, intensity: int, period: float) -> None:
    """Validate a supervisor's options; ``TypeError``/``ValueError`` name the wrong one."""
    if strategy not in STRATEGIES:
        raise ValueError(f"strategy must be one of {STRATEGIES}, not {strategy!r}")
    if isinstance(intensity, bool) or not isinstance(intensity, int):
        raise TypeError(f"intensity must be an int, not {intensity!r}")
    if intensity < 0:
        raise ValueError(f"intensity must be >= 0, not {intensity}")
    if isinstance(period, bool) or not isinstance(period, int | float):
        raise TypeError(f"period must be seconds, not {period!r}")
    if not period > 0 or math.isinf(period):
        raise ValueError(f"period must be > 0 and finite, not {period}")

"""The restart decision, as pure functions of data (no actors, no threads, no clock).

Theory of operation (OTP's ``supervisor`` module, restated):

- A child exits with a reason. Its restart type says whether it is restarted at all:
  ``"permanent"`` always, ``"transient"`` unless the reason is clean (``NORMAL``/``SHUTDOWN``),
  ``"temporary"`` never; a temporary child's spec is forgotten when it exits.
- A restart is counted in the *restart history*: the times of the restarts less than ``period``
  seconds old, plus now. More than ``intensity`` of them and the supervisor gives up: it stops
  every child and exits with ``SHUTDOWN`` (escalation to its own supervisor).
- Otherwise the strategy chooses the children to stop (in reverse start order) and to start again
  (in start order):

  ============== ===================================== ======================================
  strategy       stop                                  start
  ============== ===================================== ======================================
  one_for_one    nothing                               the failed child
  one_for_all    every other running child             every child still specified
  rest_for_one   running children after the failed one the failed one and those after it
  ============== ===================================== ======================================

  Temporary children that are stopped this way are forgotten, not started again.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import TYPE_CHECKING, Literal

from supervision._signals import ExitReason, is_clean_exit

if TYPE_CHECKING:
    from collections.abc import Sequence

__all__ = [
    "RESTART_TYPES",
    "STRATEGIES",
    "ChildState",
    "Decision",
    "RestartType",
    "Strategy",
    "add_restart",
    "decide",
    "should_restart",
]

Strategy = Literal["one_for_one", "one_for_all", "rest_for_one"]
RestartType = Literal["permanent", "transient", "temporary"]
STRATEGIES: tuple[Strategy, ...] = ("one_for_one", "one_for_all", "rest_for_one")
RESTART_TYPES: tuple[RestartType, ...] = ("permanent", "transient", "temporary")


@dataclass(frozen=True, slots=True)
class ChildState:
    """What the policy needs to know of one child."""

    id: str
    restart: RestartType
    running: bool


@dataclass(frozen=True, slots=True)
class Decision:
    """What a supervisor does about one exit, in this order: stop, forget, start (or escalate)."""

    stop: tuple[str, ...] = ()
    forget: tuple[str, ...] = ()
    start: tuple[str, ...] = ()
    escalate: bool = False
    history: tuple[float, ...] = ()


def should_restart(restart: RestartType, reason: ExitReason) -> bool:
    """Whether a child of this restart type is restarted after exiting with ``reason``."""
    if restart == "permanent":
        return True
    if restart == "transient":
        return not is_clean_exit(reason)
    return False


def add_restart(
    history: Sequence[float], now: float, intensity: int, period: float
) -> tuple[tuple[float, ...], bool]:
    """Record a restart at ``now``; return the new history and whether intensity is exceeded."""
    recent = (*(t for t in history if now - t < period), now)
    return recent, len(recent) > intensity


def decide(
    strategy: Strategy,
    children: Sequence[ChildState],
    failed: str,
    reason: ExitReason,
    history: Sequence[float],
    now: float,
    intensity: int,
    period: float,
) -> Decision:
    """Decide what a supervisor does when child ``failed`` (one of ``children``) has exited."""
    index = next((i for i, child in enumerate(children) if child.id == failed), None)
    if index is None:
        raise ValueError(f"no child {failed!r} among {[c.id for c in children]}")
    failed_child = children[index]
    if not should_restart(failed_child.restart, reason):
        forget: tuple[str, ...] = (failed,) if failed_child.restart == "temporary" else ()
        return Decision(forget=forget, history=tuple(history))
    new_history, exceeded = add_restart(history, now, intensity, period)
    if exceeded:
        return Decision(escalate=True, history=new_history)
    if strategy == "one_for_one":
        return Decision(start=(failed,), history=new_history)
    affected = [c for c in children if c.id != failed] if strategy == "one_for_all" else []
    if strategy == "rest_for_one":
        affected = list(children[index + 1 :])
    stop = tuple(c.id for c in reversed(affected) if c.running)
    forget = tuple(c.id for c in affected if c.restart == "temporary")
    start = tuple(
        c.id for c in children if c.id == failed or (c in affected and c.restart != "temporary")
    )
    return Decision(stop=stop, forget=forget, start=start, history=new_history)

"""The public face of a supervisor: a thread-safe handle on its actor, and the start functions."""

from __future__ import annotations

import time
from collections.abc import Callable, Sequence
from typing import Any, Self

import pykka

from supervision._errors import StartError
from supervision._lifecycle import DEAD, lifecycle_of
from supervision._messages import Request
from supervision._policy import Strategy
from supervision._spec import ChildInfo, ChildSpec, SupervisorStatistics
from supervision._supervisor import SupervisorActor

__all__ = [
    "DynamicSupervisor",
    "Supervisor",
    "handle",
    "start_dynamic_supervisor",
    "start_supervisor",
]


class Supervisor:
    """A handle on a running supervisor; every method is safe to call from any thread.

    ``Supervisor.start(...)`` (what a :class:`ChildSpec` calls, for a nested supervisor) starts the
    supervisor actor and returns its ``ActorRef``; :func:`start_supervisor` does the same and waits
    until every child has started, then returns a handle. Requests that involve a child
    (``start_child`` and the like) wait for the supervisor to carry them out; ``timeout`` bounds
    that wait (``pykka.Timeout``). A dead supervisor raises ``pykka.ActorDeadError``.
    """

    def __init__(self, ref: pykka.ActorRef[Any]) -> None:
        if not isinstance(ref, pykka.ActorRef) or not issubclass(ref.actor_class, SupervisorActor):
            raise TypeError(f"{ref!r} is not the ref of a supervisor")
        self._ref = ref
        self._lifecycle = lifecycle_of(ref)

    @classmethod
    def start(
        cls,
        children: Sequence[ChildSpec] = (),
        strategy: Strategy = "one_for_one",
        intensity: int = 1,
        period: float = 5.0,
        *,
        clock: Callable[[], float] | None = None,
    ) -> pykka.ActorRef[Any]:
        """Start a supervisor actor; it reports itself started once all ``children`` have."""
        return SupervisorActor.start(
            children, strategy, intensity, period, clock=clock or time.monotonic
        )

    @property
    def ref(self) -> pykka.ActorRef[Any]:
        """The supervisor's own ``ActorRef`` (to link, monitor or nest it)."""
        return self._ref

    def __repr__(self) -> str:
        stats = self.statistics()
        kind = "dynamic" if stats.dynamic else stats.strategy
        return (
            f"<{type(self).__name__} {kind} children={stats.children} active={stats.active}"
            f" restarts={stats.restarts} {self._lifecycle.state}>"
        )

    def __eq__(self, other: object) -> bool:
        return isinstance(other, Supervisor) and other._ref is self._ref

    def __hash__(self) -> int:
        return hash(self._ref.actor_urn)

    def __enter__(self) -> Self:
        return self

    def __exit__(self, *_exc: object) -> None:
        self.stop()

    # -- queries -------------------------------------------------------------------------------

    def statistics(self) -> SupervisorStatistics:
        """The counters as of the supervisor's last step; never waits for it."""
        stats = self._lifecycle.published
        assert isinstance(stats, SupervisorStatistics)
        return stats

    def which_children(self, *, timeout: float | None = None) -> list[ChildInfo]:
        """Every child spec, in start order; ``ref`` is ``None`` for a child not running now (a
        child on another node: as far as the supervisor has heard)."""
        infos: list[ChildInfo] = self._request("which_children", None, timeout)
        return [
            ChildInfo(info.id, None, info.restart)
            if isinstance(info.ref, pykka.ActorRef) and not info.ref.is_alive()
            else info
            for info in infos
        ]

    def child(self, child_id: str, *, timeout: float | None = None) -> Any:
        """The running child ``child_id``'s current ref (a ``pykka.ActorRef``, or a foreign ref
        for a child on another node), or ``None`` (also for an unknown id)."""
        for info in self.which_children(timeout=timeout):
            if info.id == child_id and info.ref is not None:
                return info.ref
        return None

    def wait_started(self, timeout: float | None = None) -> None:
        """Wait until the supervisor has started all its children; ``StartError`` if it failed.
        For a supervisor started with ``Supervisor.start`` (``start_supervisor`` waits itself)."""
        _wait_started(self._ref, timeout)

    def is_alive(self) -> bool:
        """Whether the supervisor still runs (it is alive while it stops its children)."""
        return self._lifecycle.state != DEAD and self._ref.is_alive()

    # -- requests ------------------------------------------------------------------------------

    def start_child(self, spec: ChildSpec, *, timeout: float | None = None) -> pykka.ActorRef[Any]:
        """Add ``spec`` and start it; ``StartError`` if it fails to start (then it is not added)."""
        if not isinstance(spec, ChildSpec):
            raise TypeError(f"expected a ChildSpec, not {type(spec).__name__}")
        ref: pykka.ActorRef[Any] = self._request("start_child", spec, timeout)
        return ref

    def terminate_child(self, child_id: Any, *, timeout: float | None = None) -> None:
        """Stop a child and keep its spec (a temporary child's spec is dropped)."""
        self._request("terminate_child", child_id, timeout)

    def restart_child(self, child_id: str, *, timeout: float | None = None) -> pykka.ActorRef[Any]:
        """Start again a child that was terminated; ``SupervisionError("running")`` if it runs."""
        ref: pykka.ActorRef[Any] = self._request("restart_child", child_id, timeout)
        return ref

    def delete_child(self, child_id: str, *, timeout: float | None = None) -> None:
        """Forget the spec of a child that is not running."""
        self._request("delete_child", child_id, timeout)

    def stop(self, *, timeout: float | None = None) -> None:
        """Stop every child in reverse start order, then the supervisor; wait for all of it."""
        self._ref.stop(block=True, timeout=timeout)
        self._lifecycle.wait_dead(timeout)

    def _request(self, kind: str, arg: Any, timeout: float | None) -> Any:
        reply: pykka.Future[Any] = pykka.ThreadingFuture()
        self._ref.tell(Request(kind, arg, reply))
        return reply.get(timeout=timeout)


class DynamicSupervisor(Supervisor):
    """A handle on a dynamic supervisor (Elixir's ``DynamicSupervisor``, OTP's
    ``simple_one_for_one``): children are added with ``start_child`` and ended with
    ``terminate_child(ref)``; each child is restarted alone, by its own restart type."""

    @classmethod
    def start(  # type: ignore[override]
        cls,
        intensity: int = 3,
        period: float = 5.0,
        max_children: int | None = None,
        *,
        clock: Callable[[], float] | None = None,
    ) -> pykka.ActorRef[Any]:
        """Start a dynamic supervisor actor with no children."""
        return SupervisorActor.start(
            (),
            "one_for_one",
            intensity,
            period,
            dynamic=True,
            max_children=max_children,
            clock=clock or time.monotonic,
        )

    def terminate_child(self, child_id: Any, *, timeout: float | None = None) -> None:
        """Stop the child whose ``ActorRef`` is ``child_id`` and forget it."""
        super().terminate_child(child_id, timeout=timeout)


def handle(ref: pykka.ActorRef[Any]) -> Supervisor:
    """The handle of the running supervisor ``ref`` (a nested one, from ``child()``)."""
    supervisor = Supervisor(ref)
    if supervisor.statistics().dynamic:
        return DynamicSupervisor(ref)
    return supervisor


def start_supervisor(
    children: Sequence[ChildSpec],
    strategy: Strategy = "one_for_one",
    intensity: int = 1,
    period: float = 5.0,
    *,
    clock: Callable[[], float] | None = None,
) -> Supervisor:
    """Start a supervisor and its children in order; ``StartError`` if one fails to start."""
    ref = Supervisor.start(children, strategy, intensity, period, clock=clock)
    _wait_started(ref)
    return Supervisor(ref)


def start_dynamic_supervisor(
    intensity: int = 3,
    period: float = 5.0,
    max_children: int | None = None,
    *,
    clock: Callable[[], float] | None = None,
) -> DynamicSupervisor:
    """Start a dynamic supervisor (children come later, through ``start_child``)."""
    ref = DynamicSupervisor.start(intensity, period, max_children, clock=clock)
    _wait_started(ref)
    return DynamicSupervisor(ref)


def _wait_started(ref: pykka.ActorRef[Any], timeout: float | None = None) -> None:
    lifecycle = lifecycle_of(ref)
    if not lifecycle.started.wait(timeout):
        raise pykka.Timeout(f"{ref} has not started within {timeout} s")
    if lifecycle.state == DEAD:
        lifecycle.wait_dead()
        reason = lifecycle.reason
        if isinstance(reason, StartError):
            raise reason
        error = StartError("<supervisor>", f"exited with {reason!r}")
        if isinstance(reason, BaseException):
            raise error from reason
        raise error

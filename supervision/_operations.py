"""The supervisor's operations: starting and stopping children, as generators that yield what
they wait for (see ``_supervisor.py`` for the theory of operation, and how they are driven).
"""

from __future__ import annotations

import itertools
import logging
from collections.abc import Callable, Generator, Sequence
from typing import TYPE_CHECKING, Any

import pykka

from supervision._errors import StartError, SupervisionError
from supervision._foreign import ForeignLifecycle, watchable_of
from supervision._lifecycle import Lifecycle
from supervision._messages import (
    ChildExited,
    ChildStarted,
    Operation,
    Wait,
    WaitExited,
    WaitStarted,
    tell_if_alive,
)
from supervision._policy import ChildState, Strategy, decide
from supervision._signals import SHUTDOWN, ExitReason
from supervision._spec import ChildInfo, ChildSpec

__all__ = ["EXITED", "RUNNING", "STARTING", "STOPPED", "STOPPING", "Child", "Operations"]

logger = logging.getLogger("supervision")

# Child states, as the supervisor sees them.
STOPPED, STARTING, RUNNING, EXITED, STOPPING = (
    "stopped",
    "starting",
    "running",
    "exited",
    "stopping",
)

# A restart that fails to start stands for a child exit; each gets a urn no actor has.
_failed_starts = itertools.count(1)


class Child:
    """What a supervisor knows of one child: its spec, and its current or last incarnation."""

    __slots__ = ("lifecycle", "ref", "spec", "state", "urn")

    def __init__(self, spec: ChildSpec) -> None:
        self.spec = spec
        self.ref: Any = None  # a pykka.ActorRef or a foreign ref, while it runs
        self.lifecycle: Lifecycle | ForeignLifecycle | None = None
        self.urn = ""  # of the current or last incarnation
        self.state = STOPPED


class Operations:
    """The operations of ``SupervisorActor`` (a mixin; the actor supplies the state and drives
    the generators)."""

    _children: list[Child]
    _by_urn: dict[str, Child]
    _dynamic: bool
    _max_children: int | None
    _strategy: Strategy
    _history: tuple[float, ...]
    _restarts: int
    _escalated: bool
    _stopping: bool
    _clock: Callable[[], float]
    _intensity: int
    _period: float
    _sv: Lifecycle
    _sv_reason: ExitReason | None

    if TYPE_CHECKING:

        @property
        def actor_ref(self) -> pykka.ActorRef[Any]: ...

        def _enqueue(self, op: Operation, reply: pykka.Future[Any] | None) -> None: ...

        def _sv_request_stop(self, reason: ExitReason) -> None: ...

        def _sv_stop_now(self) -> None: ...

    # -- operations ------------------------------------------------------------------------------

    def _op_start_initial(self) -> Operation:
        for child in self._children:
            error = yield from self._start(child)
            if error is not None:
                yield from self._stop_children(self._children)
                self._sv_reason = error
                self._stopping = True
                self._sv_stop_now()
                return None
        self._sv.mark_running()
        return None

    def _op_start_child(self, spec: Any) -> Operation:
        if not isinstance(spec, ChildSpec):
            return TypeError(f"expected a ChildSpec, not {spec!r}")
        if self._dynamic:
            if self._max_children is not None and len(self._children) >= self._max_children:
                return _error("max_children", f"{self._max_children} children")
        elif any(c.spec.id == spec.id for c in self._children):
            return _error("already_present", spec.id)
        child = Child(spec)
        self._children.append(child)
        error = yield from self._start(child)
        if error is not None:
            self._children.remove(child)
            return error
        return child.ref

    def _op_terminate_child(self, key: Any) -> Operation:
        child = self._find(key)
        if isinstance(child, SupervisionError):
            return child
        yield from self._stop_children([child])
        if child.state == EXITED:  # crashed, not yet handled: the request wins over the restart
            child.state = STOPPED
        if self._dynamic or child.spec.restart == "temporary":
            self._children.remove(child)
        return None

    def _op_restart_child(self, key: Any) -> Operation:
        child = self._find(key, static_only=True)
        if isinstance(child, SupervisionError):
            return child
        if child.state != STOPPED:
            return _error("restarting" if child.state == EXITED else "running", child.spec.id)
        error = yield from self._start(child)
        return child.ref if error is None else error

    def _op_delete_child(self, key: Any) -> Operation:
        yield from ()  # an operation, though it never waits: it runs after those queued before it
        child = self._find(key, static_only=True)
        if isinstance(child, SupervisionError):
            return child
        if child.state != STOPPED:
            return _error("running", child.spec.id)
        self._children.remove(child)
        return None

    def _op_handle_exit(self, child: Child, urn: str, reason: ExitReason) -> Operation:
        if child.state != EXITED or child.urn != urn or child not in self._children:
            return  # terminated or deleted on request since then
        child.state = STOPPED
        if self._dynamic:
            scope, key = [child], urn
            states = [ChildState(urn, child.spec.restart, running=False)]
        else:
            scope, key = self._children, child.spec.id
            states = [ChildState(c.spec.id, c.spec.restart, c.state == RUNNING) for c in scope]
        decision = decide(
            "one_for_one" if self._dynamic else self._strategy,
            states,
            key,
            reason,
            self._history,
            self._clock(),
            self._intensity,
            self._period,
        )
        self._history = decision.history
        if decision.escalate:
            logger.error(
                "event=max_restart_intensity supervisor=%s intensity=%d period=%s child=%s",
                self.actor_ref,
                self._intensity,
                self._period,
                child.spec.id,
            )
            self._escalated = True
            self._sv_request_stop(SHUTDOWN)
            return
        if self._dynamic and not decision.start:
            self._children.remove(child)  # a dynamic child that is not restarted is forgotten
            return
        by_key = {(c.urn if self._dynamic else c.spec.id): c for c in scope}
        # decision.stop is in stopping order; _stop_children takes start order.
        yield from self._stop_children([by_key[k] for k in reversed(decision.stop)])
        for forgotten in decision.forget:
            self._children.remove(by_key[forgotten])
        if decision.start:
            self._restarts += 1
        for started in decision.start:
            target = by_key[started]
            error = yield from self._start(target)
            if error is None:
                logger.info(
                    "event=child_restarted supervisor=%s child=%s", self.actor_ref, target.spec.id
                )
            else:
                # A restart that fails to start is one more exit of that child, and counts.
                target.state, target.urn = EXITED, f"failed-start-{next(_failed_starts)}"
                self._enqueue(self._op_handle_exit(target, target.urn, error), None)

    def _op_shutdown(self) -> Operation:
        yield from self._stop_children(self._children)
        self._sv_stop_now()

    # -- steps -----------------------------------------------------------------------------------

    def _start(self, child: Child) -> Generator[Wait, Any, StartError | None]:
        """Start ``child`` and wait for its ``on_start``; a StartError if it failed."""
        try:
            ref = child.spec.launch()
        except Exception as exc:  # noqa: BLE001 - whatever the child's __init__ raised
            error = StartError(child.spec.id, "failed in start()")
            error.__cause__ = exc
            return error
        try:
            lifecycle = watchable_of(ref)
        except TypeError as exc:
            if isinstance(ref, pykka.ActorRef):
                ref.stop(block=False)  # a plain Pykka actor: it could never be supervised
            error = StartError(child.spec.id, "is not a SupervisedActor")
            error.__cause__ = exc
            return error
        urn = lifecycle.urn
        child.ref, child.lifecycle, child.urn, child.state = ref, lifecycle, urn, STARTING
        lifecycle.parent = self._sv
        self._by_urn[urn] = child
        me = self.actor_ref
        lifecycle.when_started(lambda ok, reason: tell_if_alive(me, ChildStarted(urn, ok, reason)))
        try:
            lifecycle.add_exit_listener(lambda reason: tell_if_alive(me, ChildExited(urn, reason)))
        except Exception as exc:  # noqa: BLE001 - a foreign child that cannot be watched
            self._by_urn.pop(urn, None)
            child.state, child.ref, child.lifecycle = STOPPED, None, None
            try:
                lifecycle.kill(SHUTDOWN)  # not supervised there: it is stopped all the same
            except Exception:  # noqa: BLE001 - the start error says what matters
                logger.warning("event=unwatchable_child_left child=%s", child.spec.id)
            error = StartError(child.spec.id, "cannot be watched")
            error.__cause__ = exc
            return error
        ok, reason = yield WaitStarted(urn)
        if ok:
            child.state = RUNNING
            return None
        self._by_urn.pop(urn, None)
        child.state, child.ref, child.lifecycle = STOPPED, None, None
        error = StartError(child.spec.id, "failed in on_start()")
        error.__cause__ = reason if isinstance(reason, BaseException) else None
        return error

    def _stop_children(self, children: Sequence[Child]) -> Generator[Wait, Any, None]:
        """Stop the running ones among ``children``: a static supervisor in reverse order, one
        at a time, each within its shutdown time; a dynamic one all at once."""
        alive = [c for c in children if c.state in (STARTING, RUNNING) and c.lifecycle is not None]
        if self._dynamic:
            for child in alive:
                yield from self._stop_one(child, wait=False)
            timeouts = [c.spec.shutdown for c in alive]
            longest = max((t for t in timeouts if t is not None), default=0.0)
            yield WaitExited({c.urn for c in alive}, None if None in timeouts else longest)
            return
        for child in reversed(alive):
            yield from self._stop_one(child, wait=True)

    def _stop_one(self, child: Child, *, wait: bool) -> Generator[Wait, Any, None]:
        assert child.lifecycle is not None
        child.state = STOPPING
        child.lifecycle.kill(SHUTDOWN)
        if wait:
            yield WaitExited({child.urn}, child.spec.shutdown)

    # -- bookkeeping -----------------------------------------------------------------------------

    def _find(self, key: Any, *, static_only: bool = False) -> Child | SupervisionError:
        if self._dynamic:
            if static_only:
                return _error("not_supported", "a dynamic supervisor has no child ids")
            found = [c for c in self._children if c.ref is not None and c.ref == key]
        else:
            found = [c for c in self._children if c.spec.id == key]
        return found[0] if found else _error("not_found", repr(key))

    def _info(self, child: Child) -> ChildInfo:
        ref = child.ref if child.state == RUNNING else None
        return ChildInfo(child.spec.id, ref, child.spec.restart)


def _error(reason: str, detail: str = "") -> SupervisionError:
    return SupervisionError(reason, detail)

"""The supervisor actor: OTP's supervisor as a Pykka actor that never blocks on a child.

Theory of operation. Everything a supervisor does that involves a child (start it and wait until
its ``on_start`` has run, stop it and wait until it is gone) is an *operation*: a generator that
yields what it waits for (``WaitStarted``, ``WaitExited``) and is resumed by the message that ends
the wait (``ChildStarted``, ``ChildExited``, ``TimerExpired``; all in ``_messages.py``). Operations
run one at a time, in arrival order, as OTP's supervisor handles its mailbox; queries are answered
at once, even in the middle of an operation. A stop request (``ref.stop()``, an exit signal,
escalation) drops the queued operations and runs the shutdown next: children stop in reverse start
order, each within its ``shutdown`` time, and only then does the supervisor die and report its exit
reason.
"""

from __future__ import annotations

import itertools
import logging
import threading
import time
from collections import deque
from collections.abc import Callable, Sequence
from typing import TYPE_CHECKING, Any

import pykka

from supervision._actor import SupervisedActor
from supervision._errors import SupervisionError
from supervision._messages import (
    ChildExited,
    ChildStarted,
    Operation,
    Request,
    TimerExpired,
    Wait,
    WaitExited,
    WaitStarted,
    tell_if_alive,
)
from supervision._operations import EXITED, RUNNING, STOPPED, STOPPING, Child, Operations
from supervision._policy import Strategy
from supervision._signals import SHUTDOWN, ExitReason
from supervision._spec import ChildSpec, SupervisorStatistics, check_intensity

if TYPE_CHECKING:
    from types import TracebackType

__all__ = ["SupervisorActor"]

logger = logging.getLogger("supervision")

_timer_tokens = itertools.count(1)


class SupervisorActor(SupervisedActor, Operations):
    """A static (``dynamic=False``) or dynamic supervisor; use it through ``Supervisor``."""

    _sv_manual_start = True

    def __init__(
        self,
        children: Sequence[ChildSpec] = (),
        strategy: Strategy = "one_for_one",
        intensity: int = 1,
        period: float = 5.0,
        *,
        dynamic: bool = False,
        max_children: int | None = None,
        clock: Callable[[], float] = time.monotonic,
    ) -> None:
        check_intensity(strategy, intensity, period)
        specs = list(children)
        for spec in specs:
            if not isinstance(spec, ChildSpec):
                raise TypeError(f"children must be ChildSpec objects, not {spec!r}")
        if len({spec.id for spec in specs}) != len(specs):
            raise ValueError("child ids must be unique")
        if dynamic and specs:
            raise ValueError("a dynamic supervisor starts with no children")
        if max_children is not None and (not isinstance(max_children, int) or max_children < 0):
            raise ValueError(f"max_children must be an int >= 0 or None, not {max_children!r}")
        super().__init__()
        self._strategy: Strategy = strategy
        self._intensity, self._period = intensity, float(period)
        self._dynamic, self._max_children, self._clock = dynamic, max_children, clock
        self._children = [Child(spec) for spec in specs]
        self._by_urn: dict[str, Child] = {}
        self._queue: deque[tuple[Operation, pykka.Future[Any] | None]] = deque()
        self._op: Operation | None = None
        self._op_reply: pykka.Future[Any] | None = None
        self._wait: Wait | None = None
        self._timer: threading.Timer | None = None
        self._timer_token = 0
        self._history: tuple[float, ...] = ()
        self._restarts = 0
        self._stopping = False
        self._escalated = False
        self._publish()

    def __repr__(self) -> str:
        kind = "dynamic" if self._dynamic else self._strategy
        return f"<SupervisorActor {kind} children={len(self._children)} {self._sv.state}>"

    # -- Pykka hooks ---------------------------------------------------------------------------

    def on_start(self) -> None:
        self._enqueue(self._op_start_initial(), None)

    def on_receive(self, message: Any) -> Any:
        if isinstance(message, ChildExited):
            self._on_exited(message.urn, message.reason)
        elif isinstance(message, ChildStarted):
            if self._wait == WaitStarted(message.urn):
                self._advance((message.ok, message.reason))
        elif isinstance(message, TimerExpired):
            self._on_timeout(message.token)
        elif isinstance(message, Request):
            self._on_request(message)
        self._pump()
        self._publish()

    def on_stop(self) -> None:
        self._abandon_all("stopped")

    def on_failure(
        self,
        exception_type: type[BaseException] | None,  # noqa: ARG002 - Pykka's hook signature
        exception_value: BaseException | None,  # noqa: ARG002
        traceback: TracebackType | None,  # noqa: ARG002
    ) -> None:
        self._abandon_all("crashed")

    def _sv_undelivered(self, message: Any) -> None:
        if isinstance(message, Request):
            _fail(
                message.reply,
                pykka.ActorDeadError(f"{self.actor_ref} stopped before {message.kind}"),
            )

    def _sv_request_stop(self, reason: ExitReason) -> None:
        if self._sv_reason is None:
            self._sv_reason = reason
        if self._stopping:
            return
        self._stopping = True
        self._fail_queued()
        self._queue.appendleft((self._op_shutdown(), None))
        self._pump()
        self._publish()

    # -- driving operations --------------------------------------------------------------------

    def _enqueue(self, op: Operation, reply: pykka.Future[Any] | None) -> None:
        self._queue.append((op, reply))
        self._pump()

    def _pump(self) -> None:
        while self._op is None and self._queue and not self.actor_stopped.is_set():
            self._op, self._op_reply = self._queue.popleft()
            self._advance(None)

    def _advance(self, value: Any) -> None:
        assert self._op is not None
        self._cancel_timer()
        try:
            wait = self._op.send(value)
        except StopIteration as done:
            reply, self._op, self._op_reply, self._wait = self._op_reply, None, None, None
            self._publish()  # statistics() is current once the requester has its answer
            if reply is not None:
                if isinstance(done.value, BaseException):
                    _fail(reply, done.value)
                else:
                    reply.set(done.value)
            return
        self._wait = wait
        if isinstance(wait, WaitExited):
            if not wait.urns:
                self._advance(set())
            elif wait.timeout is not None:
                self._timer_token = token = next(_timer_tokens)
                self._timer = threading.Timer(
                    wait.timeout, tell_if_alive, (self.actor_ref, TimerExpired(token))
                )
                self._timer.daemon = True
                self._timer.start()

    def _cancel_timer(self) -> None:
        if self._timer is not None:
            self._timer.cancel()
            self._timer.join()  # returns at once once cancelled; leaves no thread behind
            self._timer = None

    def _on_timeout(self, token: int) -> None:
        wait = self._wait
        if token != self._timer_token or not isinstance(wait, WaitExited):
            return
        for urn in wait.urns:
            child = self._by_urn.pop(urn)
            child.state, child.ref, child.lifecycle = STOPPED, None, None
            logger.warning(
                "event=child_abandoned supervisor=%s child=%s shutdown=%s",
                self.actor_ref,
                child.spec.id,
                child.spec.shutdown,
            )
        self._advance(set(wait.urns))

    def _on_exited(self, urn: str, reason: ExitReason) -> None:
        child = self._by_urn.pop(urn, None)
        if child is None:
            return  # an abandoned incarnation, or one that failed to start
        was, child.state, child.ref, child.lifecycle = child.state, STOPPED, None, None
        wait = self._wait
        if was == STOPPING and isinstance(wait, WaitExited) and urn in wait.urns:
            wait.urns.discard(urn)
            if not wait.urns:
                self._advance(set())
        elif was == RUNNING:
            child.state = EXITED
            crashed = isinstance(reason, BaseException)
            logger.log(
                logging.WARNING if crashed else logging.INFO,
                "event=child_exited supervisor=%s child=%s reason=%r",
                self.actor_ref,
                child.spec.id,
                reason,
            )
            if not self._stopping:
                self._enqueue(self._op_handle_exit(child, urn, reason), None)

    def _on_request(self, request: Request) -> None:
        kind, arg, reply = request
        if kind == "which_children":
            reply.set([self._info(child) for child in self._children])
            return
        if self._stopping:
            _fail(reply, SupervisionError("shutting_down"))
            return
        ops = {
            "start_child": self._op_start_child,
            "terminate_child": self._op_terminate_child,
            "restart_child": self._op_restart_child,
            "delete_child": self._op_delete_child,
        }
        self._enqueue(ops[kind](arg), reply)

    def _fail_queued(self) -> None:
        for op, reply in self._queue:
            op.close()
            if reply is not None:
                _fail(reply, SupervisionError("shutting_down"))
        self._queue.clear()

    def _abandon_all(self, why: str) -> None:
        """The supervisor is going away: fail every waiter, signal every child still alive."""
        self._cancel_timer()
        self._stopping = True
        self._fail_queued()
        if self._op_reply is not None:
            _fail(self._op_reply, SupervisionError("shutting_down"))
            self._op_reply = None
        for child in list(self._by_urn.values()):
            if child.lifecycle is not None:
                child.lifecycle.kill(SHUTDOWN)
        if self._by_urn:
            logger.warning(
                "event=children_left supervisor=%s why=%s count=%d",
                self.actor_ref,
                why,
                len(self._by_urn),
            )
        self._by_urn.clear()
        self._publish()

    def _publish(self) -> None:
        self._sv.published = SupervisorStatistics(
            strategy="one_for_one" if self._dynamic else self._strategy,
            intensity=self._intensity,
            period=self._period,
            dynamic=self._dynamic,
            children=len(self._children),
            active=len(self._by_urn),
            restarts=self._restarts,
            recent_restarts=len(self._history),
            escalated=self._escalated,
            max_children=self._max_children,
        )


def _fail(reply: pykka.Future[Any], error: BaseException) -> None:
    reply.set_exception((type(error), error, None))

"""``SupervisedActor``: a Pykka ``ThreadingActor`` whose death is always reported.

Pykka runs the actor loop and, when an actor dies, tells nobody; it also stops *every* actor in the
process when one raises ``SystemExit``. This class keeps Pykka's observable behaviour for
everything else (see ``tests/supervision/test_pykka_contract.py``) and runs its own loop so that:

- every way of dying (``stop()``, an exception from a ``tell``-ed message, a failure in
  ``on_start`` or ``on_stop``, ``SystemExit`` in a handler, an exit signal) ends in one place that
  records the exit reason and calls the :class:`~supervision._lifecycle.Lifecycle` listeners;
- exit signals (:class:`~supervision._lifecycle.Kill`) pass messages already queued;
- ``ref.stop()`` returns only once the actor is dead and its links and monitors were told.

Subclasses override ``on_start``, ``on_stop``, ``on_failure`` and ``on_receive`` freely; none of
them needs to call ``super()``.
"""

from __future__ import annotations

import logging
import threading
from typing import TYPE_CHECKING, Any, ClassVar

import pykka
from pykka.messages import _ActorStop

from supervision._lifecycle import Inbox, Kill, Lifecycle
from supervision._signals import NORMAL, ExitReason

if TYPE_CHECKING:
    from pykka._actor import ActorInbox

__all__ = ["SupervisedActor"]

logger = logging.getLogger("supervision")


class SupervisedActor(pykka.ThreadingActor):
    """A Pykka threading actor that links, monitors and supervisors can watch.

    Set ``trap_exits = True`` to receive :class:`~supervision.Exit` messages from linked actors
    instead of dying with them.
    """

    trap_exits: bool = False
    # A supervisor declares itself started only once its children are up.
    _sv_manual_start: ClassVar[bool] = False

    def __init__(self, *args: Any, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        self._sv_reason: ExitReason | None = None
        self._sv_stop_waiters: list[pykka.Future[Any]] = []
        self._sv = Lifecycle(self)
        # The ref is the one object every holder shares; it carries the lifecycle to them.
        self.actor_ref._sv_lifecycle = self._sv  # type: ignore[attr-defined]  # noqa: SLF001

    @staticmethod
    def _create_actor_inbox() -> ActorInbox:
        return Inbox()

    def __repr__(self) -> str:
        return f"<{type(self).__name__} {self.actor_urn[9:17]} {self._sv.state}>"

    # -- the loop ------------------------------------------------------------------------------

    def _start_actor_loop(self) -> None:
        self._sv.mark_live()
        super()._start_actor_loop()

    def _actor_loop(self) -> None:
        lifecycle = self._sv
        lifecycle.thread = threading.current_thread()
        try:
            try:
                self.on_start()
            except BaseException as exc:  # noqa: BLE001 - any failure in on_start is the exit reason
                self._sv_crash(exc, "on_start")
            else:
                if not self._sv_manual_start:
                    lifecycle.mark_running()
            self._sv_receive_loop()
            self._sv_drain()
        finally:
            reason = NORMAL if self._sv_reason is None else self._sv_reason
            lifecycle.mark_dead(_without_tracebacks(reason))
            for waiter in self._sv_stop_waiters:
                waiter.set(None)

    def _sv_receive_loop(self) -> None:
        inbox, stopped = self.actor_inbox, self.actor_stopped
        while not stopped.is_set():
            envelope = inbox.get()
            message = envelope.message
            if isinstance(message, Kill):
                self._sv_request_stop(message.reason)
                continue
            if isinstance(message, _ActorStop):
                if envelope.reply_to is not None:
                    self._sv_stop_waiters.append(envelope.reply_to)
                self._sv_request_stop(NORMAL)
                continue
            try:
                response = self._handle_receive(message)
            except Exception as exc:  # noqa: BLE001 - Pykka's rule: to the asker, or fatal
                if envelope.reply_to is not None:
                    envelope.reply_to.set_exception()
                else:
                    self._sv_crash(exc, "message")
                    self._sv_call_on_failure(exc)
            except BaseException as exc:  # noqa: BLE001 - SystemExit ends this actor, not all
                if envelope.reply_to is not None:
                    envelope.reply_to.set_exception(
                        (
                            pykka.ActorDeadError,
                            pykka.ActorDeadError(f"{self} exited: {exc!r}"),
                            None,
                        )
                    )
                self._sv_crash(exc, "message")
                self._sv_call_on_failure(exc)
            else:
                if envelope.reply_to is not None:
                    envelope.reply_to.set(response)

    def _sv_drain(self) -> None:
        inbox = self.actor_inbox
        while not inbox.empty():
            envelope = inbox.get()
            if envelope.reply_to is None:
                self._sv_undelivered(envelope.message)
                continue
            if isinstance(envelope.message, _ActorStop):
                self._sv_stop_waiters.append(envelope.reply_to)
            else:
                error = pykka.ActorDeadError(
                    f"{self.actor_ref} stopped before handling the message"
                )
                envelope.reply_to.set_exception((pykka.ActorDeadError, error, None))

    def _sv_undelivered(self, message: Any) -> None:
        """A told message that the actor died before handling; a hook for subclasses."""

    # -- stopping and crashing (the actor's own thread) ----------------------------------------

    def _sv_request_stop(self, reason: ExitReason) -> None:
        """A stop was asked for (``stop()`` or an exit signal). Supervisors defer it."""
        if self._sv_reason is None:
            self._sv_reason = reason
        self._sv_stop_now()

    def _sv_stop_now(self) -> None:
        pykka.ActorRegistry.unregister(self.actor_ref)
        self.actor_stopped.set()
        try:
            self.on_stop()
        except BaseException as exc:  # noqa: BLE001 - a failing on_stop becomes the exit reason
            self._sv_crash(exc, "on_stop")

    def _sv_crash(self, exc: BaseException, where: str) -> None:
        logger.error(
            "event=actor_crashed actor=%s where=%s reason=%r",
            self.actor_ref,
            where,
            exc,
            exc_info=exc,
        )
        if not isinstance(self._sv_reason, BaseException):
            self._sv_reason = exc
        pykka.ActorRegistry.unregister(self.actor_ref)
        self.actor_stopped.set()

    def _sv_call_on_failure(self, exc: BaseException) -> None:
        try:
            self.on_failure(type(exc), exc, exc.__traceback__)
        except BaseException as second:
            logger.error(  # noqa: TRY400 - the traceback is attached through exc_info
                "event=on_failure_failed actor=%s reason=%r",
                self.actor_ref,
                second,
                exc_info=second,
            )


def _without_tracebacks(reason: ExitReason) -> ExitReason:
    """``reason`` as links, monitors and supervisors keep it: an exception keeps its cause and
    context but drops the tracebacks (a crash is logged with its own as it happens). They hold
    the frames it was raised through, this actor's among them, which would keep the dead actor
    and all it holds in a cycle that only the cycle collector frees."""
    pending: list[BaseException | None] = [reason] if isinstance(reason, BaseException) else []
    seen: set[int] = set()
    while pending:
        error = pending.pop()
        if error is not None and id(error) not in seen:
            seen.add(id(error))
            error.__traceback__ = None
            pending += (error.__cause__, error.__context__)
    return reason

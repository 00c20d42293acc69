"""Waiting for outcomes: ``Reply`` (the internal one-shot slot), ``AsyncKey`` and ``Value``."""

from __future__ import annotations

import asyncio
import copy
import threading
from collections.abc import Callable, Generator
from dataclasses import dataclass
from typing import Any, Final

from genrpc_actors._errors import BadRpc

__all__ = ["AsyncKey", "Reply", "Value"]


class Reply:
    """A one-shot slot for an outcome, set by one thread and awaited by any number of others.

    It holds either a raw reply (``kind, flags, body`` as received, decoded by the waiter so that
    a body that cannot be unpickled fails only its own caller) or an error. A held lock is the
    cheapest thing a thread can block on; each waiter takes and gives it back in turn.

    A caller waiting for its own call (``wait_turn``) may also be woken without an outcome: the
    connection's reader hands it the reading (``wake``), see ``_connection``.
    """

    __slots__ = ("_callbacks", "_gate", "_open", "done", "error", "raw")

    def __init__(self) -> None:
        self._gate = threading.Lock()
        self._gate.acquire()
        self._open = False  # the gate has been released and not taken back
        self.done = False
        self.raw: tuple[int, int, Any] | None = None
        self.error: BaseException | None = None
        self._callbacks: list[Callable[[Reply], None]] | None = None

    def set_raw(self, kind: int, flags: int, body: Any) -> None:
        self._finish((kind, flags, body), None)

    def set_error(self, error: BaseException) -> None:
        self._finish(None, error)

    def _finish(self, raw: tuple[int, int, Any] | None, error: BaseException | None) -> None:
        with _LOCKS[id(self) % len(_LOCKS)]:
            if self.done:
                return
            self.raw, self.error, self.done = raw, error, True
            callbacks, self._callbacks = self._callbacks, None
            closed, self._open = not self._open, True
        if closed:
            self._gate.release()
        for callback in callbacks or ():
            callback(self)

    def wait(self, timeout: float | None) -> bool:
        """Wait until set; ``False`` on timeout. ``None`` waits without limit."""
        if self.done:
            return True
        if self._gate.acquire(timeout=-1 if timeout is None else max(timeout, 0.0)):
            self._gate.release()
            return True
        return self.done

    def ready(self) -> bool:
        """Whether the outcome is set (a call, so that no type checker takes it as constant)."""
        return self.done

    def wake(self) -> bool:
        """Wake the one ``wait_turn`` waiter without an outcome; False if already set or woken."""
        with _LOCKS[id(self) % len(_LOCKS)]:
            if self.done or self._open:
                return False
            self._open = True
        self._gate.release()
        return True

    def wait_turn(self, timeout: float | None) -> bool:
        """For the single waiter of a call: wait until set or woken; ``False`` on timeout."""
        if not self._gate.acquire(timeout=-1 if timeout is None else max(timeout, 0.0)):
            return False
        with _LOCKS[id(self) % len(_LOCKS)]:
            if self.done:
                release = True
            else:
                release, self._open = False, False  # woken: the gate is closed again, held here
        if release:
            self._gate.release()
        return True

    def add_callback(self, callback: Callable[[Reply], None]) -> None:
        """Call ``callback(self)`` once set (at once, in this thread, if it already is)."""
        with _LOCKS[id(self) % len(_LOCKS)]:
            if not self.done:
                if self._callbacks is None:
                    self._callbacks = []
                self._callbacks.append(callback)
                return
        callback(self)


# Setting a reply and adding a callback must not interleave. One lock for every reply would be
# shared by all connections' reader threads; a lock per reply would cost one more allocation per
# call. Striped locks: rarely shared, never allocated on the hot path.
_LOCKS: Final = tuple(threading.Lock() for _ in range(64))


@dataclass(frozen=True, slots=True)
class Value:
    """A result that is ready: gen_rpc's ``{value, V}``."""

    value: Any


class AsyncKey:
    """What ``async_call`` returns. ``yield_(key)`` or ``nb_yield(key, timeout)`` give its outcome,
    as often as asked (each time the same); ``await key`` works inside asyncio."""

    __slots__ = ("_outcome", "_reply", "_resolve", "target")

    def __init__(self, target: Any, reply: Reply, resolve: Callable[[Reply], Any]) -> None:
        self.target = target
        self._reply = reply
        self._resolve = resolve
        self._outcome: tuple[bool, Any] | None = None

    def __repr__(self) -> str:
        return f"<AsyncKey {self.target!r} {'ready' if self._reply.done else 'pending'}>"

    def ready(self) -> bool:
        """Whether the outcome has arrived."""
        return self._reply.done

    def wait(self, timeout: float | None) -> Value | None:
        """``Value(result)`` once ready within ``timeout``, else ``None``; raises as call would."""
        if not self._reply.wait(timeout):
            return None
        return Value(self.outcome())

    def get(self, timeout: float | None = None) -> Any:
        """The outcome, as Pykka's ``Future.get``: waiting up to ``timeout`` seconds (``None``:
        without limit), then ``BadRpc("timeout")`` if it has not come; raises as call would."""
        if not self._reply.wait(timeout):
            raise BadRpc("timeout", f"timeout: no outcome within {timeout:g} s")
        return self.outcome()

    def outcome(self) -> Any:
        if self._outcome is None:
            try:
                self._outcome = (True, self._resolve(self._reply))
            except BaseException as error:  # noqa: BLE001 - kept, and raised on every yield
                # kept without the traceback and the exception it was raised in: their frames
                # hold this key, a cycle that only the cycle collector would free
                error.__traceback__ = error.__context__ = None
                self._outcome = (False, error)
        ok, result = self._outcome
        if ok:
            return result
        raise copy.copy(result)  # a copy per yield: the kept one would gather the tracebacks

    def __await__(self) -> Generator[Any, None, Any]:
        loop = asyncio.get_running_loop()
        future: asyncio.Future[None] = loop.create_future()

        def settle() -> None:
            if not future.done():
                future.set_result(None)

        def wake(_reply: Reply) -> None:
            loop.call_soon_threadsafe(settle)

        self._reply.add_callback(wake)
        yield from future.__await__()
        return self.outcome()

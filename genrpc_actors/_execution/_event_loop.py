"""The node's event loop: where requests whose function returned an awaitable are awaited.

One loop per node, in a thread of its own, started when the first awaitable arrives and stopped
with the node. Many requests share it: 10,000 sleeping coroutines cost no thread each. A request
awaited here is a ``LoopTask``: ``cancel()`` (from any thread) cancels its coroutine, which sees
``CancelledError`` and runs its ``finally``; the outcome goes to ``done`` (in the loop's thread,
which must not block) unless it was cancelled. ``task()`` makes the handle before ``start`` so
that its owner can file it before the awaitable can end.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import threading
from collections.abc import Awaitable, Callable
from typing import Any

__all__ = ["EventLoop", "LoopTask", "close_awaitable"]

logger = logging.getLogger("genrpc_actors")

Done = Callable[[bool, Any], None]  # (ok, result or exception)
STOP_TIMEOUT = 5.0  # seconds the loop's requests get to end when the node stops


class LoopTask:
    """One awaitable being awaited on the node's loop; ``cancel()`` from any thread."""

    __slots__ = ("_loop", "_task", "cancelled")

    def __init__(self, loop: asyncio.AbstractEventLoop) -> None:
        self._loop = loop
        self._task: asyncio.Future[Any] | None = None
        self.cancelled = False

    def cancel(self) -> None:
        self.cancelled = True
        with contextlib.suppress(RuntimeError):  # the loop has closed: nothing runs any more
            self._loop.call_soon_threadsafe(self._cancel)

    def _cancel(self) -> None:
        if self._task is not None:
            self._task.cancel()


class EventLoop:
    """A node's event loop thread (``name`` names the thread), started by the first ``run``."""

    def __init__(self, name: str) -> None:
        self._name = name
        self._lock = threading.Lock()
        self._loop: asyncio.AbstractEventLoop | None = None
        self._thread: threading.Thread | None = None
        self._stopped = False
        self.running = 0  # awaitables being awaited now
        self.finished = 0

    def __repr__(self) -> str:
        state = "stopped" if self._stopped else "running" if self._loop else "not started"
        return f"<EventLoop {self._name} {state} running={self.running}>"

    def task(self) -> LoopTask | None:
        """A handle for an awaitable to ``start``; ``None`` when the loop has stopped (the node
        stops)."""
        loop = self._loop or self._start()
        return None if loop is None else LoopTask(loop)

    def start(self, handle: LoopTask, awaitable: Awaitable[Any], done: Done) -> bool:
        """Await ``awaitable`` on the loop; ``done(ok, value)`` gets its outcome. ``False`` when
        the loop has closed meanwhile: the awaitable is closed, never run."""
        try:
            handle._loop.call_soon_threadsafe(self._begin, awaitable, done, handle)  # noqa: SLF001
        except RuntimeError:
            close_awaitable(awaitable)
            return False
        return True

    def stop(self, timeout: float = STOP_TIMEOUT) -> None:
        """Cancel what is still awaited, end the loop and join its thread."""
        with self._lock:
            self._stopped = True
            loop, thread = self._loop, self._thread
        if loop is None or thread is None:
            return
        with contextlib.suppress(RuntimeError):
            loop.call_soon_threadsafe(loop.stop)
        if thread is not threading.current_thread():
            thread.join(timeout)

    def _start(self) -> asyncio.AbstractEventLoop | None:
        with self._lock:
            if self._stopped:
                return None
            if self._loop is None:
                ready = threading.Event()
                self._thread = threading.Thread(
                    target=self._serve, args=(ready,), name=f"genrpc-loop-{self._name}", daemon=True
                )
                self._thread.start()
                ready.wait()
            return self._loop

    def _serve(self, ready: threading.Event) -> None:
        loop = asyncio.new_event_loop()
        self._loop = loop
        ready.set()
        try:
            loop.run_forever()
            tasks = asyncio.all_tasks(loop)
            for task in tasks:
                task.cancel()
            if tasks:
                loop.run_until_complete(asyncio.wait(tasks, timeout=STOP_TIMEOUT))
            loop.run_until_complete(loop.shutdown_asyncgens())
        finally:
            loop.close()

    def _begin(self, awaitable: Awaitable[Any], done: Done, handle: LoopTask) -> None:
        if handle.cancelled:
            close_awaitable(awaitable)
            return
        try:
            task = asyncio.ensure_future(awaitable)
        except TypeError as exc:  # an object with an __await__ that is not a proper awaitable
            done(False, exc)
            return
        handle._task = task  # noqa: SLF001 - the handle belongs to this loop
        self.running += 1
        task.add_done_callback(lambda finished: self._end(finished, done))

    def _end(self, task: asyncio.Future[Any], done: Done) -> None:
        self.running -= 1
        self.finished += 1
        if task.cancelled():
            return  # its caller stopped waiting, or the node stops: no reply
        exc = task.exception()
        try:
            if exc is not None:
                done(False, exc)
            else:
                done(True, task.result())
        except Exception:
            logger.exception("event=loop_reply_failed loop=%s", self._name)


def close_awaitable(awaitable: Awaitable[Any]) -> None:
    """A coroutine that will never run: closed, so that it is not reported as never awaited."""
    close = getattr(awaitable, "close", None)
    if callable(close):
        with contextlib.suppress(Exception):
            close()

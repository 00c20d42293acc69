"""One timer thread per node for every deadline it keeps (inactivity, async-call expiry)."""

from __future__ import annotations

import heapq
import itertools
import logging
import threading
import time
from collections.abc import Callable

__all__ = ["Scheduler", "Timer"]

logger = logging.getLogger("genrpc_actors")


class Timer:
    """A scheduled call; ``cancel()`` it if it is no longer wanted."""

    __slots__ = ("callback", "cancelled", "deadline")

    def __init__(self, deadline: float, callback: Callable[[], None]) -> None:
        self.deadline, self.callback, self.cancelled = deadline, callback, False

    def cancel(self) -> None:
        self.cancelled = True


class Scheduler:
    """Runs callbacks at deadlines, in one thread; callbacks must be short and must not block."""

    def __init__(self, name: str, clock: Callable[[], float] = time.monotonic) -> None:
        """``clock`` gives the time that deadlines are in; a clock that jumps (a test's fake
        one) and has a ``subscribe(listener)`` method has it call ``poke`` when it moves."""
        self._clock = clock
        self._heap: list[tuple[float, int, Timer]] = []
        self._order = itertools.count()
        self._wake = threading.Condition()
        self._stopped = False
        self._thread = threading.Thread(target=self._run, name=f"genrpc-timers-{name}", daemon=True)
        self._thread.start()
        subscribe = getattr(clock, "subscribe", None)
        if callable(subscribe):
            subscribe(self.poke)

    def __repr__(self) -> str:
        state = "stopped" if self._stopped else "running"
        return f"<Scheduler {self._thread.name} {state} timers={len(self._heap)}>"

    def poke(self) -> None:
        """Look at the clock again now: the clock has moved by other means than time."""
        with self._wake:
            self._wake.notify()

    def call_later(self, delay: float, callback: Callable[[], None]) -> Timer:
        timer = Timer(self._clock() + delay, callback)
        with self._wake:
            heapq.heappush(self._heap, (timer.deadline, next(self._order), timer))
            if self._heap[0][2] is timer:
                self._wake.notify()
        return timer

    def stop(self) -> None:
        with self._wake:
            self._stopped = True
            self._wake.notify()
        if self._thread is not threading.current_thread():
            self._thread.join()

    def _run(self) -> None:
        while True:
            with self._wake:
                while not self._stopped and (not self._heap or self._heap[0][0] > self._clock()):
                    delay = self._heap[0][0] - self._clock() if self._heap else None
                    self._wake.wait(delay)
                if self._stopped:
                    return
                _, _, timer = heapq.heappop(self._heap)
            if not timer.cancelled:
                try:
                    timer.callback()
                except Exception:
                    logger.exception("event=timer_failed callback=%r", timer.callback)

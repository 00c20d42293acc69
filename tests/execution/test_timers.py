"""The node's timers on a fake clock: nothing runs before its deadline, everything after."""

from __future__ import annotations

import threading
from collections.abc import Iterator

import pytest

from genrpc_actors._execution._timers import Scheduler
from genrpc_actors.testing import FakeClock
from tests.waiting import WAIT


@pytest.fixture
def clock() -> FakeClock:
    return FakeClock(100.0)


@pytest.fixture
def timers(clock) -> Iterator[Scheduler]:
    scheduler = Scheduler("test", clock)
    yield scheduler
    scheduler.stop()


def test_a_timer_runs_when_the_clock_passes_its_deadline_not_before(clock, timers):
    fired = threading.Event()
    timers.call_later(5.0, fired.set)
    assert not fired.wait(0.1)
    clock.advance(4.9)
    assert not fired.wait(0.1)
    clock.advance(0.1)
    assert fired.wait(WAIT)


def test_timers_run_in_deadline_order_and_a_cancelled_one_never(clock, timers):
    ran: list[str] = []
    done = threading.Event()
    timers.call_later(3.0, lambda: ran.append("3"))
    cancelled = timers.call_later(2.0, lambda: ran.append("2"))
    timers.call_later(1.0, lambda: ran.append("1"))
    timers.call_later(4.0, done.set)
    cancelled.cancel()
    clock.advance(10.0)
    assert done.wait(WAIT)
    assert ran == ["1", "3"]


def test_a_failing_callback_does_not_stop_the_timers(clock, timers, caplog):
    fired = threading.Event()
    timers.call_later(1.0, lambda: 1 / 0)
    timers.call_later(2.0, fired.set)
    clock.advance(2.0)
    assert fired.wait(WAIT)
    assert "event=timer_failed" in caplog.text


def test_the_clock_does_not_go_back(clock):
    with pytest.raises(ValueError, match="does not go back"):
        clock.advance(-1)

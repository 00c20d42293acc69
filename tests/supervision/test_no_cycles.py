"""An actor that dies is freed at once: nothing of it waits for the cycle collector.

An exit reason is kept (by the lifecycle, for links, monitors and supervisors); an exception's
traceback holds the frames it was raised through, the dead actor's among them, which would keep
the actor and all it holds in a cycle. With the collector off (``tests/garbage.py``), actors crash
and stop, alone and under a supervisor; nothing of ours may be left that only it would free.
"""

from __future__ import annotations

import logging
from typing import Any

import pytest

import supervision as sv
from supervision._lifecycle import lifecycle_of
from tests.garbage import cycle_collector_off, left_for_the_cycle_collector
from tests.waiting import WAIT


class Crashing(sv.SupervisedActor):
    """Holds a large buffer, and fails on any message with an error raised from another."""

    def __init__(self) -> None:
        super().__init__()
        self.buffer = bytearray(1024 * 1024)

    def on_receive(self, message: Any) -> Any:
        try:
            raise KeyError(message)
        except KeyError as exc:
            raise ValueError("crashed") from exc


def actors_that_crash() -> None:
    ref = Crashing.start()
    ref.tell("boom")
    lifecycle = lifecycle_of(ref)
    assert lifecycle.wait_dead(WAIT)
    reason = lifecycle.reason
    assert isinstance(reason, ValueError)
    assert isinstance(reason.__cause__, KeyError)  # the reason keeps what it was raised from
    tree = sv.Supervisor(
        sv.Supervisor.start(
            [sv.ChildSpec("crashing", Crashing, restart="temporary")], "one_for_one", 10, 1.0
        )
    )
    tree.wait_started()
    child = tree.child("crashing")
    assert child is not None
    child.tell("boom")
    assert lifecycle_of(child).wait_dead(WAIT)
    stopped = Crashing.start()
    stopped.stop()
    tree.stop()


def test_actors_that_crash_or_stop_leave_nothing_to_the_cycle_collector(
    caplog: pytest.LogCaptureFixture,
):
    # the crash is logged with its traceback, and a captured record would keep the frames
    caplog.set_level(logging.CRITICAL, logger="supervision")
    with cycle_collector_off():
        actors_that_crash()
        assert left_for_the_cycle_collector() == []

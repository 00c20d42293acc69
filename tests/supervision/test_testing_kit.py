"""supervision.testing: the fake clock and the tree teardown."""

from __future__ import annotations

import pytest

import supervision as sv
from supervision._lifecycle import lifecycle_of
from supervision.testing import FakeClock, stop_actors
from tests.actors import Worker


def test_fake_clock_moves_only_when_told():
    clock = FakeClock(10.0)
    assert clock() == 10.0
    clock.advance(2.5)
    assert clock() == 12.5
    with pytest.raises(ValueError):
        clock.advance(-1)
    assert repr(clock) == "<FakeClock now=12.5>"


def test_stop_actors_stops_trees_from_the_root_without_restarts():
    inner = sv.ChildSpec(
        "inner", sv.Supervisor, kwargs={"children": [sv.ChildSpec("w", Worker)]}, shutdown=None
    )
    sup = sv.start_supervisor([inner, sv.ChildSpec("x", Worker)])
    inner_ref = sup.child("inner")
    worker = sv.handle(inner_ref).child("w")
    everything = [lifecycle_of(r) for r in (worker, inner_ref, sup.child("x"), sup.ref)]
    names = stop_actors(everything)
    assert len(names) == 4
    assert all(lc.dead.is_set() for lc in everything)
    assert sup.statistics().restarts == 0


def test_the_fixture_tears_down_what_the_test_left(supervision_trees):
    sv.start_supervisor([sv.ChildSpec("left", Worker)])
    Worker.start("loose")

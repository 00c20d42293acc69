"""The restart decision as pure functions: exhaustive cases and property tests against a model."""

from __future__ import annotations

import itertools

import pytest
from hypothesis import given
from hypothesis import strategies as st

from supervision import NORMAL, SHUTDOWN
from supervision._policy import (
    RESTART_TYPES,
    STRATEGIES,
    ChildState,
    Decision,
    add_restart,
    decide,
    should_restart,
)

CRASH = RuntimeError("crash")


def kids(*spec: str) -> list[ChildState]:
    """``kids("a:permanent", "b:temporary:stopped")`` -> child states, running unless said."""
    result = []
    for item in spec:
        parts = item.split(":")
        restart = parts[1] if len(parts) > 1 else "permanent"
        result.append(ChildState(parts[0], restart, running=not parts[2:]))  # type: ignore[arg-type]
    return result


@pytest.mark.parametrize(
    ("restart", "reason", "expected"),
    [
        ("permanent", NORMAL, True),
        ("permanent", SHUTDOWN, True),
        ("permanent", CRASH, True),
        ("transient", NORMAL, False),
        ("transient", SHUTDOWN, False),
        ("transient", CRASH, True),
        ("transient", SystemExit(0), True),
        ("temporary", NORMAL, False),
        ("temporary", SHUTDOWN, False),
        ("temporary", CRASH, False),
    ],
)
def test_should_restart_follows_the_restart_type(restart, reason, expected):
    assert should_restart(restart, reason) is expected


def test_one_for_one_restarts_only_the_failed_child():
    decision = decide(
        "one_for_one", kids("a", "b:permanent:stopped", "c"), "b", CRASH, (), 10.0, 3, 5.0
    )
    assert decision == Decision(start=("b",), history=(10.0,))


def test_one_for_all_stops_the_others_in_reverse_and_starts_all_in_order():
    children = kids("a", "b", "c:temporary", "d:permanent:stopped", "e:transient")
    decision = decide("one_for_all", children, "b", CRASH, (), 1.0, 3, 5.0)
    assert decision.stop == ("e", "c", "a")
    assert decision.forget == ("c",)
    assert decision.start == ("a", "b", "d", "e")
    assert not decision.escalate


def test_rest_for_one_touches_only_the_children_started_after():
    children = kids("a", "b", "c:temporary", "d")
    decision = decide("rest_for_one", children, "b", CRASH, (), 1.0, 3, 5.0)
    assert decision.stop == ("d", "c")
    assert decision.forget == ("c",)
    assert decision.start == ("b", "d")


def test_rest_for_one_on_the_last_child_is_one_for_one():
    decision = decide("rest_for_one", kids("a", "b"), "b", CRASH, (), 1.0, 3, 5.0)
    assert (decision.stop, decision.start) == ((), ("b",))


@pytest.mark.parametrize("strategy", STRATEGIES)
def test_a_temporary_child_is_forgotten_and_nothing_else_happens(strategy):
    decision = decide(strategy, kids("a", "b:temporary", "c"), "b", CRASH, (7.0,), 8.0, 3, 5.0)
    assert decision == Decision(forget=("b",), history=(7.0,))


@pytest.mark.parametrize("strategy", STRATEGIES)
@pytest.mark.parametrize("reason", [NORMAL, SHUTDOWN])
def test_a_transient_child_that_ends_cleanly_is_kept_but_not_restarted(strategy, reason):
    decision = decide(strategy, kids("a", "b:transient", "c"), "b", reason, (), 8.0, 3, 5.0)
    assert decision == Decision(history=())


def test_intensity_zero_escalates_on_the_first_restart():
    decision = decide("one_for_one", kids("a"), "a", CRASH, (), 0.0, 0, 5.0)
    assert decision.escalate
    assert decision.start == decision.stop == ()


def test_the_window_forgets_restarts_older_than_the_period():
    history, exceeded = add_restart((0.0, 1.0, 2.0), 5.5, 2, 5.0)
    assert history == (1.0, 2.0, 5.5)
    assert exceeded
    history, exceeded = add_restart((0.0, 1.0, 1.5), 6.0, 2, 5.0)
    assert history == (1.5, 6.0)  # a restart exactly `period` old (1.0) has left the window
    assert not exceeded


def test_an_unknown_failed_child_is_a_programming_error():
    with pytest.raises(ValueError, match="no child 'x'"):
        decide("one_for_one", kids("a"), "x", CRASH, (), 0.0, 1, 1.0)


# -- properties against a simple model ------------------------------------------------------------


@given(
    intensity=st.integers(0, 5),
    period=st.floats(0.5, 20.0),
    gaps=st.lists(st.floats(0.0, 10.0), min_size=1, max_size=30),
)
def test_intensity_window_matches_a_model_that_keeps_every_restart(intensity, period, gaps):
    times = list(itertools.accumulate(gaps))
    history: tuple[float, ...] = ()
    everything: list[float] = []
    for now in times:
        history, exceeded = add_restart(history, now, intensity, period)
        everything.append(now)
        in_window = [t for t in everything if now - t < period]
        assert exceeded == (len(in_window) > intensity)
        assert list(history) == in_window
        if exceeded:
            break


children_lists = st.lists(
    st.tuples(st.sampled_from(RESTART_TYPES), st.booleans()), min_size=1, max_size=7
).map(lambda items: [ChildState(f"c{i}", r, running) for i, (r, running) in enumerate(items)])


@given(
    strategy=st.sampled_from(STRATEGIES),
    children=children_lists,
    pick=st.integers(0, 100),
    reason=st.sampled_from([NORMAL, SHUTDOWN, CRASH]),
    intensity=st.integers(0, 3),
    prior=st.integers(0, 4),
)
def test_strategies_match_a_model(strategy, children, pick, reason, intensity, prior):
    failed = children[pick % len(children)]
    children[pick % len(children)] = ChildState(failed.id, failed.restart, running=False)
    history = tuple(float(i) for i in range(prior))
    decision = decide(strategy, children, failed.id, reason, history, 10.0, intensity, 100.0)

    restarted = failed.restart == "permanent" or (
        failed.restart == "transient" and reason is not NORMAL and reason is not SHUTDOWN
    )
    if not restarted:
        assert not decision.escalate
        assert decision.start == decision.stop == ()
        assert decision.forget == ((failed.id,) if failed.restart == "temporary" else ())
        assert decision.history == history
        return
    if prior + 1 > intensity:
        assert decision.escalate
        assert decision.start == decision.stop == decision.forget == ()
        return
    index = children.index(next(c for c in children if c.id == failed.id))
    if strategy == "one_for_one":
        affected: list[ChildState] = []
    elif strategy == "one_for_all":
        affected = children[:index] + children[index + 1 :]
    else:
        affected = children[index + 1 :]
    assert decision.stop == tuple(c.id for c in affected[::-1] if c.running)
    assert decision.forget == tuple(c.id for c in affected if c.restart == "temporary")
    kept = {c.id for c in affected if c.restart != "temporary"} | {failed.id}
    assert decision.start == tuple(c.id for c in children if c.id in kept)
    assert decision.history == (*history, 10.0)
    assert failed.id not in decision.stop
    assert not set(decision.forget) & set(decision.start)

"""Static supervisors: strategies, restart types, intensity and escalation, the child API."""

from __future__ import annotations

import logging
import queue
import threading
import time
from typing import Any

import pykka
import pytest

import supervision as sv
from supervision.testing import FakeClock
from tests.actors import FailingInit, FailingStart, Recorder, SlowStop, Worker
from tests.waiting import WAIT, wait_for


def watch(ref: pykka.ActorRef[Any]) -> queue.Queue[Any]:
    """Monitor ``ref`` from a fresh Recorder; the returned queue receives its ``Down``."""
    inbox: queue.Queue[Any] = queue.Queue()
    sv.monitor(Recorder.start(inbox), ref)
    return inbox


def reason_of(inbox: queue.Queue[Any]) -> Any:
    down = inbox.get(timeout=WAIT)
    assert isinstance(down, sv.Down)
    return down.reason


def specs(journal: list[str], *ids: str, **options: Any) -> list[sv.ChildSpec]:
    return [sv.ChildSpec(i, Worker, args=(i, journal), **options) for i in ids]


def new_ref(sup: sv.Supervisor, child_id: str, old: Any) -> Any:
    return wait_for(lambda: (r := sup.child(child_id)) is not None and r is not old and r)


def test_children_start_in_order_and_stop_in_reverse_order():
    journal: list[str] = []
    sup = sv.start_supervisor(specs(journal, "a", "b", "c"))
    assert journal == ["start a", "start b", "start c"]
    assert [info.id for info in sup.which_children()] == ["a", "b", "c"]
    sup.stop()
    assert journal[3:] == ["stop c", "stop b", "stop a"]
    assert not sup.is_alive()


def test_which_children_and_child_report_current_refs():
    journal: list[str] = []
    sup = sv.start_supervisor(
        [*specs(journal, "a"), sv.ChildSpec("t", Worker, restart="transient")]
    )
    infos = sup.which_children()
    assert [(i.id, i.restart) for i in infos] == [("a", "permanent"), ("t", "transient")]
    assert infos[0].ref is sup.child("a")
    assert sup.child("a").ask("ping", timeout=WAIT) == "ping"
    assert sup.child("nope") is None


def test_one_for_one_restarts_only_the_crashed_child():
    journal: list[str] = []
    sup = sv.start_supervisor(specs(journal, "a", "b", "c"), intensity=3)
    a, b, c = (sup.child(i) for i in "abc")
    b.tell("crash")
    new_b = new_ref(sup, "b", b)
    assert new_b.ask("ping", timeout=WAIT) == "ping"
    assert sup.child("a") is a and sup.child("c") is c
    assert journal == ["start a", "start b", "start c", "start b"]
    assert sup.statistics().restarts == 1


def test_one_for_all_restarts_every_child_in_order_after_stopping_them_in_reverse():
    journal: list[str] = []
    sup = sv.start_supervisor(specs(journal, "a", "b", "c"), strategy="one_for_all", intensity=3)
    old = {i: sup.child(i) for i in "abc"}
    old["b"].tell("crash")
    for i in "abc":
        new_ref(sup, i, old[i])
    assert journal[3:] == ["stop c", "stop a", "start a", "start b", "start c"]


def test_rest_for_one_restarts_the_crashed_child_and_those_started_after_it():
    journal: list[str] = []
    sup = sv.start_supervisor(specs(journal, "a", "b", "c"), strategy="rest_for_one", intensity=3)
    old = {i: sup.child(i) for i in "abc"}
    old["b"].tell("crash")
    new_ref(sup, "b", old["b"])
    new_ref(sup, "c", old["c"])
    assert sup.child("a") is old["a"]
    assert journal[3:] == ["stop c", "start b", "start c"]


def test_a_transient_child_is_restarted_after_a_crash_but_not_after_a_normal_stop():
    journal: list[str] = []
    sup = sv.start_supervisor(specs(journal, "t", restart="transient"), intensity=3)
    first = sup.child("t")
    first.tell("crash")
    second = new_ref(sup, "t", first)
    second.stop()
    wait_for(lambda: sup.child("t") is None)
    assert [i.id for i in sup.which_children()] == ["t"]  # the spec stays
    assert sup.statistics().restarts == 1


def test_a_permanent_child_is_restarted_even_after_a_normal_stop():
    sup = sv.start_supervisor([sv.ChildSpec("p", Worker)], intensity=3)
    first = sup.child("p")
    first.stop()
    new_ref(sup, "p", first)


def test_a_temporary_child_is_never_restarted_and_its_spec_is_forgotten():
    sup = sv.start_supervisor(
        [sv.ChildSpec("tmp", Worker, restart="temporary"), sv.ChildSpec("p", Worker)]
    )
    sup.child("tmp").tell("crash")
    wait_for(lambda: [i.id for i in sup.which_children()] == ["p"])
    assert sup.statistics().restarts == 0


def test_system_exit_in_a_child_kills_only_that_child():
    sup = sv.start_supervisor([sv.ChildSpec("a", Worker), sv.ChildSpec("b", Worker)], intensity=3)
    a, b = sup.child("a"), sup.child("b")
    exits = watch(a)
    a.tell("exit")
    assert isinstance(reason_of(exits), SystemExit)
    new_ref(sup, "a", a)
    assert sup.child("b") is b and b.is_alive()


def test_an_exception_returned_to_an_asker_is_not_a_crash():
    sup = sv.start_supervisor([sv.ChildSpec("a", Worker)])
    a = sup.child("a")
    with pytest.raises(RuntimeError, match="crashed"):
        a.ask("crash", timeout=WAIT)
    assert sup.child("a") is a
    assert sup.statistics().restarts == 0


def test_children_stopped_by_their_supervisor_exit_with_shutdown():
    sup = sv.start_supervisor([sv.ChildSpec("a", Worker)])
    exits = watch(sup.child("a"))
    sup_exits = watch(sup.ref)
    sup.stop()
    assert reason_of(exits) is sv.SHUTDOWN
    assert reason_of(sup_exits) is sv.NORMAL


def test_more_restarts_than_intensity_stops_everything_and_exits_with_shutdown():
    journal: list[str] = []
    sup = sv.start_supervisor(specs(journal, "a", "b"), intensity=2, period=60.0)
    sup_exits = watch(sup.ref)
    a = sup.child("a")
    for _ in range(2):
        a.tell("crash")
        a = new_ref(sup, "a", a)
    a.tell("crash")  # the third restart within the period is one too many
    assert reason_of(sup_exits) is sv.SHUTDOWN
    assert sup.statistics().escalated
    assert sup.statistics().restarts == 2
    assert journal[-1] == "stop b"
    assert not sup.is_alive()


def test_restarts_spread_beyond_the_period_do_not_add_up():
    clock = FakeClock()
    sup = sv.start_supervisor([sv.ChildSpec("a", Worker)], intensity=1, period=5.0, clock=clock)
    for _ in range(4):
        a = sup.child("a")
        a.tell("crash")
        new_ref(sup, "a", a)
        clock.advance(5.0)
    assert sup.is_alive()
    assert sup.statistics().restarts == 4
    assert sup.statistics().recent_restarts == 1


def test_escalation_reaches_the_parent_which_restarts_the_nested_supervisor():
    inner_children = [sv.ChildSpec("w", Worker)]
    parent = sv.start_supervisor(
        [
            sv.ChildSpec("sibling", Worker),
            sv.ChildSpec(
                "inner",
                sv.Supervisor,
                kwargs={"children": inner_children, "intensity": 0},
                shutdown=None,
            ),
        ],
        intensity=5,
    )
    inner_ref = parent.child("inner")
    inner = sv.handle(inner_ref)
    assert isinstance(inner, sv.Supervisor) and not isinstance(inner, sv.DynamicSupervisor)
    sibling = parent.child("sibling")
    inner.child("w").tell("crash")  # intensity 0: the inner supervisor gives up at once
    new_inner = new_ref(parent, "inner", inner_ref)
    assert sv.handle(new_inner).child("w").ask("ping", timeout=WAIT) == "ping"
    assert parent.child("sibling") is sibling
    assert parent.statistics().restarts == 1


def test_a_child_failing_in_on_start_makes_start_supervisor_raise_and_stops_the_others():
    journal: list[str] = []
    with pytest.raises(sv.StartError) as caught:
        sv.start_supervisor([*specs(journal, "a", "b"), sv.ChildSpec("bad", FailingStart)])
    assert caught.value.child_id == "bad"
    assert isinstance(caught.value.__cause__, ValueError)
    assert journal == ["start a", "start b", "stop b", "stop a"]


def test_a_child_failing_in_init_makes_start_supervisor_raise():
    with pytest.raises(sv.StartError) as caught:
        sv.start_supervisor([sv.ChildSpec("bad", FailingInit)])
    assert isinstance(caught.value.__cause__, KeyError)


def test_a_nested_start_failure_chains_start_errors():
    nested = sv.ChildSpec(
        "inner", sv.Supervisor, kwargs={"children": [sv.ChildSpec("bad", FailingStart)]}
    )
    with pytest.raises(sv.StartError) as caught:
        sv.start_supervisor([nested])
    assert caught.value.child_id == "inner"
    inner_error = caught.value.__cause__
    assert isinstance(inner_error, sv.StartError) and inner_error.child_id == "bad"
    assert isinstance(inner_error.__cause__, ValueError)


def test_a_child_that_keeps_failing_to_restart_ends_in_escalation_not_a_loop():
    attempts: list[int] = []

    class Flaky(sv.SupervisedActor):
        def on_start(self) -> None:
            attempts.append(1)
            if len(attempts) > 1:
                raise OSError("port in use")

    sup = sv.start_supervisor([sv.ChildSpec("f", Flaky)], intensity=3, period=60.0)
    sup_exits = watch(sup.ref)
    sup.child("f").stop()  # a permanent child is restarted even after a normal exit
    assert reason_of(sup_exits) is sv.SHUTDOWN
    assert len(attempts) == 1 + 3  # the first start, then three failed restarts


def test_start_child_adds_and_starts_and_refuses_duplicates():
    sup = sv.start_supervisor([])
    ref = sup.start_child(sv.ChildSpec("x", Worker))
    assert sup.child("x") is ref and ref.is_alive()
    with pytest.raises(sv.SupervisionError) as caught:
        sup.start_child(sv.ChildSpec("x", Worker))
    assert caught.value.reason == "already_present"
    with pytest.raises(sv.StartError):
        sup.start_child(sv.ChildSpec("bad", FailingStart))
    assert [i.id for i in sup.which_children()] == ["x"]
    with pytest.raises(TypeError):
        sup.start_child("x")  # type: ignore[arg-type]


def test_terminate_restart_and_delete_child():
    journal: list[str] = []
    sup = sv.start_supervisor(specs(journal, "a", "b"))
    exits = watch(sup.child("a"))
    sup.terminate_child("a")
    assert reason_of(exits) is sv.SHUTDOWN
    assert sup.child("a") is None
    assert [i.id for i in sup.which_children()] == ["a", "b"]
    with pytest.raises(sv.SupervisionError) as caught:
        sup.delete_child("b")
    assert caught.value.reason == "running"
    with pytest.raises(sv.SupervisionError) as caught:
        sup.restart_child("b")
    assert caught.value.reason == "running"
    ref = sup.restart_child("a")
    assert sup.child("a") is ref
    sup.terminate_child("a")
    sup.delete_child("a")
    assert [i.id for i in sup.which_children()] == ["b"]
    for request in (sup.terminate_child, sup.restart_child, sup.delete_child):
        with pytest.raises(sv.SupervisionError) as caught:
            request("zzz")
        assert caught.value.reason == "not_found"
    assert sup.statistics().restarts == 0


def test_a_child_that_outlives_its_shutdown_time_is_abandoned_and_logged(caplog):
    release = threading.Event()
    sup = sv.start_supervisor([sv.ChildSpec("slow", SlowStop, args=(release,), shutdown=0.1)])
    slow = sup.child("slow")
    started = time.monotonic()
    with caplog.at_level(logging.WARNING, logger="supervision"):
        sup.stop()
    assert time.monotonic() - started < 3.0
    assert "event=child_abandoned" in caplog.text
    assert not sup.is_alive()
    release.set()
    wait_for(lambda: sv._lifecycle.lifecycle_of(slow).wait_dead(WAIT))


def test_the_supervisor_answers_queries_while_a_child_takes_its_time_to_stop():
    release = threading.Event()
    sup = sv.start_supervisor(
        [sv.ChildSpec("a", Worker), sv.ChildSpec("slow", SlowStop, args=(release,), shutdown=None)]
    )
    stopping = threading.Thread(target=sup.terminate_child, args=("slow",))
    stopping.start()
    wait_for(lambda: sup.statistics().active == 2 and sup.child("slow") is None)
    assert sup.child("a").ask("ping", timeout=WAIT) == "ping"
    assert [i.id for i in sup.which_children(timeout=WAIT)] == ["a", "slow"]
    release.set()
    stopping.join(WAIT)
    assert not stopping.is_alive()
    assert sup.statistics().active == 1


def test_a_supervisor_killed_through_a_link_stops_its_children_first():
    journal: list[str] = []
    sup = sv.start_supervisor(specs(journal, "a", "b"))
    partner = Worker.start("partner")
    sv.link(partner, sup.ref)
    sup_exits = watch(sup.ref)
    partner.tell("crash")
    reason = reason_of(sup_exits)
    assert isinstance(reason, RuntimeError)
    assert journal[-2:] == ["stop b", "stop a"]


def test_requests_to_a_stopped_supervisor_raise_actor_dead_error():
    sup = sv.start_supervisor([])
    sup.stop()
    with pytest.raises(pykka.ActorDeadError):
        sup.which_children()
    with pytest.raises(pykka.ActorDeadError):
        sup.start_child(sv.ChildSpec("x", Worker))


def test_handle_context_manager_and_repr():
    with sv.start_supervisor([sv.ChildSpec("a", Worker)], strategy="rest_for_one") as sup:
        assert repr(sup) == "<Supervisor rest_for_one children=1 active=1 restarts=0 running>"
        assert sv.handle(sup.ref) == sup
    assert repr(sup) == "<Supervisor rest_for_one children=1 active=0 restarts=0 dead>"


def test_statistics_is_a_frozen_snapshot():
    sup = sv.start_supervisor([sv.ChildSpec("a", Worker)], intensity=4, period=2.0)
    stats = sup.statistics()
    assert stats == sv.SupervisorStatistics(
        strategy="one_for_one",
        intensity=4,
        period=2.0,
        dynamic=False,
        children=1,
        active=1,
        restarts=0,
        recent_restarts=0,
    )
    with pytest.raises(AttributeError):
        stats.restarts = 3  # type: ignore[misc]


@pytest.mark.parametrize(
    ("kwargs", "error"),
    [
        ({"strategy": "one_for_none"}, ValueError),
        ({"intensity": -1}, ValueError),
        ({"intensity": 1.5}, TypeError),
        ({"period": 0}, ValueError),
        ({"period": "5"}, TypeError),
    ],
)
def test_bad_supervisor_options_fail_fast(kwargs, error):
    with pytest.raises(error):
        sv.start_supervisor([], **kwargs)


def test_duplicate_child_ids_fail_fast():
    with pytest.raises(ValueError, match="unique"):
        sv.start_supervisor([sv.ChildSpec("a", Worker), sv.ChildSpec("a", Worker)])


@pytest.mark.parametrize(
    ("kwargs", "error"),
    [
        ({"id": "", "actor_class": Worker}, TypeError),
        ({"id": 3, "actor_class": Worker}, TypeError),
        ({"id": "a", "actor_class": object()}, TypeError),
        ({"id": "a", "actor_class": Worker, "restart": "sometimes"}, ValueError),
        ({"id": "a", "actor_class": Worker, "shutdown": -1}, ValueError),
        ({"id": "a", "actor_class": Worker, "shutdown": "5"}, TypeError),
        ({"id": "a", "actor_class": Worker, "args": "abc"}, TypeError),
        ({"id": "a", "actor_class": Worker, "kwargs": [1]}, TypeError),
    ],
)
def test_bad_child_specs_fail_fast(kwargs, error):
    with pytest.raises(error):
        sv.ChildSpec(**kwargs)


def test_a_child_class_that_is_not_supervised_cannot_be_started():
    class Plain(pykka.ThreadingActor):
        pass

    with pytest.raises(sv.StartError) as caught:
        sv.start_supervisor([sv.ChildSpec("plain", Plain)])
    assert isinstance(caught.value.__cause__, TypeError)

"""Dynamic supervisors (Elixir's ``DynamicSupervisor``, OTP's ``simple_one_for_one``): children
added at run time, each restarted alone by its own restart type, within an intensity limit."""

from __future__ import annotations

import itertools
import queue
import threading
from collections.abc import Callable
from typing import Any

import pykka
import pytest

import supervision as sv
from supervision._lifecycle import Lifecycle, live_lifecycles
from supervision._messages import Request
from supervision._supervisor import SupervisorActor
from supervision.testing import FakeClock
from tests.actors import FailingInit, FailingStart, Recorder, SlowStop, Worker, dead
from tests.waiting import WAIT, wait_for

from .link_actors import (
    GatedInit,
    PlainCollector,
    assert_alive,
    get,
    next_down,
    wait_dead,
    watch,
)


class FailsOnRestart(sv.SupervisedActor):
    """Starts once; every later start (a restart) fails in ``on_start``. Crashes on ``"crash"``."""

    def __init__(self, starts: itertools.count[int]) -> None:
        super().__init__()
        self.starts = starts

    def on_start(self) -> None:
        if next(self.starts) >= 1:
            raise ValueError("restart fails")

    def on_receive(self, message: Any) -> Any:
        if message == "crash":
            raise RuntimeError("crashed")
        return message


def worker_spec(restart: str = "temporary", name: str = "w") -> sv.ChildSpec:
    return sv.ChildSpec(name, Worker, args=(name,), restart=restart)  # type: ignore[arg-type]


def only_child(dyn: sv.DynamicSupervisor) -> pykka.ActorRef[Any] | None:
    """The ref of the dynamic supervisor's single child (``None`` while it is not running)."""
    infos = dyn.which_children()
    assert len(infos) == 1, infos
    return infos[0].ref


def wait_restarted(dyn: sv.DynamicSupervisor, old: pykka.ActorRef[Any]) -> pykka.ActorRef[Any]:
    """Wait until the single child runs again as a new actor; return its new ref."""

    def restarted() -> pykka.ActorRef[Any] | None:
        ref = only_child(dyn)
        return ref if ref is not None and ref != old else None

    new: pykka.ActorRef[Any] = wait_for(restarted)
    return new


def crash(ref: pykka.ActorRef[Any]) -> None:
    ref.tell("crash")


def system_exit(ref: pykka.ActorRef[Any]) -> None:
    ref.tell("exit")


def normal_stop(ref: pykka.ActorRef[Any]) -> None:
    ref.stop()


ABNORMAL = [crash, system_exit]
ANY_EXIT = [crash, system_exit, normal_stop]


# -- starting children -------------------------------------------------------------------------


def test_start_child_returns_a_running_ref() -> None:
    dyn = sv.start_dynamic_supervisor(intensity=3, period=5.0, max_children=None)

    ref = dyn.start_child(worker_spec())

    assert isinstance(ref, pykka.ActorRef)
    assert ref.is_alive()
    assert ref.ask("hello", timeout=WAIT) == "hello"
    assert dyn.which_children() == [sv.ChildInfo("w", ref, "temporary")]


def test_the_same_spec_can_be_started_many_times() -> None:
    dyn = sv.start_dynamic_supervisor()
    spec = worker_spec()

    refs = [dyn.start_child(spec) for _ in range(3)]

    assert len(set(refs)) == 3
    assert [info.ref for info in dyn.which_children()] == refs
    for ref in refs:
        assert_alive(ref)


def test_start_child_rejects_what_is_not_a_child_spec() -> None:
    dyn = sv.start_dynamic_supervisor()
    with pytest.raises(TypeError):
        dyn.start_child(Worker)  # type: ignore[arg-type]
    assert dyn.is_alive()


@pytest.mark.parametrize(
    ("actor_class", "error_type"),
    [(FailingStart, ValueError), (FailingInit, KeyError)],
    ids=["on_start", "__init__"],
)
def test_a_child_failing_to_start_raises_start_error_and_the_supervisor_lives_on(
    actor_class: type[sv.SupervisedActor], error_type: type[BaseException]
) -> None:
    dyn = sv.start_dynamic_supervisor()
    _, downs = watch(dyn.ref)

    with pytest.raises(sv.StartError) as caught:
        dyn.start_child(sv.ChildSpec("bad", actor_class, restart="permanent"))

    assert type(caught.value.__cause__) is error_type
    assert caught.value.child_id == "bad"
    assert dyn.is_alive()
    assert dyn.which_children() == []
    stats = dyn.statistics()
    assert (stats.children, stats.active, stats.restarts) == (0, 0, 0)
    assert_alive(dyn.start_child(worker_spec()))
    assert downs.empty()


def test_a_child_failing_in_init_leaves_no_live_actor_behind() -> None:
    """An actor whose ``__init__`` raised never runs; the tree fixture must not wait for it."""
    dyn = sv.start_dynamic_supervisor()
    with pytest.raises(sv.StartError):
        dyn.start_child(sv.ChildSpec("bad", FailingInit))
    assert live_of(FailingInit) == []


def test_a_child_class_that_is_not_supervised_is_refused_and_not_left_running() -> None:
    dyn = sv.start_dynamic_supervisor()
    spec = sv.ChildSpec("plain", PlainCollector, args=(queue.Queue(),))
    try:
        with pytest.raises(sv.StartError) as caught:
            dyn.start_child(spec)
        assert isinstance(caught.value.__cause__, TypeError)
        assert dyn.which_children() == []
        # The refused actor is stopped (asynchronously: its start() already returned a ref).
        wait_for(lambda: pykka.ActorRegistry.get_by_class(PlainCollector) == [])
    finally:
        for ref in pykka.ActorRegistry.get_by_class(PlainCollector):
            ref.stop(timeout=WAIT)


# -- restart types -----------------------------------------------------------------------------


@pytest.mark.parametrize("end", ANY_EXIT)
def test_a_temporary_child_is_never_restarted_and_is_forgotten(
    end: Callable[[pykka.ActorRef[Any]], None],
) -> None:
    dyn = sv.start_dynamic_supervisor()
    ref = dyn.start_child(worker_spec("temporary"))

    end(ref)

    wait_for(lambda: dyn.which_children() == [])
    wait_dead(ref)
    stats = dyn.statistics()
    assert (stats.children, stats.active, stats.restarts) == (0, 0, 0)
    assert dyn.is_alive()


@pytest.mark.parametrize("end", ANY_EXIT)
def test_a_permanent_child_is_restarted_as_a_new_actor(
    end: Callable[[pykka.ActorRef[Any]], None],
) -> None:
    dyn = sv.start_dynamic_supervisor()
    old = dyn.start_child(worker_spec("permanent"))

    end(old)

    new = wait_restarted(dyn, old)
    assert dead(old)
    assert_alive(new)
    assert dyn.which_children() == [sv.ChildInfo("w", new, "permanent")]
    assert dyn.statistics().restarts == 1


@pytest.mark.parametrize("end", ABNORMAL)
def test_a_transient_child_is_restarted_after_an_abnormal_exit(
    end: Callable[[pykka.ActorRef[Any]], None],
) -> None:
    dyn = sv.start_dynamic_supervisor()
    old = dyn.start_child(worker_spec("transient"))

    end(old)

    new = wait_restarted(dyn, old)
    assert_alive(new)
    assert dyn.statistics().restarts == 1


def test_a_transient_child_is_not_restarted_after_a_normal_exit_and_is_forgotten() -> None:
    dyn = sv.start_dynamic_supervisor()
    ref = dyn.start_child(worker_spec("transient"))

    ref.stop()

    wait_for(lambda: dyn.which_children() == [])
    stats = dyn.statistics()
    assert (stats.children, stats.active, stats.restarts) == (0, 0, 0)


def test_a_transient_child_is_not_restarted_after_a_shutdown_exit() -> None:
    """Killed through a link by an actor that its own supervisor shut down: reason SHUTDOWN."""
    dyn = sv.start_dynamic_supervisor()
    child = dyn.start_child(worker_spec("transient"))
    sup = sv.start_supervisor([sv.ChildSpec("x", Worker)])
    other = sup.child("x")
    assert other is not None
    sv.link(child, other)
    _, downs = watch(child)

    sup.terminate_child("x")

    assert next_down(downs, child).reason is sv.SHUTDOWN
    wait_for(lambda: dyn.which_children() == [])
    assert dyn.statistics().restarts == 0


def test_each_child_is_restarted_alone() -> None:
    dyn = sv.start_dynamic_supervisor()
    a = dyn.start_child(worker_spec("permanent", "a"))
    b = dyn.start_child(worker_spec("permanent", "b"))

    a.tell("crash")

    def restarted() -> pykka.ActorRef[Any] | None:
        ref = dyn.which_children()[0].ref
        return ref if ref is not None and ref != a else None

    new_a = wait_for(restarted)
    assert [info.ref for info in dyn.which_children()] == [new_a, b]
    assert_alive(b)


# -- max_children ------------------------------------------------------------------------------


def test_max_children_refuses_one_more() -> None:
    dyn = sv.start_dynamic_supervisor(max_children=2)
    first = dyn.start_child(worker_spec())
    second = dyn.start_child(worker_spec())

    with pytest.raises(sv.SupervisionError) as caught:
        dyn.start_child(worker_spec())

    assert caught.value.reason == "max_children"
    assert not isinstance(caught.value, sv.StartError)
    assert [info.ref for info in dyn.which_children()] == [first, second]
    assert dyn.statistics().max_children == 2


def test_max_children_zero_refuses_every_child() -> None:
    dyn = sv.start_dynamic_supervisor(max_children=0)
    with pytest.raises(sv.SupervisionError) as caught:
        dyn.start_child(worker_spec())
    assert caught.value.reason == "max_children"


def test_a_child_that_exits_frees_its_place() -> None:
    dyn = sv.start_dynamic_supervisor(max_children=1)
    first = dyn.start_child(worker_spec())
    first.tell("crash")
    wait_for(lambda: dyn.which_children() == [])

    assert_alive(dyn.start_child(worker_spec()))


@pytest.mark.parametrize(
    ("value", "error"),
    [(-1, ValueError), (1.5, (TypeError, ValueError)), ("3", (TypeError, ValueError))],
)
def test_a_wrong_max_children_is_refused(value: Any, error: Any) -> None:
    with pytest.raises(error, match="max_children"):
        sv.start_dynamic_supervisor(max_children=value)


def test_a_supervisor_refused_at_construction_leaves_no_live_actor_behind() -> None:
    with pytest.raises(ValueError, match="max_children"):
        sv.start_dynamic_supervisor(max_children=-1)
    assert live_of(SupervisorActor) == []


# -- terminate_child, restart_child, delete_child ----------------------------------------------


@pytest.mark.parametrize("restart", ["permanent", "transient", "temporary"])
def test_terminate_child_stops_the_child_and_forgets_it(restart: str) -> None:
    dyn = sv.start_dynamic_supervisor()
    ref = dyn.start_child(worker_spec(restart))
    keep = dyn.start_child(worker_spec(restart, "keep"))
    _, downs = watch(ref)

    dyn.terminate_child(ref)

    assert dead(ref)
    assert next_down(downs, ref).reason is sv.SHUTDOWN
    assert dyn.which_children() == [sv.ChildInfo("keep", keep, restart)]  # type: ignore[arg-type]
    assert dyn.statistics().restarts == 0
    with pytest.raises(sv.SupervisionError) as caught:
        dyn.terminate_child(ref)
    assert caught.value.reason == "not_found"


def test_terminate_child_of_an_unknown_ref_is_not_found() -> None:
    dyn = sv.start_dynamic_supervisor()
    stranger = Worker.start()

    for key in (stranger, "w"):
        with pytest.raises(sv.SupervisionError) as caught:
            dyn.terminate_child(key)
        assert caught.value.reason == "not_found"
    assert_alive(stranger)


def test_terminate_child_of_a_replaced_incarnation_is_not_found() -> None:
    dyn = sv.start_dynamic_supervisor()
    old = dyn.start_child(worker_spec("permanent"))
    old.tell("crash")
    new = wait_restarted(dyn, old)

    with pytest.raises(sv.SupervisionError) as caught:
        dyn.terminate_child(old)

    assert caught.value.reason == "not_found"
    assert_alive(new)


def test_restart_child_and_delete_child_are_not_supported() -> None:
    dyn = sv.start_dynamic_supervisor()
    ref = dyn.start_child(worker_spec("permanent"))

    for request in (dyn.restart_child, dyn.delete_child):
        with pytest.raises(sv.SupervisionError) as caught:
            request(ref)  # type: ignore[arg-type]
        assert caught.value.reason == "not_supported"
        with pytest.raises(sv.SupervisionError) as caught:
            request("w")
        assert caught.value.reason == "not_supported"
    assert dyn.which_children() == [sv.ChildInfo("w", ref, "permanent")]
    assert_alive(ref)


# -- intensity ---------------------------------------------------------------------------------


def test_exceeding_intensity_stops_every_child_and_the_supervisor_with_shutdown() -> None:
    dyn = sv.start_dynamic_supervisor(intensity=1, period=5.0, clock=FakeClock())
    crasher = dyn.start_child(worker_spec("permanent", "crasher"))
    others = [dyn.start_child(worker_spec(restart, restart)) for restart in sv_restart_types()]
    _, dyn_downs = watch(dyn.ref)
    other_downs = [watch(ref)[1] for ref in others]

    crasher.tell("crash")
    again = wait_restarted_by_id(dyn, "crasher", crasher)
    _, crasher_downs = watch(again)
    again.tell("crash")  # the second restart within the period: more than intensity=1

    assert next_down(dyn_downs, dyn.ref).reason is sv.SHUTDOWN
    assert isinstance(next_down(crasher_downs, again).reason, RuntimeError)
    for ref, downs in zip(others, other_downs, strict=True):
        assert next_down(downs, ref).reason is sv.SHUTDOWN
        assert dead(ref)
    assert not dyn.is_alive()
    stats = dyn.statistics()
    assert stats.escalated
    assert stats.restarts == 1
    assert stats.active == 0


def test_restarts_further_apart_than_period_do_not_exceed_intensity() -> None:
    clock = FakeClock()
    dyn = sv.start_dynamic_supervisor(intensity=1, period=5.0, clock=clock)
    ref = dyn.start_child(worker_spec("permanent"))

    for _ in range(3):
        ref.tell("crash")
        ref = wait_restarted(dyn, ref)
        clock.advance(5.0)

    assert dyn.is_alive()
    assert dyn.statistics().restarts == 3
    assert not dyn.statistics().escalated


def test_intensity_zero_gives_up_at_the_first_restart() -> None:
    dyn = sv.start_dynamic_supervisor(intensity=0, clock=FakeClock())
    _, downs = watch(dyn.ref)
    ref = dyn.start_child(worker_spec("transient"))

    ref.tell("crash")

    assert next_down(downs, dyn.ref).reason is sv.SHUTDOWN


def test_exits_without_a_restart_do_not_count_towards_intensity() -> None:
    dyn = sv.start_dynamic_supervisor(intensity=0, clock=FakeClock())
    for restart, end in [
        ("temporary", crash),
        ("temporary", normal_stop),
        ("transient", normal_stop),
    ]:
        end(dyn.start_child(worker_spec(restart)))
        wait_for(lambda: dyn.which_children() == [])

    assert dyn.is_alive()
    assert dyn.statistics().restarts == 0


def test_a_restart_that_fails_to_start_counts_towards_intensity() -> None:
    dyn = sv.start_dynamic_supervisor(intensity=3, period=5.0, clock=FakeClock())
    _, downs = watch(dyn.ref)
    starts = itertools.count()
    child = dyn.start_child(sv.ChildSpec("w", FailsOnRestart, args=(starts,), restart="permanent"))

    child.tell("crash")  # then every restart fails in on_start: one more exit each time

    assert next_down(downs, dyn.ref).reason is sv.SHUTDOWN
    assert next(starts) == 4  # the first start and 3 restarts; the 4th exit exceeded intensity
    assert dyn.statistics().escalated


# -- stopping, handles, statistics --------------------------------------------------------------


def test_stop_stops_every_child() -> None:
    dyn = sv.start_dynamic_supervisor()
    refs = [dyn.start_child(worker_spec(restart, restart)) for restart in sv_restart_types()]
    watches = [watch(ref)[1] for ref in refs]
    _, dyn_downs = watch(dyn.ref)

    dyn.stop()

    assert not dyn.is_alive()
    for ref, downs in zip(refs, watches, strict=True):
        assert dead(ref)
        assert next_down(downs, ref).reason is sv.SHUTDOWN
    assert next_down(dyn_downs, dyn.ref).reason is sv.NORMAL
    with pytest.raises(pykka.ActorDeadError):
        dyn.start_child(worker_spec())


def test_handle_of_the_ref_is_a_dynamic_supervisor() -> None:
    dyn = sv.start_dynamic_supervisor(max_children=3)

    again = sv.handle(dyn.ref)

    assert isinstance(again, sv.DynamicSupervisor)
    assert again == dyn
    assert again.ref is dyn.ref
    ref = again.start_child(worker_spec())
    assert dyn.which_children() == [sv.ChildInfo("w", ref, "temporary")]


def test_statistics_count_children_and_restarts() -> None:
    dyn = sv.start_dynamic_supervisor(intensity=5, period=2.5, max_children=4)
    stats = dyn.statistics()
    assert isinstance(stats, sv.SupervisorStatistics)
    assert stats.dynamic
    assert stats.strategy == "one_for_one"
    assert (stats.intensity, stats.period, stats.max_children) == (5, 2.5, 4)
    assert (stats.children, stats.active, stats.restarts, stats.recent_restarts) == (0, 0, 0, 0)
    assert not stats.escalated

    permanent = dyn.start_child(worker_spec("permanent", "p"))
    temporary = dyn.start_child(worker_spec("temporary", "t"))
    assert (dyn.statistics().children, dyn.statistics().active) == (2, 2)

    permanent.tell("crash")
    wait_for(lambda: (ref := dyn.which_children()[0].ref) is not None and ref != permanent)
    temporary.tell("crash")
    wait_for(lambda: len(dyn.which_children()) == 1)

    stats = dyn.statistics()
    assert (stats.children, stats.active, stats.restarts, stats.recent_restarts) == (1, 1, 1, 1)


def test_statistics_are_current_once_terminate_child_returns() -> None:
    dyn = sv.start_dynamic_supervisor()
    stopping, gate = threading.Event(), threading.Event()
    ref = dyn.start_child(sv.ChildSpec("slow", SlowStop, args=(stopping,)))
    terminated: pykka.Future[Any] = pykka.ThreadingFuture()
    started: pykka.Future[Any] = pykka.ThreadingFuture()
    # What dyn.terminate_child(ref) sends, then, as if from another thread, dyn.start_child(...);
    # the child cannot finish stopping before both requests are in the supervisor's inbox.
    dyn.ref.tell(Request("terminate_child", ref, terminated))
    dyn.ref.tell(Request("start_child", sv.ChildSpec("gated", GatedInit, args=(gate,)), started))
    stopping.set()
    try:
        terminated.get(timeout=WAIT)
        stats = dyn.statistics()
    finally:
        gate.set()
    assert started.get(timeout=WAIT).is_alive()

    assert (stats.children, stats.active) == (0, 0), stats


def test_a_dynamic_supervisor_killed_through_a_link_stops_its_children_first() -> None:
    dyn = sv.start_dynamic_supervisor()
    child = dyn.start_child(worker_spec("permanent"))
    crasher = Worker.start("crasher")
    sv.link(dyn.ref, crasher)
    _, dyn_downs = watch(dyn.ref)
    _, child_downs = watch(child)

    crasher.tell("crash")

    reason = next_down(dyn_downs, dyn.ref).reason
    assert isinstance(reason, RuntimeError)
    assert str(reason) == "crasher crashed"
    assert next_down(child_downs, child).reason is sv.SHUTDOWN
    assert dead(child)


# -- nested in a static supervisor --------------------------------------------------------------


def test_a_dynamic_supervisor_nested_in_a_static_one() -> None:
    sup = sv.start_supervisor(
        [sv.ChildSpec("dyn", sv.DynamicSupervisor, kwargs={"max_children": 5}, shutdown=None)]
    )
    dyn_ref = sup.child("dyn")
    assert dyn_ref is not None
    dyn = sv.handle(dyn_ref)
    assert isinstance(dyn, sv.DynamicSupervisor)
    assert dyn.statistics().max_children == 5

    refs = [dyn.start_child(worker_spec()) for _ in range(5)]
    with pytest.raises(sv.SupervisionError) as caught:
        dyn.start_child(worker_spec())
    assert caught.value.reason == "max_children"
    watches = [watch(ref)[1] for ref in refs]

    sup.stop()

    assert not dyn.is_alive()
    for ref, downs in zip(refs, watches, strict=True):
        assert dead(ref)
        assert next_down(downs, ref).reason is sv.SHUTDOWN


def test_a_nested_dynamic_supervisor_that_gives_up_is_restarted_by_its_parent() -> None:
    sup = sv.start_supervisor(
        [sv.ChildSpec("dyn", sv.DynamicSupervisor, kwargs={"intensity": 0}, shutdown=None)],
        intensity=1,
    )
    old_ref = sup.child("dyn")
    assert old_ref is not None
    old = sv.handle(old_ref)
    child = old.start_child(worker_spec("permanent"))
    _, downs = watch(old_ref)

    child.tell("crash")

    assert next_down(downs, old_ref).reason is sv.SHUTDOWN
    new_ref = wait_for(lambda: (ref := sup.child("dyn")) is not None and ref != old_ref and ref)
    new = sv.handle(new_ref)
    assert isinstance(new, sv.DynamicSupervisor)
    assert new.which_children() == []  # a restarted dynamic supervisor starts empty
    assert sup.statistics().restarts == 1
    assert sup.is_alive()


def test_a_nested_dynamic_supervisor_in_a_trapping_parent_actor() -> None:
    """A plain actor that links to a dynamic supervisor and traps exits hears of it giving up."""
    inbox: queue.Queue[Any] = queue.Queue()
    parent = Recorder.start(inbox, trap=True)
    dyn = sv.start_dynamic_supervisor(intensity=0)
    sv.link(parent, dyn.ref)

    dyn.start_child(worker_spec("permanent")).tell("crash")

    assert get(inbox) == sv.Exit(dyn.ref, sv.SHUTDOWN)
    assert_alive(parent)


# -- helpers -----------------------------------------------------------------------------------


def sv_restart_types() -> list[str]:
    return ["permanent", "transient", "temporary"]


def wait_restarted_by_id(
    dyn: sv.DynamicSupervisor, child_id: str, old: pykka.ActorRef[Any]
) -> pykka.ActorRef[Any]:
    def restarted() -> pykka.ActorRef[Any] | None:
        for info in dyn.which_children():
            if info.id == child_id and info.ref is not None and info.ref != old:
                return info.ref
        return None

    new: pykka.ActorRef[Any] = wait_for(restarted)
    return new


def live_of(actor_class: type[sv.SupervisedActor]) -> list[Lifecycle]:
    """The supervised actors of ``actor_class`` that the tree fixture would wait for."""
    return [lc for lc in live_lifecycles() if issubclass(lc.ref.actor_class, actor_class)]

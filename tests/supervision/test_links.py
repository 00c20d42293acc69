"""Links and monitors between supervised actors: Erlang's ``link/1``, ``unlink/1``,
``monitor/2`` and ``demonitor/1``, with ``trap_exits`` and exit signals that pass the mailbox."""

from __future__ import annotations

import queue
import threading
from collections.abc import Callable
from typing import Any

import pykka
import pytest

import supervision as sv
from supervision._lifecycle import lifecycle_of
from tests.actors import FailingStart, Recorder, Worker, dead
from tests.waiting import WAIT

from .link_actors import (
    Blocker,
    GatedFailingStart,
    PlainCollector,
    assert_alive,
    get,
    next_down,
    wait_dead,
    watch,
)


def crash_by_tell(ref: pykka.ActorRef[Any]) -> None:
    ref.tell("crash")


def exit_by_tell(ref: pykka.ActorRef[Any]) -> None:
    ref.tell("exit")


# -- links: abnormal exits propagate -----------------------------------------------------------


@pytest.mark.parametrize(
    "crashing_first", [True, False], ids=["link(crasher,other)", "link(other,crasher)"]
)
def test_crash_in_told_message_stops_linked_actor_with_the_same_reason(
    crashing_first: bool,
) -> None:
    crasher, other = Worker.start("a"), Worker.start("b")
    sv.link(*((crasher, other) if crashing_first else (other, crasher)))
    _, crasher_downs = watch(crasher)
    _, other_downs = watch(other)

    crasher.tell("crash")

    crasher_down = next_down(crasher_downs, crasher)
    other_down = next_down(other_downs, other)
    assert isinstance(crasher_down.reason, RuntimeError)
    assert str(crasher_down.reason) == "a crashed"
    assert other_down.reason is crasher_down.reason
    wait_dead(other)
    assert dead(other)


def test_failure_in_on_start_stops_linked_actor_with_that_exception() -> None:
    gate = threading.Event()
    error = ValueError("no start")
    failing = GatedFailingStart.start(gate, error)
    other = Worker.start()
    sv.link(other, failing)  # while ``failing`` is still in on_start
    _, failing_downs = watch(failing)
    _, other_downs = watch(other)

    gate.set()

    assert next_down(failing_downs, failing).reason is error
    assert next_down(other_downs, other).reason is error


def test_system_exit_in_handler_stops_the_linked_actor_only() -> None:
    exiting, linked, bystander = Worker.start("a"), Worker.start("b"), Worker.start("c")
    sv.link(exiting, linked)
    _, exiting_downs = watch(exiting)
    _, linked_downs = watch(linked)

    exiting.tell("exit")

    reason = next_down(exiting_downs, exiting).reason
    assert isinstance(reason, SystemExit)
    assert reason.code == 3
    assert next_down(linked_downs, linked).reason is reason
    # Unlike a plain Pykka actor, SystemExit does not stop every actor in the process.
    assert_alive(bystander)


def test_exit_propagates_along_a_chain_of_links() -> None:
    a, b, c = Worker.start("a"), Worker.start("b"), Worker.start("c")
    sv.link(a, b)
    sv.link(b, c)
    _, b_downs = watch(b)
    _, c_downs = watch(c)

    a.tell("crash")

    reason = next_down(b_downs, b).reason
    assert isinstance(reason, RuntimeError)
    assert next_down(c_downs, c).reason is reason


def test_shutdown_of_a_linked_actor_stops_the_other_with_shutdown() -> None:
    """``SHUTDOWN`` is not a normal exit: as in OTP, a non-trapping linked actor dies of it."""
    sup = sv.start_supervisor([sv.ChildSpec("w", Worker)])
    child = sup.child("w")
    assert child is not None
    other = Worker.start()
    sv.link(child, other)
    _, other_downs = watch(other)

    sup.terminate_child("w")

    assert next_down(other_downs, other).reason is sv.SHUTDOWN


def test_exception_in_asked_message_goes_to_the_caller_and_kills_nobody() -> None:
    a, b = Worker.start("a"), Worker.start("b")
    sv.link(a, b)

    with pytest.raises(RuntimeError, match="a crashed"):
        a.ask("crash", timeout=WAIT)

    assert_alive(a)
    assert_alive(b)


# -- links: normal exits, trap_exits, unlink ---------------------------------------------------


@pytest.mark.parametrize("stopping_first", [True, False])
def test_normal_stop_does_not_stop_the_linked_actor(stopping_first: bool) -> None:
    stopping, other = Worker.start("a"), Worker.start("b")
    sv.link(*((stopping, other) if stopping_first else (other, stopping)))
    _, downs = watch(stopping)

    stopping.stop()

    assert next_down(downs, stopping).reason is sv.NORMAL
    wait_dead(stopping)
    assert_alive(other)


def test_trapping_actor_receives_exit_for_an_abnormal_exit_and_survives() -> None:
    inbox: queue.Queue[Any] = queue.Queue()
    trapper = Recorder.start(inbox, trap=True)
    crasher = Worker.start()
    sv.link(trapper, crasher)

    crasher.tell("crash")

    message = get(inbox)
    assert isinstance(message, sv.Exit)
    assert message.ref == crasher
    assert isinstance(message.reason, RuntimeError)
    assert_alive(trapper)
    assert get(inbox) == "ping"


def test_trapping_actor_receives_exit_for_a_normal_exit() -> None:
    inbox: queue.Queue[Any] = queue.Queue()
    trapper = Recorder.start(inbox, trap=True)
    stopping = Worker.start()
    sv.link(stopping, trapper)

    stopping.stop()

    assert get(inbox) == sv.Exit(stopping, sv.NORMAL)
    assert_alive(trapper)


def test_trapping_actor_receives_one_exit_per_linked_actor() -> None:
    inbox: queue.Queue[Any] = queue.Queue()
    trapper = Recorder.start(inbox, trap=True)
    a, b = Worker.start("a"), Worker.start("b")
    sv.link(trapper, a)
    sv.link(trapper, b)

    a.tell("crash")
    first = get(inbox)
    b.stop()
    second = get(inbox)

    assert first.ref == a
    assert isinstance(first.reason, RuntimeError)
    assert second == sv.Exit(b, sv.NORMAL)
    wait_dead(a)
    wait_dead(b)
    trapper.tell("sentinel")
    assert get(inbox) == "sentinel"  # no further Exit


@pytest.mark.parametrize("unlink_reversed", [False, True])
@pytest.mark.parametrize("crash_first", [True, False])
def test_unlink_stops_propagation(unlink_reversed: bool, crash_first: bool) -> None:
    a, b = Worker.start("a"), Worker.start("b")
    sv.link(a, b)
    sv.unlink(*((b, a) if unlink_reversed else (a, b)))
    crasher, survivor = (a, b) if crash_first else (b, a)

    crasher.tell("crash")

    wait_dead(crasher)
    assert_alive(survivor)


def test_unlink_of_actors_that_are_not_linked_is_a_no_op() -> None:
    a, b = Worker.start("a"), Worker.start("b")
    sv.unlink(a, b)
    assert_alive(a)
    assert_alive(b)


def test_unlink_stops_exit_messages_to_a_trapping_actor() -> None:
    inbox: queue.Queue[Any] = queue.Queue()
    trapper = Recorder.start(inbox, trap=True)
    other = Worker.start()
    sv.link(trapper, other)
    sv.unlink(other, trapper)

    other.tell("crash")
    wait_dead(other)
    trapper.tell("sentinel")

    assert get(inbox) == "sentinel"


# -- links: dead peers, self links -------------------------------------------------------------


@pytest.mark.parametrize("dead_first", [True, False], ids=["link(dead,live)", "link(live,dead)"])
def test_linking_to_an_actor_that_died_abnormally_signals_at_once(dead_first: bool) -> None:
    corpse = Worker.start("corpse")
    corpse.tell("crash")
    wait_dead(corpse)
    reason = lifecycle_of(corpse).reason
    assert isinstance(reason, RuntimeError)
    live = Worker.start("live")
    _, downs = watch(live)

    sv.link(*((corpse, live) if dead_first else (live, corpse)))

    assert next_down(downs, live).reason is reason


@pytest.mark.parametrize("dead_first", [True, False], ids=["link(dead,live)", "link(live,dead)"])
def test_trapping_actor_linking_to_a_dead_actor_gets_exit_at_once(dead_first: bool) -> None:
    corpse = FailingStart.start()
    wait_dead(corpse)
    inbox: queue.Queue[Any] = queue.Queue()
    trapper = Recorder.start(inbox, trap=True)

    sv.link(*((corpse, trapper) if dead_first else (trapper, corpse)))

    message = get(inbox)
    assert isinstance(message, sv.Exit)
    assert message.ref == corpse
    assert isinstance(message.reason, ValueError)
    assert_alive(trapper)


def test_linking_to_an_actor_that_stopped_normally_does_not_stop_the_other() -> None:
    corpse = Worker.start("corpse")
    corpse.stop()
    live = Worker.start("live")

    sv.link(live, corpse)

    assert_alive(live)


def test_link_of_an_actor_to_itself_is_a_no_op() -> None:
    actor = Worker.start()
    sv.link(actor, actor)
    assert lifecycle_of(actor)._links == {}
    sv.unlink(actor, actor)
    _, downs = watch(actor)

    assert_alive(actor)
    actor.tell("crash")

    assert isinstance(next_down(downs, actor).reason, RuntimeError)


# -- exit signals and the mailbox --------------------------------------------------------------


def test_exit_signal_passes_queued_messages() -> None:
    entered, release, handled = threading.Event(), threading.Event(), []
    busy = Blocker.start(entered, release, handled)
    worker = Worker.start()
    sv.link(busy, worker)
    _, downs = watch(busy)
    current = busy.ask("block", block=False)
    assert entered.wait(WAIT)
    queued = busy.ask("queued", block=False)
    busy.tell("queued-tell")

    worker.tell("crash")
    wait_dead(worker)  # the exit signal is in busy's inbox, behind the message being handled
    release.set()

    assert current.get(timeout=WAIT) == "done"
    with pytest.raises(pykka.ActorDeadError):
        queued.get(timeout=WAIT)
    assert isinstance(next_down(downs, busy).reason, RuntimeError)
    wait_dead(busy)
    assert handled == ["block"]


def test_stop_waits_for_queued_messages() -> None:
    """``ref.stop()`` is a message: unlike an exit signal, it comes after those queued."""
    entered, release, handled = threading.Event(), threading.Event(), []
    busy = Blocker.start(entered, release, handled)
    current = busy.ask("block", block=False)
    assert entered.wait(WAIT)
    queued = busy.ask("queued", block=False)
    stopped = busy.stop(block=False)

    release.set()

    assert current.get(timeout=WAIT) == "done"
    assert queued.get(timeout=WAIT) == "queued"
    assert stopped.get(timeout=WAIT) is True
    assert handled == ["block", "queued"]


# -- monitors ----------------------------------------------------------------------------------


def test_monitor_delivers_down_once_for_a_normal_stop() -> None:
    target = Worker.start()
    inbox: queue.Queue[Any] = queue.Queue()
    watcher = Recorder.start(inbox)
    mref = sv.monitor(watcher, target)
    assert isinstance(mref, sv.MonitorRef)
    assert mref.target == target

    target.stop()

    assert get(inbox) == sv.Down(mref, target, sv.NORMAL)
    wait_dead(target)
    watcher.tell("sentinel")
    assert get(inbox) == "sentinel"  # exactly once
    assert_alive(watcher)


def test_monitor_delivers_down_with_shutdown_when_a_supervisor_stops_the_target() -> None:
    sup = sv.start_supervisor([sv.ChildSpec("w", Worker)])
    child = sup.child("w")
    assert child is not None
    mref, downs = watch(child)

    sup.terminate_child("w")

    assert get(downs) == sv.Down(mref, child, sv.SHUTDOWN)


@pytest.mark.parametrize(
    ("kill", "error_type"),
    [(crash_by_tell, RuntimeError), (exit_by_tell, SystemExit)],
    ids=["exception", "SystemExit"],
)
def test_monitor_delivers_down_with_the_exception(
    kill: Callable[[pykka.ActorRef[Any]], None], error_type: type[BaseException]
) -> None:
    target = Worker.start()
    mref, downs = watch(target)

    kill(target)

    down = get(downs)
    assert down.monitor_ref == mref
    assert down.ref == target
    assert type(down.reason) is error_type
    wait_dead(target)
    assert downs.empty()


def test_monitor_delivers_down_for_a_failure_in_on_start() -> None:
    gate = threading.Event()
    error = ValueError("no start")
    target = GatedFailingStart.start(gate, error)
    mref, downs = watch(target)

    gate.set()

    assert get(downs) == sv.Down(mref, target, error)


def test_each_monitor_delivers_its_own_down() -> None:
    target = Worker.start()
    inbox: queue.Queue[Any] = queue.Queue()
    watcher = Recorder.start(inbox)
    first = sv.monitor(watcher, target)
    second = sv.monitor(watcher, target)
    assert first != second

    target.tell("crash")

    downs = [get(inbox), get(inbox)]
    assert {down.monitor_ref for down in downs} == {first, second}
    assert downs[0].reason is downs[1].reason
    wait_dead(target)
    watcher.tell("sentinel")
    assert get(inbox) == "sentinel"


def test_monitor_of_an_already_dead_target_delivers_at_once() -> None:
    target = Worker.start()
    target.tell("crash")
    wait_dead(target)
    reason = lifecycle_of(target).reason
    inbox: queue.Queue[Any] = queue.Queue()
    watcher = Recorder.start(inbox)

    mref = sv.monitor(watcher, target)

    assert get(inbox) == sv.Down(mref, target, reason)
    watcher.tell("sentinel")
    assert get(inbox) == "sentinel"


def test_monitor_of_a_normally_stopped_target_delivers_normal_at_once() -> None:
    target = Worker.start()
    target.stop()
    mref, downs = watch(target)
    assert get(downs) == sv.Down(mref, target, sv.NORMAL)


def test_demonitor_prevents_delivery() -> None:
    target = Worker.start()
    inbox: queue.Queue[Any] = queue.Queue()
    watcher = Recorder.start(inbox)
    cancelled = sv.monitor(watcher, target)
    kept = sv.monitor(watcher, target)

    sv.demonitor(cancelled)
    target.tell("crash")

    assert get(inbox).monitor_ref == kept
    wait_dead(target)
    watcher.tell("sentinel")
    assert get(inbox) == "sentinel"


def test_demonitor_after_delivery_and_twice_is_a_no_op() -> None:
    target = Worker.start()
    mref, downs = watch(target)
    target.stop()
    assert get(downs).monitor_ref == mref

    sv.demonitor(mref)
    sv.demonitor(mref)


def test_demonitor_while_the_target_is_dying_prevents_delivery() -> None:
    target = Worker.start()
    entered, release = threading.Event(), threading.Event()

    def slow_listener(_reason: sv.ExitReason) -> None:
        # Registered before the monitor, so called first: holds the dying thread there.
        entered.set()
        release.wait(WAIT)

    lifecycle_of(target).add_exit_listener(slow_listener)
    inbox: queue.Queue[Any] = queue.Queue()
    watcher = Recorder.start(inbox)
    mref = sv.monitor(watcher, target)
    target.tell("crash")
    assert entered.wait(WAIT)

    sv.demonitor(mref)  # the target is dead, but its monitor has not been told yet
    release.set()
    wait_dead(target)
    watcher.tell("sentinel")

    assert get(inbox) == "sentinel"


def test_a_plain_pykka_actor_can_watch(plain_actors: list[pykka.ActorRef[Any]]) -> None:
    inbox: queue.Queue[Any] = queue.Queue()
    watcher = PlainCollector.start(inbox)
    plain_actors.append(watcher)
    target = Worker.start()
    mref = sv.monitor(watcher, target)

    target.tell("crash")

    down = get(inbox)
    assert down.monitor_ref == mref
    assert isinstance(down.reason, RuntimeError)


def test_a_down_to_a_dead_watcher_is_dropped() -> None:
    watcher, target = Recorder.start(), Worker.start()
    sv.monitor(watcher, target)
    watcher.stop()
    _, downs = watch(target)

    target.tell("crash")

    assert isinstance(get(downs).reason, RuntimeError)
    wait_dead(target)


def test_a_plain_pykka_actor_cannot_be_monitored_or_linked(
    plain_actors: list[pykka.ActorRef[Any]],
) -> None:
    plain = PlainCollector.start(queue.Queue())
    plain_actors.append(plain)
    supervised = Worker.start()

    with pytest.raises(TypeError):
        sv.monitor(supervised, plain)
    with pytest.raises(TypeError):
        sv.link(supervised, plain)
    with pytest.raises(TypeError):
        sv.link(plain, supervised)
    with pytest.raises(TypeError):
        sv.unlink(supervised, plain)
    assert_alive(supervised)


@pytest.mark.parametrize(
    "call",
    [
        lambda ref: sv.link(ref, "not a ref"),
        lambda ref: sv.link(None, ref),
        lambda ref: sv.unlink(ref, 42),
        lambda ref: sv.unlink(object(), ref),
        lambda ref: sv.monitor("not a ref", ref),
        lambda ref: sv.monitor(ref, "not a ref"),
        lambda ref: sv.monitor(ref, None),
        lambda ref: sv.demonitor("not a monitor ref"),
        sv.demonitor,  # an ActorRef is not a MonitorRef
    ],
    ids=[
        "link-b",
        "link-a",
        "unlink-b",
        "unlink-a",
        "monitor-watcher",
        "monitor-target",
        "monitor-none",
        "demonitor-str",
        "demonitor-ref",
    ],
)
def test_wrong_arguments_raise_type_error(call: Callable[[pykka.ActorRef[Any]], Any]) -> None:
    ref = Worker.start()
    with pytest.raises(TypeError):
        call(ref)
    assert_alive(ref)


# -- stop() and monitors -----------------------------------------------------------------------


def test_stop_returns_after_monitors_were_told() -> None:
    target = Worker.start()
    inbox: queue.Queue[Any] = queue.Queue()
    watcher = Recorder.start(inbox)
    mref = sv.monitor(watcher, target)

    assert target.stop() is True
    watcher.tell("after stop")  # queued behind the Down if the Down was already told

    assert get(inbox) == sv.Down(mref, target, sv.NORMAL)
    assert get(inbox) == "after stop"


def test_stop_returns_after_a_plain_watcher_was_told(
    plain_actors: list[pykka.ActorRef[Any]],
) -> None:
    target = Worker.start()
    inbox: queue.Queue[Any] = queue.Queue()
    watcher = PlainCollector.start(inbox)
    plain_actors.append(watcher)
    mref = sv.monitor(watcher, target)

    target.stop()
    watcher.tell("after stop")

    assert get(inbox) == sv.Down(mref, target, sv.NORMAL)
    assert get(inbox) == "after stop"


def test_stop_returns_after_linked_trapping_actors_were_told() -> None:
    inbox: queue.Queue[Any] = queue.Queue()
    trapper = Recorder.start(inbox, trap=True)
    target = Worker.start()
    sv.link(trapper, target)

    target.stop()
    trapper.tell("after stop")

    assert get(inbox) == sv.Exit(target, sv.NORMAL)
    assert get(inbox) == "after stop"


def test_stop_of_a_dead_actor_returns_false() -> None:
    target = Worker.start()
    target.tell("crash")
    wait_dead(target)
    assert target.stop() is False

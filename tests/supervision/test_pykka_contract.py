"""What the supervision package relies on in Pykka, pinned so that an upgrade that changes it fails.

The first half checks plain ``pykka.ThreadingActor``; the second checks that ``SupervisedActor``
keeps the same observable behaviour where it means to.
"""

from __future__ import annotations

import queue
import threading
from typing import Any

import pykka
import pytest
from pykka._envelope import Envelope
from pykka.messages import _ActorStop

import supervision as sv
from supervision._lifecycle import Inbox
from tests.waiting import WAIT, wait_for


class Journal(pykka.ThreadingActor):
    """Writes what happens to it into a queue, with ``is_alive()`` as seen from inside."""

    def __init__(self, events: queue.Queue[Any], fail_start: bool = False) -> None:
        super().__init__()
        self.events = events
        self.fail_start = fail_start

    def on_start(self) -> None:
        if self.fail_start:
            raise RuntimeError("start failed")
        self.events.put("on_start")

    def on_stop(self) -> None:
        self.events.put(("on_stop", self.actor_ref.is_alive()))

    def on_failure(self, *exc_info: Any) -> None:
        self.events.put(("on_failure", type(exc_info[1]).__name__))

    def on_receive(self, message: Any) -> Any:
        if message == "raise":
            raise ValueError("in handler")
        self.events.put(message)
        return message


class SupervisedJournal(sv.SupervisedActor, Journal):
    pass


def drain(events: queue.Queue[Any]) -> list[Any]:
    out = []
    while True:
        try:
            out.append(events.get_nowait())
        except queue.Empty:
            return out


@pytest.fixture(params=[Journal, SupervisedJournal], ids=["pykka", "supervised"])
def actor_class(request):
    return request.param


def test_an_exception_in_ask_goes_to_the_caller_and_the_actor_lives_on(actor_class):
    events: queue.Queue[Any] = queue.Queue()
    ref = actor_class.start(events)
    with pytest.raises(ValueError, match="in handler"):
        ref.ask("raise", timeout=WAIT)
    assert ref.is_alive()
    assert ref.ask("still here", timeout=WAIT) == "still here"
    ref.stop()


def test_an_exception_in_tell_stops_the_actor_through_on_failure_not_on_stop(actor_class):
    events: queue.Queue[Any] = queue.Queue()
    ref = actor_class.start(events)
    ref.tell("raise")
    wait_for(lambda: not ref.is_alive())
    assert events.get(timeout=WAIT) == "on_start"
    assert events.get(timeout=WAIT) == ("on_failure", "ValueError")
    with pytest.raises(pykka.ActorDeadError):
        ref.tell("anything")


def test_a_failure_in_on_start_stops_the_actor_and_calls_no_hook(actor_class):
    events: queue.Queue[Any] = queue.Queue()
    ref = actor_class.start(events, fail_start=True)
    wait_for(lambda: not ref.is_alive())
    if actor_class is SupervisedJournal:
        sv._lifecycle.lifecycle_of(ref).wait_dead(WAIT)
    assert drain(events) == []


def test_is_alive_is_false_before_on_stop_runs(actor_class):
    events: queue.Queue[Any] = queue.Queue()
    ref = actor_class.start(events)
    assert ref.stop(timeout=WAIT) is True
    assert drain(events) == ["on_start", ("on_stop", False)]


def test_stop_is_queued_behind_the_messages_sent_before_it(actor_class):
    events: queue.Queue[Any] = queue.Queue()
    gate = threading.Event()
    ref = actor_class.start(events)
    ref.tell(pykka.messages.ProxyCall(attr_path=("events", "put"), args=("first",), kwargs={}))
    blocker = ref.ask(
        pykka.messages.ProxyCall(attr_path=("_wait",), args=(gate,), kwargs={}), block=False
    )
    for i in range(3):
        ref.tell(f"m{i}")
    stopped = ref.stop(block=False)
    gate.set()
    blocker.get(timeout=WAIT)
    assert stopped.get(timeout=WAIT) is True
    assert drain(events) == ["on_start", "first", "m0", "m1", "m2", ("on_stop", False)]
    assert ref.stop(timeout=WAIT) is False  # already dead


def test_asks_left_in_the_inbox_of_a_stopped_actor_get_actor_dead_error(actor_class):
    events: queue.Queue[Any] = queue.Queue()
    gate = threading.Event()
    ref = actor_class.start(events)
    ref.ask(pykka.messages.ProxyCall(attr_path=("_wait",), args=(gate,), kwargs={}), block=False)
    ref.tell(_ActorStop())
    late = ref.ask("too late", block=False)
    gate.set()
    with pytest.raises(pykka.ActorDeadError):
        late.get(timeout=WAIT)


def _wait(self: Any, gate: threading.Event) -> None:
    gate.wait(WAIT)


Journal._wait = _wait  # type: ignore[attr-defined]


# -- the internals the package builds on ------------------------------------------------------


def test_an_actor_has_one_ref_object_shared_by_every_holder_and_it_takes_attributes():
    events: queue.Queue[Any] = queue.Queue()
    ref = Journal.start(events)
    try:
        assert pykka.ActorRegistry.get_by_urn(ref.actor_urn) is ref
        ref.extra = 1  # type: ignore[attr-defined]  # the package stores its lifecycle this way
        assert pykka.ActorRegistry.get_by_urn(ref.actor_urn).extra == 1  # type: ignore[union-attr]
    finally:
        ref.stop()


def test_the_threading_actor_runs_actor_loop_in_a_thread_and_builds_its_inbox_by_hook():
    ran = threading.Event()

    class Probe(pykka.ThreadingActor):
        @staticmethod
        def _create_actor_inbox() -> Inbox:
            return Inbox()

        def _actor_loop(self) -> None:
            ran.set()

    ref = Probe.start()
    assert ran.wait(WAIT)
    assert isinstance(ref.actor_inbox, Inbox)
    pykka.ActorRegistry.unregister(ref)


def test_stop_sends_actor_stop_as_an_ask_and_returns_true_once_answered():
    class Manual(pykka.ThreadingActor):
        def _actor_loop(self) -> None:
            envelope = self.actor_inbox.get()
            assert isinstance(envelope, Envelope)
            assert isinstance(envelope.message, _ActorStop)
            assert envelope.reply_to is not None
            self.actor_stopped.set()
            envelope.reply_to.set(None)

    ref = Manual.start()
    assert ref.stop(timeout=WAIT) is True
    pykka.ActorRegistry.unregister(ref)


def test_handle_receive_dispatches_proxy_calls_and_plain_messages():
    events: queue.Queue[Any] = queue.Queue()
    actor = Journal(events)
    call = pykka.messages.ProxyCall(attr_path=("on_receive",), args=("x",), kwargs={})
    assert actor._handle_receive(call) == "x"
    assert actor._handle_receive("y") == "y"


def test_plain_pykka_stops_every_actor_on_system_exit_but_a_supervised_actor_dies_alone():
    events: queue.Queue[Any] = queue.Queue()
    bystander = Journal.start(events)
    supervised = SupervisedJournal.start(events)

    def leave() -> None:
        raise SystemExit(0)

    supervised.tell(pykka.messages.ProxyCall(attr_path=("_exit",), args=(leave,), kwargs={}))
    wait_for(lambda: not supervised.is_alive())
    assert bystander.is_alive()
    reason = sv._lifecycle.lifecycle_of(supervised)
    reason.wait_dead(WAIT)
    assert isinstance(reason.reason, SystemExit)
    bystander.stop()


def _exit(self: Any, fn: Any) -> None:
    fn()


Journal._exit = _exit  # type: ignore[attr-defined]

"""Foreign refs (actors supervision does not own, such as another node's): links, monitors,
``exit`` and supervisors driven through the ``ForeignRef`` protocol, with ``LoopbackRef``, an
in-memory carrier that wraps a local supervised actor and does, in this process, what a remote
carrier does where the actor lives (h11's ``ConnectionPair`` idea: both ends, no sockets)."""

from __future__ import annotations

import itertools
import queue
import threading
from collections.abc import Callable, Hashable
from typing import Any

import pykka
import pytest

import supervision as sv
from supervision._lifecycle import lifecycle_of
from tests.actors import Recorder, Worker
from tests.waiting import WAIT

NODE = "fake@node"
NOCONNECTION = ("noconnection", NODE)
NOPROC = "noproc"


# -- the double --------------------------------------------------------------------------------


class _Relay(sv.SupervisedActor):
    """Holds a LoopbackRef's monitors: hands each ``Down`` it receives to ``deliver``; calls
    ``lost`` when it stops (its monitors end with it: the carrier's end is gone)."""

    def __init__(
        self, deliver: Callable[[sv.MonitorRef, Any], None], lost: Callable[[], None]
    ) -> None:
        super().__init__()
        self.deliver, self.lost = deliver, lost

    def on_receive(self, message: Any) -> Any:
        if isinstance(message, sv.Down):
            self.deliver(message.monitor_ref, message.reason)
        return None

    def on_stop(self) -> None:
        self.lost()


class LoopbackRef:
    """A foreign ref to the local supervised actor ``ref``, carried as a remote carrier would:
    each watch is a monitor held by a relay actor (the carrier's end where the actor lives);
    ``cut()`` is the node going away. ``calls`` records what supervision asked of the carrier.

    Equal (and hashed) by the wrapped actor. The repr is stable on purpose: supervision keys a
    link to a foreign ref by ``repr(ref)``.
    """

    def __init__(self, ref: pykka.ActorRef[Any]) -> None:
        self.ref = ref
        self.calls: list[tuple[str, Any]] = []
        self._tokens = itertools.count(1)
        self._lock = threading.Lock()
        self._watches: dict[Hashable, tuple[Callable[[Any], None], sv.MonitorRef]] = {}
        self._relay: pykka.ActorRef[Any] | None = None
        self._cut = False

    def __repr__(self) -> str:
        return f"<LoopbackRef {NODE} {self.ref.actor_urn}>"

    def __eq__(self, other: object) -> bool:
        if not isinstance(other, LoopbackRef):
            return NotImplemented
        return self.ref.actor_urn == other.ref.actor_urn

    def __hash__(self) -> int:
        return hash(self.ref.actor_urn)

    # -- the ForeignRef protocol (reasons of the carrier's own, str and tuple, are not
    # ExitReasons to the type checker: hence Callable[[Any], None]) ---------------------------

    def sv_watch(self, on_exit: Callable[[Any], None]) -> Hashable:
        lifecycle = lifecycle_of(self.ref)  # TypeError for a plain Pykka actor
        token = next(self._tokens)
        with self._lock:
            cut = self._cut
            if not cut and not lifecycle.dead.is_set():
                if self._relay is None:
                    self._relay = _Relay.start(self._deliver, self._lost)
                # under the lock: the relay cannot look the Down up before it is recorded
                self._watches[token] = (on_exit, sv.monitor(self._relay, self.ref))
                return token
        on_exit(NOCONNECTION if cut else NOPROC)  # at once, before returning
        return token

    def sv_unwatch(self, token: Hashable) -> None:
        with self._lock:
            entry = self._watches.pop(token, None)
        if entry is not None:
            sv.demonitor(entry[1])

    def sv_exit(self, reason: Any) -> None:
        self.calls.append(("sv_exit", reason))
        if not self._cut:
            sv.exit(self.ref, reason)

    def sv_signal(self, sender: Any, reason: Any) -> None:
        self.calls.append(("sv_signal", (sender, reason)))
        if not self._cut:
            sv.exit_signal(self.ref, sender, reason)

    def sv_link(self, other: Any) -> None:
        self.calls.append(("sv_link", other))
        if not self._cut:
            sv.link(self.ref, other)

    def sv_unlink(self, other: Any) -> None:
        self.calls.append(("sv_unlink", other))
        if not self._cut:
            sv.unlink(self.ref, other)

    # -- the test's controls -------------------------------------------------------------------

    def cut(self) -> None:
        """The node goes away: every pending watch is told ``("noconnection", node)`` before this
        returns; later watches are told so at once, and the other calls do nothing."""
        with self._lock:
            self._cut = True
            watches, self._watches = list(self._watches.values()), {}
            relay, self._relay = self._relay, None
        for on_exit, mref in watches:
            sv.demonitor(mref)
            on_exit(NOCONNECTION)
        if relay is not None:
            relay.stop(timeout=WAIT)

    @property
    def watching(self) -> int:
        """How many watches are pending."""
        with self._lock:
            return len(self._watches)

    def flush(self) -> None:
        """Return once every ``on_exit`` owed for the wrapped actor's death has been called: the
        death is complete (its monitors told the relay) and the relay has handled what it got."""
        lifecycle = lifecycle_of(self.ref)
        if lifecycle.dead.is_set():
            assert lifecycle.wait_dead(WAIT)
        with self._lock:
            relay = self._relay
        if relay is not None:
            relay.ask(None, timeout=WAIT)

    def _lost(self) -> None:
        """The relay stopped (the tree fixture stops it with everything else): whoever still
        watches hears ``noconnection``, as from a carrier whose connection dropped."""
        with self._lock:
            watches, self._watches = list(self._watches.values()), {}
            self._relay = None
        for on_exit, _ in watches:
            on_exit(NOCONNECTION)

    def _deliver(self, mref: sv.MonitorRef, reason: Any) -> None:
        with self._lock:
            token = next((t for t, (_, m) in self._watches.items() if m.id == mref.id), None)
            entry = None if token is None else self._watches.pop(token)
        if entry is not None:
            entry[0](reason)


# -- helpers -----------------------------------------------------------------------------------


class Plain(pykka.ThreadingActor):
    """A plain Pykka actor: nothing can watch it."""


def loopback(name: str = "w") -> LoopbackRef:
    return LoopbackRef(Worker.start(name))


def down(mref: sv.MonitorRef, ref: Any, reason: Any) -> sv.Down:
    """The ``Down`` expected about a foreign ref (built from untyped values: ``Down``'s fields
    are typed for a local ref and supervision's own reasons, not a foreign ref and a reason of
    its carrier's, such as ``"noproc"``)."""
    return sv.Down(mref, ref, reason)


def exit_of(ref: Any, reason: Any) -> sv.Exit:
    """The ``Exit`` expected about a foreign ref (untyped, as ``down``)."""
    return sv.Exit(ref, reason)


def get(inbox: queue.Queue[Any]) -> Any:
    return inbox.get(timeout=WAIT)


def recorder(*, trap: bool = False) -> tuple[pykka.ActorRef[Any], queue.Queue[Any]]:
    inbox: queue.Queue[Any] = queue.Queue()
    return Recorder.start(inbox, trap=trap), inbox


def exit_reason(ref: pykka.ActorRef[Any]) -> Any:
    """The exit reason of the supervised actor ``ref``, once it has died (bounded wait)."""
    lifecycle = lifecycle_of(ref)
    assert lifecycle.wait_dead(WAIT), f"{ref} did not die within {WAIT} s"
    return lifecycle.reason


def assert_alive(ref: pykka.ActorRef[Any]) -> None:
    """``ref`` still handles messages (an exit signal would pass this ask in its mailbox)."""
    assert ref.ask("ping", timeout=WAIT) == "ping"


def crash(ref: Any) -> RuntimeError:
    """Crash the actor behind ``ref`` (local or loopback); its exit reason."""
    local = ref.ref if isinstance(ref, LoopbackRef) else ref
    local.tell("crash")
    reason = exit_reason(local)
    assert isinstance(reason, RuntimeError)
    return reason


class Spawner:
    """A ``ChildSpec`` start factory: starts a Worker, waits until it runs (as a remote spawn
    answers once the actor is up) and returns it wrapped in a LoopbackRef (``foreign``) or as
    is. Every ref it returns goes to ``made``, in order."""

    def __init__(self, name: str, journal: list[str], *, foreign: bool = True) -> None:
        self.name, self.journal, self.foreign = name, journal, foreign
        self.made: queue.Queue[Any] = queue.Queue()

    def __call__(self) -> Any:
        ref = Worker.start(self.name, self.journal)
        assert lifecycle_of(ref).started.wait(WAIT)
        made = LoopbackRef(ref) if self.foreign else ref
        self.made.put(made)
        return made

    def next(self) -> Any:
        """The ref of the next start (bounded wait)."""
        return self.made.get(timeout=WAIT)


def settled(sup: sv.Supervisor) -> None:
    """Return once the supervisor has carried out every operation queued before this call:
    ``delete_child`` is an operation that never waits, so its answer comes after theirs."""
    with pytest.raises(sv.SupervisionError, match="not_found"):
        sup.delete_child("no such child", timeout=WAIT)


# -- the protocol ------------------------------------------------------------------------------


def test_a_loopback_ref_is_a_foreign_ref_and_a_pykka_ref_is_not(
    plain_actors: list[pykka.ActorRef[Any]],
) -> None:
    worker = Worker.start()
    plain_actors.append(plain := Plain.start())
    assert isinstance(LoopbackRef(worker), sv.ForeignRef)
    assert not isinstance(worker, sv.ForeignRef)
    assert not isinstance(plain, sv.ForeignRef)


def test_a_loopback_ref_is_equal_by_its_actor_and_has_a_repr_of_its_own() -> None:
    a, b = Worker.start("a"), Worker.start("b")
    assert LoopbackRef(a) == LoopbackRef(a)
    assert hash(LoopbackRef(a)) == hash(LoopbackRef(a))
    assert LoopbackRef(a) != LoopbackRef(b)
    assert LoopbackRef(a) != a
    assert repr(LoopbackRef(a)) == f"<LoopbackRef fake@node {a.actor_urn}>"


def test_a_loopback_ref_cannot_watch_a_plain_pykka_actor(
    plain_actors: list[pykka.ActorRef[Any]],
) -> None:
    plain_actors.append(plain := Plain.start())
    foreign = LoopbackRef(plain)
    with pytest.raises(TypeError):
        foreign.sv_watch(lambda _reason: None)
    assert foreign.watching == 0


# -- monitors ----------------------------------------------------------------------------------


@pytest.mark.parametrize("how", ["crash", "stop", "cut"])
def test_monitor_of_a_foreign_ref_delivers_down_with_the_reason(how: str) -> None:
    foreign = loopback()
    watcher, inbox = recorder()
    mref = sv.monitor(watcher, foreign)

    if how == "crash":
        expected: Any = crash(foreign)
    elif how == "stop":
        foreign.ref.stop()
        expected = sv.NORMAL
    else:
        foreign.cut()
        expected = NOCONNECTION

    assert get(inbox) == down(mref, foreign, expected)
    assert foreign.watching == 0


def test_demonitor_before_the_death_of_a_foreign_ref_sends_no_down() -> None:
    foreign = loopback()
    watcher, inbox = recorder()
    sv.demonitor(sv.monitor(watcher, foreign))
    assert foreign.watching == 0
    later = sv.monitor(watcher, foreign)  # a Down for the first would come before this one's

    foreign.ref.stop()

    assert get(inbox) == down(later, foreign, sv.NORMAL)
    foreign.flush()
    watcher.ask("sync", timeout=WAIT)
    assert get(inbox) == "sync"
    assert inbox.empty()


def test_monitor_of_a_dead_foreign_ref_delivers_noproc_at_once() -> None:
    foreign = loopback()
    foreign.ref.stop()
    watcher, inbox = recorder()

    mref = sv.monitor(watcher, foreign)

    assert get(inbox) == down(mref, foreign, NOPROC)
    assert mref.id not in sv._links._monitors


def test_monitoring_a_foreign_ref_to_a_plain_actor_raises_and_leaves_no_monitor(
    plain_actors: list[pykka.ActorRef[Any]],
) -> None:
    plain_actors.append(plain := Plain.start())
    watcher, _ = recorder()
    before = dict(sv._links._monitors)

    with pytest.raises(TypeError):
        sv.monitor(watcher, LoopbackRef(plain))

    assert sv._links._monitors == before


def test_a_monitor_held_by_a_watcher_that_dies_is_unwatched() -> None:
    foreign = loopback()
    watcher, _ = recorder()
    sv.monitor(watcher, foreign)
    assert foreign.watching == 1

    watcher.stop()  # returns once its monitors were cancelled

    assert foreign.watching == 0


# -- links -------------------------------------------------------------------------------------


def link_both_ways(local: pykka.ActorRef[Any], foreign: LoopbackRef, local_first: bool) -> None:
    sv.link(*((local, foreign) if local_first else (foreign, local)))


@pytest.mark.parametrize("local_first", [True, False], ids=["link(local,foreign)", "reversed"])
def test_a_crashing_foreign_actor_kills_the_linked_local_one_with_its_reason(
    local_first: bool,
) -> None:
    local, foreign = Worker.start("local"), loopback()
    link_both_ways(local, foreign, local_first)

    reason = crash(foreign)

    assert exit_reason(local) is reason


@pytest.mark.parametrize("local_first", [True, False], ids=["link(local,foreign)", "reversed"])
def test_a_trapping_local_actor_gets_exit_from_a_foreign_one(local_first: bool) -> None:
    trapper, inbox = recorder(trap=True)
    crashing, stopping = loopback("crashing"), loopback("stopping")
    link_both_ways(trapper, crashing, local_first)
    link_both_ways(trapper, stopping, local_first)

    reason = crash(crashing)
    assert get(inbox) == exit_of(crashing, reason)
    stopping.ref.stop()
    assert get(inbox) == exit_of(stopping, sv.NORMAL)
    assert_alive(trapper)


@pytest.mark.parametrize("local_first", [True, False], ids=["link(local,foreign)", "reversed"])
def test_a_crashing_local_actor_kills_the_linked_foreign_one_through_sv_signal(
    local_first: bool,
) -> None:
    local, foreign = Worker.start("local"), loopback()
    link_both_ways(local, foreign, local_first)

    reason = crash(local)

    assert exit_reason(foreign.ref) is reason
    assert ("sv_signal", (local, reason)) in foreign.calls


def test_a_normal_exit_of_a_foreign_actor_does_not_kill_the_linked_local_one() -> None:
    local, foreign = Worker.start("local"), loopback()
    sv.link(local, foreign)

    foreign.ref.stop()
    foreign.flush()  # the exit signal, had there been one, passed the ask below

    assert_alive(local)


def test_a_normal_exit_of_a_local_actor_does_not_kill_the_linked_foreign_one() -> None:
    local, foreign = Worker.start("local"), loopback()
    sv.link(local, foreign)

    local.stop()  # returns once its links were told

    assert ("sv_signal", (local, sv.NORMAL)) in foreign.calls
    assert_alive(foreign.ref)


def test_a_cut_kills_the_linked_local_actor_with_noconnection() -> None:
    local, foreign = Worker.start("local"), loopback()
    sv.link(local, foreign)

    foreign.cut()

    assert exit_reason(local) == NOCONNECTION
    assert_alive(foreign.ref)  # the node is only unreachable


@pytest.mark.parametrize("foreign_dies", [True, False], ids=["foreign dies", "local dies"])
@pytest.mark.parametrize("local_first", [True, False], ids=["unlink(local,foreign)", "reversed"])
def test_after_unlink_neither_death_kills_the_other(foreign_dies: bool, local_first: bool) -> None:
    local, foreign = Worker.start("local"), loopback()
    sv.link(local, foreign)

    sv.unlink(*((local, foreign) if local_first else (foreign, local)))

    assert foreign.watching == 0
    if foreign_dies:
        crash(foreign)
        foreign.flush()
        assert_alive(local)
    else:
        crash(local)
        assert not any(name == "sv_signal" for name, _ in foreign.calls)
        assert_alive(foreign.ref)


def test_linking_twice_to_a_foreign_actor_is_one_link() -> None:
    trapper, inbox = recorder(trap=True)
    foreign = loopback()
    sv.link(trapper, foreign)
    sv.link(foreign, trapper)
    sv.link(trapper, LoopbackRef(foreign.ref))  # another ref to the same actor
    assert foreign.watching == 1

    foreign.ref.stop()
    foreign.flush()  # any Exit has been put in the trapper's mailbox by now

    assert trapper.ask("sync", timeout=WAIT) == "sync"
    assert [get(inbox), get(inbox)] == [exit_of(foreign, sv.NORMAL), "sync"]
    assert inbox.empty()


def test_linking_to_a_dead_foreign_actor_signals_noproc_at_once() -> None:
    local, foreign = Worker.start("local"), loopback()
    foreign.ref.stop()

    sv.link(local, foreign)

    assert exit_reason(local) == NOPROC


@pytest.mark.parametrize(
    "foreign",
    [False, True],
    ids=["local", "foreign"],
)
def test_a_trapping_actor_linking_twice_to_a_dead_actor_gets_two_exits(foreign: bool) -> None:
    """As with a local actor: no link is recorded to a dead one, so each link() signals."""
    trapper, inbox = recorder(trap=True)
    dead: Any = Worker.start()
    dead.stop()
    if foreign:
        dead = LoopbackRef(dead)

    sv.link(trapper, dead)
    sv.link(trapper, dead)

    assert trapper.ask("sync", timeout=WAIT) == "sync"  # the Exits were queued by link()
    exit_ = exit_of(dead, NOPROC if foreign else sv.NORMAL)
    assert [get(inbox) for _ in range(inbox.qsize())] == [exit_, exit_, "sync"]


def test_linking_two_foreign_refs_is_done_by_the_first_one() -> None:
    a, b = loopback("a"), loopback("b")

    sv.link(a, b)

    assert a.calls == [("sv_link", b)]
    assert b.calls == []
    reason = crash(b)
    assert exit_reason(a.ref) is reason


def test_unlinking_two_foreign_refs_is_done_by_the_first_one() -> None:
    a, b = loopback("a"), loopback("b")
    sv.link(a, b)

    sv.unlink(a, b)

    assert a.calls == [("sv_link", b), ("sv_unlink", b)]
    assert b.calls == []
    crash(b)
    b.flush()
    assert_alive(a.ref)


class StateInRepr(LoopbackRef):
    """A carrier whose repr shows its state (its pending watches), as STYLE.md #10 asks."""

    def __repr__(self) -> str:
        return f"<LoopbackRef {NODE} {self.ref.actor_urn} watches={len(self._watches)}>"


class NameInRepr(LoopbackRef):
    """A carrier whose repr names the node and the actor class only (not unique)."""

    def __repr__(self) -> str:
        return f"<LoopbackRef {NODE} {self.ref.actor_class.__name__}>"


def test_a_foreign_ref_whose_repr_shows_its_state_can_be_unlinked() -> None:
    local, foreign = Worker.start("local"), StateInRepr(Worker.start())
    sv.link(local, foreign)

    sv.unlink(local, foreign)

    crash(foreign)
    foreign.flush()
    assert_alive(local)


def test_two_foreign_refs_with_the_same_repr_are_two_links() -> None:
    local = Worker.start("local")
    first, second = NameInRepr(Worker.start("a")), NameInRepr(Worker.start("b"))
    sv.link(local, first)

    sv.link(local, second)

    assert second.watching == 1  # fails at once rather than waiting for a death that never comes
    reason = crash(second)
    assert exit_reason(local) is reason


# -- exit --------------------------------------------------------------------------------------


@pytest.mark.parametrize(
    "reason", [sv.SHUTDOWN, sv.NORMAL, ValueError("killed")], ids=["shutdown", "normal", "error"]
)
def test_exit_of_a_foreign_ref_stops_its_actor_with_the_reason(reason: sv.ExitReason) -> None:
    foreign = loopback()

    sv.exit(foreign, reason)

    assert exit_reason(foreign.ref) is reason
    assert foreign.calls == [("sv_exit", reason)]


# -- supervisors -------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("strategy", "restarted", "journal_after"),
    [
        ("one_for_one", "b", ["start b"]),
        ("one_for_all", "abc", ["stop c", "stop a", "start a", "start b", "start c"]),
        ("rest_for_one", "bc", ["stop c", "start b", "start c"]),
    ],
)
def test_a_crashing_foreign_child_is_restarted_with_its_siblings_per_strategy(
    strategy: Any,
    restarted: str,
    journal_after: list[str],
) -> None:
    journal: list[str] = []
    spawn_b, spawn_c = Spawner("b", journal), Spawner("c", journal)
    sup = sv.start_supervisor(
        [
            sv.ChildSpec("a", Worker, args=("a", journal)),  # a local sibling
            sv.ChildSpec("b", start=spawn_b),
            sv.ChildSpec("c", start=spawn_c),
        ],
        strategy=strategy,
        intensity=3,
    )
    old = {i: sup.child(i) for i in "abc"}
    assert old["b"] is spawn_b.next() and old["c"] is spawn_c.next()

    crash(old["b"])
    new_b = spawn_b.next()  # the factory is called again
    settled(sup)

    assert new_b is not old["b"] and isinstance(new_b, LoopbackRef)
    assert_alive(new_b.ref)
    assert spawn_c.made.qsize() == (1 if "c" in restarted else 0)
    for i in "abc":
        assert (sup.child(i) is not old[i]) == (i in restarted), i
    if "c" in restarted:
        assert exit_reason(old["c"].ref) is sv.SHUTDOWN
    assert journal[3:] == journal_after
    assert sup.statistics().restarts == 1


def test_a_transient_foreign_child_that_stops_normally_is_not_restarted() -> None:
    spawn = Spawner("t", [])
    sup = sv.start_supervisor([sv.ChildSpec("t", start=spawn, restart="transient")], intensity=3)
    first = spawn.next()

    first.ref.stop()
    first.flush()  # the supervisor has been told
    settled(sup)

    assert sup.child("t") is None
    assert [i.id for i in sup.which_children()] == ["t"]
    assert spawn.made.empty()
    assert sup.statistics().restarts == 0


def test_a_transient_foreign_child_that_crashes_is_restarted() -> None:
    spawn = Spawner("t", [])
    sup = sv.start_supervisor([sv.ChildSpec("t", start=spawn, restart="transient")], intensity=3)

    crash(spawn.next())
    second = spawn.next()
    settled(sup)

    assert sup.child("t") is second


def test_a_cut_foreign_child_is_restarted() -> None:
    spawn = Spawner("w", [])
    sup = sv.start_supervisor([sv.ChildSpec("w", start=spawn)], intensity=3)
    first = spawn.next()

    first.cut()
    second = spawn.next()
    settled(sup)

    assert sup.child("w") is second and second != first
    assert sup.statistics().restarts == 1
    assert_alive(first.ref)  # unreachable, not dead: the tree fixture stops it


@pytest.mark.parametrize("foreign", [False, True], ids=["local", "foreign"])
def test_too_many_restarts_of_a_child_make_the_supervisor_escalate(foreign: bool) -> None:
    journal: list[str] = []
    spawn_w = Spawner("w", journal, foreign=foreign)
    spawn_s = Spawner("s", journal, foreign=foreign)
    sup = sv.start_supervisor(
        [sv.ChildSpec("s", start=spawn_s), sv.ChildSpec("w", start=spawn_w)],
        intensity=5,
        period=60.0,
    )
    sibling, child = spawn_s.next(), spawn_w.next()

    for _ in range(5):
        crash(child)
        child = spawn_w.next()
    crash(child)  # the sixth restart within the period is one too many

    assert exit_reason(sup.ref) is sv.SHUTDOWN
    stats = sup.statistics()
    assert stats.escalated
    assert stats.restarts == 5
    assert stats.active == 0
    assert not sup.is_alive()
    assert spawn_w.made.empty()
    assert exit_reason(sibling.ref if foreign else sibling) is sv.SHUTDOWN
    assert journal[-1] == "stop s"


def test_terminate_child_stops_a_foreign_child_with_shutdown_and_restart_child_respawns() -> None:
    spawn = Spawner("w", [])
    sup = sv.start_supervisor([sv.ChildSpec("w", start=spawn)])
    first = spawn.next()

    sup.terminate_child("w", timeout=WAIT)

    assert exit_reason(first.ref) is sv.SHUTDOWN
    assert first.calls == [("sv_exit", sv.SHUTDOWN)]
    assert sup.child("w") is None
    second = sup.restart_child("w", timeout=WAIT)
    assert second is spawn.next() and second is sup.child("w")
    assert sup.statistics().restarts == 0


def test_stop_of_the_supervisor_stops_its_foreign_children_with_shutdown() -> None:
    journal: list[str] = []
    spawn_a, spawn_b = Spawner("a", journal), Spawner("b", journal)
    sup = sv.start_supervisor([sv.ChildSpec("a", start=spawn_a), sv.ChildSpec("b", start=spawn_b)])
    a, b = spawn_a.next(), spawn_b.next()

    sup.stop(timeout=WAIT)

    assert exit_reason(a.ref) is sv.SHUTDOWN
    assert exit_reason(b.ref) is sv.SHUTDOWN
    assert journal == ["start a", "start b", "stop b", "stop a"]
    assert exit_reason(sup.ref) is sv.NORMAL


def test_a_foreign_child_is_reported_by_child_and_which_children() -> None:
    spawn = Spawner("w", [])
    sup = sv.start_supervisor([sv.ChildSpec("w", start=spawn, restart="transient")])
    foreign = spawn.next()

    assert sup.child("w") is foreign
    assert sup.which_children() == [sv.ChildInfo("w", foreign, "transient")]


@pytest.fixture
def plain_child(plain_actors: list[pykka.ActorRef[Any]]) -> Callable[[], LoopbackRef]:
    """A start factory returning a LoopbackRef around a new plain Pykka actor."""

    def start() -> LoopbackRef:
        plain_actors.append(plain := Plain.start())
        return LoopbackRef(plain)

    return start


def test_a_foreign_child_around_a_plain_actor_makes_start_supervisor_raise(
    plain_child: Callable[[], LoopbackRef],
) -> None:
    with pytest.raises(sv.StartError) as caught:
        sv.start_supervisor([sv.ChildSpec("w", start=plain_child)])

    assert caught.value.child_id == "w"
    assert isinstance(caught.value.__cause__, TypeError)


def test_start_child_of_a_foreign_ref_around_a_plain_actor_raises_and_the_supervisor_lives(
    plain_child: Callable[[], LoopbackRef],
) -> None:
    sup = sv.start_dynamic_supervisor()
    sibling = sup.start_child(sv.ChildSpec("s", Worker), timeout=WAIT)

    with pytest.raises(sv.StartError) as caught:
        sup.start_child(sv.ChildSpec("w", start=plain_child), timeout=WAIT)

    assert caught.value.child_id == "w"
    assert sup.is_alive()
    assert_alive(sibling)


def test_a_dynamic_supervisor_starts_and_terminates_foreign_children() -> None:
    spawn = Spawner("w", [])
    sup = sv.start_dynamic_supervisor()

    foreign = sup.start_child(sv.ChildSpec("w", start=spawn), timeout=WAIT)

    assert foreign is spawn.next()
    assert [i.ref for i in sup.which_children()] == [foreign]
    sup.terminate_child(LoopbackRef(foreign.ref), timeout=WAIT)  # found by equality
    assert exit_reason(foreign.ref) is sv.SHUTDOWN
    assert sup.which_children() == []


@pytest.mark.parametrize(
    ("kwargs", "error"),
    [
        ({"actor_class": Worker, "start": Worker.start}, TypeError),
        ({"args": (1,), "start": Worker.start}, TypeError),
        ({"kwargs": {"name": "x"}, "start": Worker.start}, TypeError),
        ({"start": "Worker.start"}, TypeError),
        ({"start": None}, TypeError),
    ],
    ids=["with actor_class", "with args", "with kwargs", "not callable", "neither"],
)
def test_a_child_spec_takes_start_alone_and_callable(kwargs: dict[str, Any], error: Any) -> None:
    with pytest.raises(error):
        sv.ChildSpec("w", **kwargs)

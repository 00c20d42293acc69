"""Pending replies and the reply slot, without sockets: ids, delivery, late replies, the end."""

from __future__ import annotations

import threading

from genrpc_actors import BadTcp
from genrpc_actors import _protocol as wire
from genrpc_actors._client._pending import PendingReplies
from genrpc_actors._client._reply import Reply
from tests.waiting import WAIT


def reply_payload(request_id: int, value: object) -> bytes:
    body, flags = wire.encode_body(value)
    assert isinstance(body, bytes)
    return wire.message(wire.REPLY, flags, request_id, body)[4:]  # without the length prefix


def test_each_reply_goes_to_the_slot_of_its_id_and_is_counted():
    pending = PendingReplies()
    ids = [next(pending.ids) for _ in range(3)]
    assert ids == [1, 2, 3]
    slots = [Reply() for _ in ids]
    for request_id, slot in zip(ids, slots, strict=True):
        pending.slots[request_id] = slot
    payloads = [reply_payload(3, "c"), reply_payload(1, "a")]
    pending.deliver(payloads)
    assert [slot.done for slot in slots] == [True, False, True]
    assert slots[0].raw is not None
    kind, flags, body = slots[0].raw
    assert (kind, wire.decode_body(body, flags)) == (wire.REPLY, "a")
    assert len(pending) == 1
    assert pending.received == 2
    assert pending.bytes_received == sum(len(p) + 4 for p in payloads)


def test_a_forgotten_id_drops_its_late_reply():
    pending = PendingReplies()
    slot = Reply()
    pending.slots[next(pending.ids)] = slot
    pending.forget(1)
    pending.deliver([reply_payload(1, "late")])
    assert not slot.done
    assert pending.received == 1
    assert len(pending) == 0


def test_take_all_empties_the_table_for_the_end_of_a_connection():
    pending = PendingReplies()
    slots = [Reply(), Reply()]
    for slot in slots:
        pending.slots[next(pending.ids)] = slot
    taken = pending.take_all()
    assert taken == slots
    assert len(pending) == 0
    pending.deliver([reply_payload(1, "after the end")])
    assert not any(slot.done for slot in slots)


def test_a_reply_is_set_once_and_seen_by_every_waiter():
    slot = Reply()
    seen: list[bool] = []
    waiters = [threading.Thread(target=lambda: seen.append(slot.wait(WAIT))) for _ in range(5)]
    for waiter in waiters:
        waiter.start()
    slot.set_raw(wire.REPLY, 0, b"first")
    slot.set_error(BadTcp("closed"))  # too late: the first outcome stays
    for waiter in waiters:
        waiter.join(WAIT)
    assert seen == [True] * 5
    assert (slot.raw, slot.error) == ((wire.REPLY, 0, b"first"), None)


def test_wake_hands_the_reading_role_without_an_outcome():
    slot = Reply()
    assert slot.wake()
    assert not slot.wake()  # once until it is taken back
    assert slot.wait_turn(0)  # woken: the turn is ours, the gate closed again
    assert not slot.done
    assert not slot.wait_turn(0.01)  # nothing more until woken or set
    slot.set_error(BadTcp("closed"))
    assert not slot.wake()  # an outcome is there: nothing to wake for
    assert slot.wait_turn(0)
    assert slot.wait(0)


def test_callbacks_run_once_when_set_or_at_once_when_already_set():
    slot = Reply()
    calls: list[Reply] = []
    slot.add_callback(calls.append)
    assert calls == []
    slot.set_raw(wire.REPLY, 0, b"")
    slot.add_callback(calls.append)
    assert calls == [slot, slot]
    assert not Reply().wait(0.01)

"""The calls of one connection that await a reply, by request id.

Callers add their slot before their request leaves; whoever reads the connection hands each
reply to its slot (``deliver``); a caller that gives up forgets its id, so a late reply is
dropped; when the connection ends, every slot still here gets the error (``take_all``).

A caller takes an id with ``next(pending.ids)`` and puts its slot straight into
``pending.slots``: on the hot path a method call each would cost more than the bookkeeping.
"""

from __future__ import annotations

import itertools

from genrpc_actors._client._reply import Reply
from genrpc_actors._protocol import PONG, Payload, parse_message

__all__ = ["PendingReplies"]


class PendingReplies:
    """Request ids, the slots awaiting their replies, and what was received for them."""

    __slots__ = ("bytes_received", "ids", "received", "slots")

    def __init__(self) -> None:
        self.ids = itertools.count(1)  # request ids
        self.slots: dict[int, Reply] = {}  # the slots awaiting replies, by request id
        self.received = 0  # frames
        self.bytes_received = 0

    def __len__(self) -> int:
        return len(self.slots)

    def __repr__(self) -> str:
        return f"<PendingReplies {len(self.slots)} received={self.received}>"

    def forget(self, request_id: int) -> None:
        """The caller gave up: a late reply will be dropped."""
        self.slots.pop(request_id, None)

    def take_all(self) -> list[Reply]:
        """Every slot still waiting, removed (the connection has ended)."""
        slots, self.slots = self.slots, {}
        return list(slots.values())

    def deliver(self, payloads: list[Payload]) -> bool:
        """Hand each received reply to its slot (a reply nobody waits for is dropped); False if
        they were only PONGs (the peer lives, but nothing was answered)."""
        slots = self.slots
        replies = False
        for payload in payloads:
            kind, flags, request_id, body = parse_message(payload)
            self.bytes_received += len(payload) + 4
            if kind == PONG:  # a heartbeat's answer: counted as bytes, not as a reply
                continue
            self.received += 1
            replies = True
            slot = slots.pop(request_id, None)
            if slot is not None:
                slot.set_raw(kind, flags, body)
        return replies

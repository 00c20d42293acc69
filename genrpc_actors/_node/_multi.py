"""Calls to many nodes at once: ``multicall``, ``eval_everywhere``, ``abcast``, ``sbcast``.

Every request goes out before any reply is awaited, and one deadline bounds the whole operation
(gen_rpc waits for each node in turn, each with the full timeout). Results come back in the order
of the ``nodes`` given (gen_rpc reverses them).
"""

from __future__ import annotations

import logging
import time
from collections.abc import Iterable, Iterator
from dataclasses import dataclass, field
from typing import Any

from genrpc_actors import _protocol
from genrpc_actors._client._connection import Connection
from genrpc_actors._client._reply import Reply
from genrpc_actors._errors import BadRpc, RpcError
from genrpc_actors._node._requests import check_target, node_name, resolve, timed_out
from genrpc_actors._node._routing import Router

__all__ = [
    "MultiResult",
    "broadcast",
    "collect_calls",
    "delivered_by",
    "eval_everywhere",
    "multicall",
    "send_broadcast",
    "send_calls",
    "targets_of",
]

logger = logging.getLogger("genrpc_actors")


@dataclass(frozen=True)
class MultiResult:
    """What ``multicall`` returns: unpack it as ``results, bad_nodes = ...``.

    ``results`` holds the values of the nodes that answered, ``bad_nodes`` the nodes that did not
    (unreachable, timeout, remote exception, unauthorized, incompatible), both in the order of
    the nodes asked; ``errors`` maps each bad node to its exception.
    """

    results: list[Any]
    bad_nodes: list[Any]
    errors: dict[Any, RpcError] = field(default_factory=dict)

    def __iter__(self) -> Iterator[list[Any]]:
        return iter((self.results, self.bad_nodes))

    def __len__(self) -> int:
        return 2


def targets_of(router: Router, nodes: Iterable[Any] | None) -> list[Any]:
    """The nodes a multi-node call goes to: ``None`` is this node and every node that is up."""
    router.check_running()
    if nodes is None:
        return [router.name, *router.nodes()]
    if isinstance(nodes, str | tuple) or not isinstance(nodes, Iterable):
        raise TypeError(f"nodes must be a list of nodes or None, not {nodes!r}")
    return [check_target(node) for node in nodes]


Call = tuple[Any, Connection | None, int, Reply | None, RpcError | None]  # a call on its way


def multicall(
    router: Router, targets: list[Any], body: _protocol.Body, flags: int, wait: float | None
) -> MultiResult:
    """Send the request to every target at once, then collect; one deadline (``wait``) for all."""
    sent = send_calls(router, targets, body, flags, block=True)
    deadline = None if wait is None else time.monotonic() + wait
    for _, _, _, slot, _ in sent:
        if slot is not None:
            slot.wait(None if deadline is None else max(0.0, deadline - time.monotonic()))
    return collect_calls(router, sent, wait)


def send_calls(
    router: Router, targets: list[Any], body: _protocol.Body, flags: int, *, block: bool
) -> list[Call]:
    """Send a CALL to every target: ``(target, connection, request id, slot, refusal)`` each."""
    sent: list[Call] = []
    for target in targets:
        try:
            connection, request_id, slot = router.submit(
                target, _protocol.CALL, body, flags, None, reply=True, block=block
            )
            sent.append((target, connection, request_id, slot, None))
        except RpcError as exc:
            sent.append((target, None, 0, None, exc))
    return sent


def collect_calls(router: Router, sent: list[Call], wait: float | None) -> MultiResult:
    """The ``MultiResult`` of calls whose time is up: those without a reply yet are cancelled
    and fail with ``timeout`` (``wait``, for its message)."""
    results: list[Any] = []
    bad: list[Any] = []
    errors: dict[Any, RpcError] = {}
    control = router.control
    for target, connection, request_id, slot, refused in sent:
        failure = refused
        if failure is None and slot is not None:
            if slot.done:
                try:
                    results.append(resolve(slot, control.reply_unpickling, control.max_nesting))
                    continue
                except RpcError as exc:
                    failure = exc
            else:
                if connection is not None:
                    connection.cancel(request_id)
                failure = timed_out(target, connection, wait)
        bad.append(target)
        errors[target] = failure if failure is not None else timed_out(target, None, wait)
    return MultiResult(results, bad, errors)


def eval_everywhere(
    router: Router,
    targets: list[Any],
    body: _protocol.Body,
    flags: int,
    send_timeout: float | None,
) -> None:
    """Cast the request to every target (fire and forget)."""
    for target in targets:
        try:
            router.submit(target, _protocol.CAST, body, flags, send_timeout, reply=False)
        except RpcError as exc:
            logger.debug("event=cast_dropped node=%s reason=%r", node_name(target), exc.reason)


Sent = tuple[Any, Connection | None, int, Reply | None, bool]  # a broadcast on its way


def broadcast(
    router: Router, kind: int, targets: list[Any], name: str, msg: Any, wait: float | None
) -> tuple[list[Any], list[Any]]:
    """``tell(msg)`` to the actor named ``name`` on every target (ABCAST), and with SBCAST wait
    until ``wait``: ``(good, bad)``, good ones had ``name`` and got ``msg``."""
    pending = send_broadcast(router, kind, targets, name, msg, block=True)
    good: list[Any] = []
    bad: list[Any] = []
    deadline = None if wait is None else time.monotonic() + wait
    for target, connection, request_id, slot, delivered_here in pending:
        delivered = delivered_here
        if slot is not None:
            remaining = None if deadline is None else max(0.0, deadline - time.monotonic())
            delivered = slot.wait(remaining) and delivered_by(slot, router)
            if not slot.done and connection is not None:
                connection.forget(request_id)
        (good if delivered else bad).append(target)
    return good, bad


def send_broadcast(
    router: Router, kind: int, targets: list[Any], name: str, msg: Any, *, block: bool
) -> list[Sent]:
    """Send an ABCAST or SBCAST to every target: ``(target, connection, request id, reply slot,
    delivered here)`` each (``block``: as ``Connection.request``'s)."""
    if not isinstance(name, str) or not name:
        raise TypeError(f"name must be a non-empty str, not {name!r}")
    try:
        body, flags = _protocol.encode_body((name, msg))
    except Exception as exc:
        raise BadRpc(("unpicklable_argument", f"{type(exc).__name__}: {exc}")) from exc
    pending: list[Sent] = []
    for target in targets:
        if node_name(target) == router.name:
            pending.append((target, None, 0, None, router.deliver_here(name, msg)))
            continue
        try:
            remote = router.connection_for(target)
            request_id, slot = remote.request(
                kind, flags, body, None, reply=kind == _protocol.SBCAST, block=block
            )
            pending.append((target, remote, request_id, slot, False))
        except RpcError:
            pending.append((target, None, 0, None, False))
    return pending


def delivered_by(slot: Reply, router: Router) -> bool:
    """Whether an SBCAST's reply says the name was there and got the message."""
    try:
        control = router.control
        return resolve(slot, control.reply_unpickling, control.max_nesting) is True
    except RpcError:
        return False

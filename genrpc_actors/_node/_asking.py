"""One ASK (or PROBE) from this node: what ``RemoteActorRef.ask`` and ``is_alive`` send."""

from __future__ import annotations

import functools
from collections.abc import Mapping, Sequence
from typing import Any

from genrpc_actors import _protocol
from genrpc_actors._client._reply import AsyncKey, Reply
from genrpc_actors._errors import BadRpc, RpcError
from genrpc_actors._execution._timers import Scheduler
from genrpc_actors._node._requests import expire, resolve, wait_reply
from genrpc_actors._node._routing import Router

__all__ = ["ask", "spawn"]


def ask(
    router: Router,
    timers: Scheduler,
    wait: float | None,
    target: str,
    name: str,
    message: Any,
    *,
    block: bool,
    probe: bool = False,
) -> Any:
    """One ASK (or PROBE) to ``name`` on ``target``: its outcome, or an ``AsyncKey``."""
    try:
        body, flags = _protocol.encode_body((name, message))
    except Exception as exc:
        raise BadRpc(("unpicklable_argument", f"{type(exc).__name__}: {exc}")) from exc
    if probe:
        flags |= _protocol.PROBE
    control = router.control
    resolving = functools.partial(
        resolve, allowed=control.reply_unpickling, max_nesting=control.max_nesting
    )
    try:
        connection, request_id, slot = router.submit(
            target, _protocol.ASK, body, flags, None, reply=True, lead=block
        )
    except RpcError as exc:
        if block:
            raise
        connection, request_id, slot = None, 0, Reply()
        slot.set_error(exc)
    assert slot is not None
    if not block:
        if wait is not None and not slot.done:
            timers.call_later(
                wait, functools.partial(expire, target, connection, request_id, slot, wait)
            )
        return AsyncKey(target, slot, resolving)
    wait_reply(target, connection, request_id, slot, wait)
    return resolving(slot)


def spawn(
    router: Router,
    wait: float | None,
    target: Any,
    actor_class: Any,
    args: Any,
    kwargs: Any,
    name: Any,
) -> tuple[str, str, bool]:
    """One SPAWN to ``target``: ``(node, name)`` of the actor started there, and whether it is
    a ``supervision.SupervisedActor``."""
    if isinstance(actor_class, str):
        if actor_class.count(":") != 1 or not all(actor_class.split(":")):
            raise ValueError(f"name the class as 'module:Class', not {actor_class!r}")
    elif not isinstance(actor_class, type):
        raise TypeError(f"actor_class must be 'module:Class' or a class, not {actor_class!r}")
    if isinstance(args, str | bytes) or not isinstance(args, Sequence):
        raise TypeError(f"args must be a sequence, not {type(args).__name__}")
    if kwargs is not None and not isinstance(kwargs, Mapping):
        raise TypeError(f"kwargs must be a mapping or None, not {type(kwargs).__name__}")
    if name is not None and (not isinstance(name, str) or not name):
        raise TypeError(f"name must be a non-empty str or None, not {name!r}")
    request = (actor_class, tuple(args), dict(kwargs or {}), name)
    try:
        body, flags = _protocol.encode_body(request)
    except Exception as exc:
        raise BadRpc(("unpicklable_argument", f"{type(exc).__name__}: {exc}")) from exc
    connection, request_id, slot = router.submit(
        target, _protocol.ASK, body, flags | _protocol.SPAWN, None, reply=True, lead=True
    )
    assert slot is not None
    wait_reply(target, connection, request_id, slot, wait)
    control = router.control
    node, actor_name, supervised = resolve(slot, control.reply_unpickling, control.max_nesting)
    return str(node), str(actor_name), bool(supervised)

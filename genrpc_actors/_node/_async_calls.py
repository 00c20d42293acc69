"""Calls from inside an event loop: ``acall``, ``amulticall``, ``asbcast``.

Nothing here blocks the loop. A request is handed to its connection without waiting for the
socket (the connection's writer thread sends it, its own thread connects and reads the reply);
the caller's task then awaits a future that the reply's arrival resolves through
``call_soon_threadsafe``. When the task is cancelled or its time is up, the remote node is told
(CANCEL): it drops the request, cancels its coroutine or kills its process worker.
"""

from __future__ import annotations

import asyncio
import contextlib
import functools
import weakref
from typing import Any

from genrpc_actors import _protocol
from genrpc_actors._client._connection import Connection
from genrpc_actors._client._reply import Reply
from genrpc_actors._node._multi import (
    MultiResult,
    collect_calls,
    delivered_by,
    send_broadcast,
    send_calls,
)
from genrpc_actors._node._requests import resolve, timed_out
from genrpc_actors._node._routing import Router

_running_loop = asyncio.events._get_running_loop  # noqa: SLF001 - the C accessor, no raise

__all__ = ["acall", "amulticall", "asbcast", "connections_for", "settled"]


async def settled(slot: Reply, wait: float | None = None) -> bool:
    """Wait, on the running loop, until ``slot`` has its outcome or ``wait`` seconds have
    passed (one timer handle, cheaper than ``asyncio.timeout``); whether it has one."""
    if slot.done:
        return True
    loop = asyncio.get_running_loop()
    future: asyncio.Future[None] = loop.create_future()
    slot.add_callback(functools.partial(_wake, loop, future))
    if wait is None:
        await future
        return True
    if wait < COARSE:
        timer = loop.call_later(wait, _settle, future)
        try:
            await future
        finally:
            timer.cancel()
        return slot.done
    bucket = _bucket(loop, loop.time() + wait)
    bucket.add(future)
    try:
        await future
    finally:
        bucket.discard(future)
    return slot.done


COARSE = 1.0  # seconds: a longer wait may end up to GRANULE late, and shares its timer
GRANULE = 0.1  # seconds: the waits that end within one share one timer handle
_buckets: weakref.WeakKeyDictionary[asyncio.AbstractEventLoop, dict[int, set[Any]]] = (
    weakref.WeakKeyDictionary()
)


def _bucket(loop: asyncio.AbstractEventLoop, deadline: float) -> set[Any]:
    """The futures of ``loop`` that time out at ``deadline`` rounded up to a GRANULE: one timer
    handle each (a handle per call costs a tenth of a sequential acall's CPU)."""
    slot = int(deadline / GRANULE) + 1
    buckets = _buckets.get(loop)
    if buckets is None:
        buckets = _buckets[loop] = {}
    bucket = buckets.get(slot)
    if bucket is None:
        bucket = buckets[slot] = set()
        loop.call_at(slot * GRANULE, _expire_bucket, buckets, slot)
    return bucket


def _expire_bucket(buckets: dict[int, set[Any]], slot: int) -> None:
    for future in buckets.pop(slot, ()):
        _settle(future)


def _wake(loop: asyncio.AbstractEventLoop, future: asyncio.Future[None], _reply: Reply) -> None:
    """A reply has come (in the thread that set it): the awaiting task may go on."""
    if _running_loop() is loop:  # the loop read it itself: no need to wake it
        _settle(future)
        return
    with contextlib.suppress(RuntimeError):  # the loop has closed: nobody waits
        loop.call_soon_threadsafe(_settle, future)


def _settle(future: asyncio.Future[None]) -> None:
    if not future.done():
        future.set_result(None)


async def connections_for(router: Router, targets: list[Any]) -> None:
    """Have a connection (being made) to each target: a new one is the dispatcher's to create
    (an actor to start, perhaps an external source to ask), in a thread, not on the loop. A
    target that cannot have one fails later, in ``submit``, as with a blocking call."""
    missing = [target for target in targets if not router.ready_for(target)]
    if missing:
        await asyncio.gather(
            *(asyncio.to_thread(router.connection_for, target) for target in missing),
            return_exceptions=True,
        )


async def acall(
    router: Router, target: Any, body: _protocol.Body, flags: int, wait: float | None
) -> Any:
    """One CALL awaited: the result, or the error ``call`` would raise."""
    if not router.ready_for(target):
        await connections_for(router, [target])
    connection, request_id, slot = router.submit(
        target, _protocol.CALL, body, flags, None, reply=True, lead=True, block=False
    )
    assert slot is not None
    if connection is not None:
        connection.await_in(asyncio.get_running_loop())
    try:
        answered = await settled(slot, wait)
    except asyncio.CancelledError:
        _give_up(connection, request_id)
        raise
    if not answered:
        _give_up(connection, request_id)
        raise timed_out(target, connection, wait)
    return resolve(slot, router.control.reply_unpickling, router.control.max_nesting)


async def amulticall(
    router: Router, targets: list[Any], body: _protocol.Body, flags: int, wait: float | None
) -> MultiResult:
    """``multicall`` awaited: every request out at once, one deadline for all."""
    await connections_for(router, targets)
    sent = send_calls(router, targets, body, flags, block=False)
    waits = [settled(slot) for _, _, _, slot, _ in sent if slot is not None]
    try:
        async with asyncio.timeout(wait):
            await asyncio.gather(*waits)
    except TimeoutError:
        pass  # collect_calls cancels and fails those still out
    except asyncio.CancelledError:
        for _, connection, request_id, slot, _ in sent:
            if slot is not None and not slot.done:
                _give_up(connection, request_id)
        raise
    return collect_calls(router, sent, wait)


async def asbcast(
    router: Router, targets: list[Any], name: str, msg: Any, wait: float | None
) -> tuple[list[Any], list[Any]]:
    """``sbcast`` awaited: ``(good, bad)``, in the order of ``targets``."""
    await connections_for(router, targets)
    pending = send_broadcast(router, _protocol.SBCAST, targets, name, msg, block=False)
    waits = [settled(slot) for _, _, _, slot, _ in pending if slot is not None]
    try:
        async with asyncio.timeout(wait):
            await asyncio.gather(*waits)
    except TimeoutError:
        pass  # the nodes that did not answer in time are bad
    except asyncio.CancelledError:
        for _, connection, request_id, slot, _ in pending:
            if slot is not None and not slot.done and connection is not None:
                connection.forget(request_id)
        raise
    good: list[Any] = []
    bad: list[Any] = []
    for target, connection, request_id, slot, delivered_here in pending:
        delivered = delivered_here
        if slot is not None:
            delivered = slot.done and delivered_by(slot, router)
            if not slot.done and connection is not None:
                connection.forget(request_id)
        (good if delivered else bad).append(target)
    return good, bad


def _give_up(connection: Connection | None, request_id: int) -> None:
    """The caller stopped waiting: the remote node is told (a call to this node runs on)."""
    if connection is not None:
        connection.cancel(request_id)

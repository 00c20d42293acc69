"""How a request reaches its target: the connection to ``(node, key)``, or this node itself.

The router is what every call path of a node shares (``call``, ``cast``, ``async_call``, the
multi-node calls and the broadcasts). A remote target's connection is looked up without a lock;
when there is none (or it has closed), the dispatcher actor creates it, one at a time per
target. A request to the node itself runs in its own worker pool, with the same checks and
outcomes as a remote one.
"""

from __future__ import annotations

import functools
import logging
from collections.abc import Awaitable, Callable
from typing import Any, cast

import pykka

from genrpc_actors import _protocol
from genrpc_actors._client._connection import Connection
from genrpc_actors._client._reply import Reply
from genrpc_actors._client._table import ClientTable
from genrpc_actors._errors import BadRpc, NoNodeError, RpcError
from genrpc_actors._execution._event_loop import EventLoop, close_awaitable
from genrpc_actors._execution._process_workers import ProcessWorkers
from genrpc_actors._execution._request import (
    AWAITED_KIND,
    Finish,
    ModuleControl,
    Outcome,
    run_request,
)
from genrpc_actors._execution._thread_pool import NoThread, WorkerPool
from genrpc_actors._node._call_times import CallRecorder, clock
from genrpc_actors._node._registry import Registry
from genrpc_actors._node._requests import node_name, resolve, wait_reply
from genrpc_actors._server._asks import ask_here

logger = logging.getLogger("genrpc_actors")

__all__ = ["Router"]


class Router:
    """Sends requests to their targets; see the module docstring.

    ``find_dispatcher()`` returns the node's dispatcher actor (or ``None`` when it does not
    run); ``stopped`` is set once the node stops, after which every request raises
    ``NoNodeError``.
    """

    __slots__ = (
        "_clients",
        "_dispatcher",
        "_find_dispatcher",
        "_loop",
        "_processes",
        "_registry",
        "_spawn",
        "_workers",
        "control",
        "name",
        "stopped",
    )

    def __init__(
        self,
        name: str,
        clients: ClientTable,
        workers: WorkerPool,
        control: ModuleControl,
        registry: Registry,
        find_dispatcher: Callable[[], pykka.ActorRef[Any] | None],
        processes: ProcessWorkers | None = None,
        loop: EventLoop | None = None,
        spawn: Callable[[str, int, Any], Outcome] | None = None,
    ) -> None:
        self.name, self.control = name, control
        self._loop = loop
        self._spawn = spawn
        self._clients, self._workers, self._registry = clients, workers, registry
        self._find_dispatcher = find_dispatcher
        self._dispatcher: pykka.ActorRef[Any] | None = None
        self._processes = processes
        self.stopped = False

    def __repr__(self) -> str:
        state = "stopped" if self.stopped else "running"
        return f"<Router {self.name} {state} connections={len(self._clients)}>"

    def check_running(self) -> None:
        if self.stopped:
            raise NoNodeError(("node_stopped", self.name), f"node {self.name} has been stopped")

    def nodes(self) -> list[str]:
        """Remote nodes with an open outgoing connection, sorted (keys count once)."""
        names = {node_name(target) for target in self._clients.open_targets()}
        names.discard(self.name)
        return sorted(names)

    def submit(
        self,
        target: Any,
        kind: int,
        body: _protocol.Body,
        flags: int,
        send_timeout: float | None,
        *,
        reply: bool,
        lead: bool = False,
        block: bool = True,
    ) -> tuple[Connection | None, int, Reply | None]:
        """Send a CALL or CAST to ``target``: ``(connection, request id, reply slot)``; the
        connection is ``None`` for this node itself, the slot ``None`` without ``reply``.
        Without ``block`` nothing waits for the socket (see ``Connection.request``)."""
        self.check_running()
        if node_name(target) == self.name:
            slot = Reply() if reply else None
            if kind == _protocol.ASK:  # in the actor's own thread, as a remote node's
                assert slot is not None
                data = body if isinstance(body, bytes) else b"".join(body)
                if flags & _protocol.SPAWN and self._spawn is not None:
                    slot.set_raw(*self._spawn(self.name, flags, data))
                else:
                    ask_here(self.control, self._registry.whereis, flags, data, slot.set_raw)
                return None, 0, slot
            processes = self._processes
            if processes is not None and processes.takes(flags, body):
                data = body if isinstance(body, bytes) else b"".join(body)
                done = slot.set_raw if slot is not None else None
                processes.submit(processes.ticket(flags, data, done))
            else:
                try:
                    self._workers.submit(self._run_here, flags, body, slot)
                except NoThread as exc:  # this node cannot run it: say so, as a remote one would
                    logger.warning("event=request_refused node=%s reason=%s", self.name, exc)
                    if slot is not None:
                        slot.set_error(BadRpc(("not_running", str(exc))))
            return None, 0, slot
        connection = self.connection_for(target)
        request_id, slot = connection.request(
            kind, flags, body, send_timeout, reply=reply, lead=lead, block=block
        )
        return connection, request_id, slot

    def call(
        self,
        target: Any,
        body: _protocol.Body,
        flags: int,
        send_timeout: float | None,
        wait: float | None,
        max_nesting: int,
        calls: CallRecorder | None,
    ) -> Any:
        """A CALL to ``target`` and its outcome, read by the caller (``Node.call`` once its
        arguments are checked and encoded); timed and counted into ``calls`` if given."""
        started = clock() if calls is not None else 0
        try:
            connection, request_id, slot = self.submit(
                target, _protocol.CALL, body, flags, send_timeout, reply=True, lead=True
            )
            assert slot is not None
            wait_reply(target, connection, request_id, slot, wait)
            result = resolve(slot, self.control.reply_unpickling, max_nesting)
        except RpcError as exc:
            if calls is not None:
                calls.failed(target, exc, started)
            raise
        if calls is not None:
            calls.ok(target, started)
        return result

    def _run_here(self, flags: int, body: _protocol.Body, slot: Reply | None) -> None:
        awaiting = functools.partial(self._await_here, slot)
        kind, out_flags, out = run_request(
            self.control, flags, body, reply=slot is not None, awaiting=awaiting
        )
        if slot is not None and kind != AWAITED_KIND:
            slot.set_raw(kind, out_flags, out)

    def _await_here(self, slot: Reply | None, awaitable: Awaitable[Any], finish: Finish) -> None:
        """A call to this node returned an awaitable: awaited on the node's loop, as a remote
        caller's would be."""
        handle = self._loop.task() if self._loop is not None else None
        if handle is None:
            close_awaitable(awaitable)
            if slot is not None:
                slot.set_error(BadRpc(("not_running", "event_loop")))
            return

        def done(ok: bool, value: Any) -> None:
            kind, flags, out = finish(ok, value)
            if slot is not None:
                slot.set_raw(kind, flags, out)

        assert self._loop is not None
        self._loop.start(handle, awaitable, done)

    def deliver_here(self, name: str, msg: Any) -> bool:
        """A broadcast to this node: ``tell`` the actor named ``name``, if module control allows."""
        return self.control.allows("pykka") and self._registry.deliver(name, msg)

    def ready_for(self, target: Any) -> bool:
        """Whether a request to ``target`` can be handed over without asking the dispatcher
        (this node itself, or a connection that is open): what an event loop may do inline."""
        if node_name(target) == self.name:
            return True
        connection = self._clients.get(target)
        return connection is not None and connection.error is None

    def connection_for(self, target: Any) -> Connection:
        """``target``'s open connection, created by the dispatcher if there is none."""
        connection = self._clients.get(target)
        if connection is not None and connection.error is None:  # not closed (no call)
            return connection
        dispatcher = self._dispatcher
        if dispatcher is None or not dispatcher.is_alive():
            dispatcher = self._find_dispatcher()
            if dispatcher is None:
                raise BadRpc(("not_running", "dispatcher"))
            self._dispatcher = dispatcher
        try:
            found = cast("Connection", dispatcher.ask(target))
        except pykka.ActorDeadError:
            raise BadRpc(("not_running", "dispatcher")) from None
        return found

"""What ``RemoteActorRef`` sends so that ``supervision`` can link, monitor and supervise the
actor it names (its ``ForeignRef`` protocol): SUPERVISE requests (see ``_server._supervising``).

A watch is a request whose reply comes when the actor dies (its exit reason), or never: the
connection's end fails it, and that is the node gone for this node, reason
``("noconnection", node)``. A probe sent right after it, on the same connection, comes back
after any answer the watch got at once: so ``watch`` knows, before it returns, whether the actor
could be watched at all (``TypeError`` if not, as for a local actor), and a dead one is
reported at once (``"noproc"``).
"""

from __future__ import annotations

import contextlib
import functools
import logging
from collections.abc import Callable
from typing import Any

from genrpc_actors import _protocol
from genrpc_actors._client._connection import Connection
from genrpc_actors._client._reply import Reply
from genrpc_actors._errors import BadRpc, RpcError
from genrpc_actors._node._requests import resolve, wait_reply
from genrpc_actors._node._routing import Router
from genrpc_actors._server._supervising import Watching, decode_reason, encode_reason

__all__ = ["ActorSupervision", "Here", "WatchToken"]

logger = logging.getLogger("genrpc_actors")

# This node's own SUPERVISE handling: (flags, body, send, watching)
Here = Callable[[int, _protocol.Body, Callable[[int, int, Any], None], Watching], None]
Probe = Callable[[str, str], Any]  # (node, name) -> whether a live actor has the name


class ActorSupervision:
    """What a node's ``RemoteActorRef``s send for ``supervision`` (``watch``, ``unwatch``,
    ``tell``, ``link``), through the node's router, and to the node itself through ``here``."""

    def __init__(self, router: Router, here: Here, probe: Probe, wait: float | None) -> None:
        self._router, self._here, self._probe, self._wait = router, here, probe, wait

    def __repr__(self) -> str:
        return f"<ActorSupervision {self._router.name}>"

    def watch(
        self, node: str, name: str, on_exit: Callable[[Any], None], *, known: bool = False
    ) -> WatchToken:
        """``known``: the actor was spawned by this node as a ``SupervisedActor``: the watch
        does not wait to learn whether it can be watched (a death meanwhile comes as news)."""
        probe = None if known else self._probe
        return watch(self._router, self._here, probe, node, name, on_exit)

    def unwatch(self, token: Any) -> None:
        if not isinstance(token, WatchToken):
            raise TypeError(f"expected what sv_watch returned, not {type(token).__name__}")
        unwatch(token)

    def tell(self, node: str, name: str, op: str, arg: Any) -> None:
        tell(self._router, self._here, node, name, op, arg)

    def link(self, node: str, name: str, op: str, other: Any) -> None:
        link(self._router, self._here, self._wait, node, name, op, other)


class WatchToken:
    """A watch, for ``unwatch``: its request on a connection, or this node's own watch."""

    __slots__ = ("cancelled", "connection", "request_id", "watching")

    def __init__(
        self, connection: Connection | None, request_id: int, watching: Watching | None
    ) -> None:
        self.connection, self.request_id, self.watching = connection, request_id, watching
        self.cancelled = False

    def __repr__(self) -> str:
        return f"<WatchToken #{self.request_id}{' cancelled' if self.cancelled else ''}>"


def watch(
    router: Router,
    here: Here,
    probe: Probe | None,
    node: str,
    name: str,
    on_exit: Callable[[Any], None],
) -> WatchToken:
    """Call ``on_exit(reason)`` once the actor ``name`` on ``node`` dies or its node goes
    down for this one; ``TypeError`` if it is not a ``supervision.SupervisedActor``."""
    body, flags = _protocol.encode_body(("watch", name, None))
    if node == router.name:
        slot, watching = Reply(), Watching()
        here(flags, body, slot.set_raw, watching)
        token = WatchToken(None, 0, watching)
    else:
        try:
            connection, request_id, reply = router.submit(
                node, _protocol.SUPERVISE, body, flags, None, reply=True
            )
        except RpcError as exc:
            if not exc.transient:
                raise
            on_exit(("noconnection", node))  # it cannot be reached: down at once
            return WatchToken(None, 0, None)
        assert reply is not None
        slot, token = reply, WatchToken(connection, request_id, None)
        if probe is not None:
            with contextlib.suppress(RpcError):
                probe(node, name)  # after it, whatever the watch was answered at once is here
    if slot.done and slot.error is None:
        _refuse_at_once(router, slot)  # not_supervised, unauthorized: raised, never told
    slot.add_callback(functools.partial(_told, router, node, token, on_exit))
    return token


def unwatch(token: WatchToken) -> None:
    """No ``on_exit`` for this watch afterwards; the remote node forgets it (a CANCEL)."""
    token.cancelled = True
    if token.watching is not None:
        token.watching.cancel()
    elif token.connection is not None:
        token.connection.cancel(token.request_id)


def tell(router: Router, here: Here, node: str, name: str, op: str, arg: Any) -> None:
    """``"exit"`` (``arg``: a reason) or ``"signal"`` (``arg``: ``(sender, reason)``): sent,
    never answered; a node that cannot be reached is left alone (its watches report it)."""
    wire = encode_reason(arg) if op == "exit" else (arg[0], encode_reason(arg[1]))
    try:
        body, flags = _protocol.encode_body((op, name, wire))
    except Exception as exc:  # a sender that cannot be sent (no node to export it)
        raise BadRpc(("unpicklable_argument", f"{type(exc).__name__}: {exc}")) from exc
    if node == router.name:
        here(flags, body, _drop, Watching())
        return
    try:
        router.submit(node, _protocol.SUPERVISE, body, flags, None, reply=False)
    except RpcError as exc:
        logger.info("event=supervise_unsent node=%s op=%s reason=%r", node, op, exc.reason)


def link(
    router: Router, here: Here, wait: float | None, node: str, name: str, op: str, other: Any
) -> None:
    """``"link"`` or ``"unlink"`` the actor ``name`` on ``node`` and ``other``, there."""
    try:
        body, flags = _protocol.encode_body((op, name, other))
    except Exception as exc:
        raise BadRpc(("unpicklable_argument", f"{type(exc).__name__}: {exc}")) from exc
    if node == router.name:
        slot = Reply()
        here(flags, body, slot.set_raw, Watching())
        connection, request_id = None, 0
    else:
        connection, request_id, reply = router.submit(
            node, _protocol.SUPERVISE, body, flags, None, reply=True, lead=True
        )
        assert reply is not None
        slot = reply
    wait_reply(node, connection, request_id, slot, wait)
    control = router.control
    resolve(slot, control.reply_unpickling, control.max_nesting)


def _refuse_at_once(router: Router, slot: Reply) -> None:
    """A watch answered at once with an error other than ``noproc`` was refused: raise it."""
    assert slot.raw is not None
    if slot.raw[0] != _protocol.ERROR:
        return
    control = router.control
    try:
        resolve(slot, control.reply_unpickling, control.max_nesting)
    except BadRpc as exc:
        if exc.reason == "noproc":
            return
        if isinstance(exc.reason, tuple) and exc.reason[0] == "not_supervised":
            raise TypeError(f"{exc.reason[1]} (there, it cannot be watched)") from exc
        raise


def _told(
    router: Router, node: str, token: WatchToken, on_exit: Callable[[Any], None], slot: Reply
) -> None:
    """The watch's reply (or the connection's end): ``on_exit`` with the reason."""
    if token.cancelled:
        return
    token.cancelled = True  # once
    on_exit(_reason(router, node, slot))


def _reason(router: Router, node: str, slot: Reply) -> Any:
    if slot.error is not None:
        return ("noconnection", node)
    control = router.control
    try:
        wire = resolve(slot, control.reply_unpickling, control.max_nesting)
    except BadRpc as exc:
        return "noproc" if exc.reason == "noproc" else exc.reason
    return decode_reason(wire, control.reply_unpickling, control.max_nesting)


def _drop(*_reply: Any) -> None:
    pass

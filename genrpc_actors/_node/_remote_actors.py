"""Actors on other nodes: ``RemoteActorRef`` (tell, ask, proxy, is_alive) and its proxy.

A ``RemoteActorRef`` names an actor by its node and its registered name; making one costs no
round trip, and it is equal and hashable by the two. ``tell`` is an ABCAST to one node (dropped
when no actor has the name); ``ask`` is one ASK round trip, handled on the remote node in the
actor's own thread, as Pykka's ``ask``; ``proxy()`` sends Pykka's own proxy messages the same
way, so the actor runs the method or reads the attribute itself. A ref works through the node
it was made by (``Node.actor``), else through the process's default node.
"""

from __future__ import annotations

from collections.abc import Callable, Generator, Hashable
from typing import Any, Protocol

from pykka.messages import ProxyCall, ProxyGetAttr

from genrpc_actors._client._reply import AsyncKey
from genrpc_actors._errors import NoNodeError, RpcError
from genrpc_actors._node._requests import check_target


class Supervising(Protocol):
    """What a ref's ``supervision`` methods go through: a node's ``ActorSupervision``."""

    def watch(
        self, node: str, name: str, on_exit: Callable[[Any], None], *, known: bool = False
    ) -> Hashable: ...
    def unwatch(self, token: Any) -> None: ...
    def tell(self, node: str, name: str, op: str, arg: Any) -> None: ...
    def link(self, node: str, name: str, op: str, other: Any) -> None: ...


class Via(Protocol):
    """What a ref works through: a node (``Node``)."""

    @property
    def _supervision(self) -> Supervising: ...

    def abcast(self, nodes: Any, name: str, msg: Any) -> None: ...

    def _ask_actor(
        self,
        node: str,
        name: str,
        message: Any,
        block: bool,
        timeout: float | None,
        *,
        probe: bool = False,
    ) -> Any: ...


def _no_default() -> Via:
    raise NoNodeError


default_via: Callable[[], Via] = _no_default  # the process's default node (set by _node)

__all__ = ["RemoteActorRef", "RemoteProxy", "Supervising", "Via", "default_via"]


class RemoteActorRef:
    """The actor registered as ``name`` on ``node``: ``tell``, ``ask``, ``proxy()``,
    ``is_alive()``. Equal and hashable by node and name; it may itself be sent to other nodes."""

    __slots__ = ("_via", "_watchable", "name", "node")

    def __init__(
        self, node: str, name: str, via: Via | None = None, *, watchable: bool = False
    ) -> None:
        if type(check_target(node)) is not str:
            raise TypeError(f"node must be 'name@host', not {node!r}")
        if not isinstance(name, str) or not name:
            raise TypeError(f"name must be a non-empty str, not {name!r}")
        self.node, self.name, self._via = node, name, via
        # spawned just now as a supervision.SupervisedActor: a watch need not ask whether it is
        self._watchable = watchable

    def __repr__(self) -> str:
        return f"<RemoteActorRef {self.name!r} on {self.node}>"

    def __eq__(self, other: object) -> bool:
        if not isinstance(other, RemoteActorRef):
            return NotImplemented
        return (self.node, self.name) == (other.node, other.name)

    def __hash__(self) -> int:
        return hash((RemoteActorRef, self.node, self.name))

    def __reduce__(self) -> tuple[Any, ...]:
        return (RemoteActorRef, (self.node, self.name))  # the node it is used through stays

    def _node(self) -> Via:
        return self._via if self._via is not None else default_via()

    def tell(self, message: Any) -> None:
        """Fire and forget (an ``abcast`` to one node): dropped if no live actor has the name."""
        self._node().abcast([self.node], self.name, message)

    def ask(self, message: Any, *, block: bool = True, timeout: float | None = None) -> Any:
        """The actor's answer (its ``on_receive`` return value), or what ``call`` would raise
        (``BadRpc("noproc")``: no live actor has the name; ``RemoteError``: the actor raised).
        ``block=False``: an ``AsyncKey`` at once (``.get(timeout)``, ``yield_``, ``await``)."""
        return self._node()._ask_actor(self.node, self.name, message, block, timeout)  # noqa: SLF001

    def is_alive(self) -> bool:
        """Whether a live actor has the name there: one round trip (``False`` when the node
        cannot be reached either)."""
        try:
            return bool(self._node()._ask_actor(self.node, self.name, None, True, None, probe=True))  # noqa: SLF001
        except RpcError:
            return False

    def proxy(self) -> RemoteProxy:
        """A Pykka-style proxy: ``proxy.method(1, 2).get(timeout)``, ``proxy.attribute.get()``,
        ``await proxy.method(...)``; each one round trip, run by the actor itself."""
        return RemoteProxy(self, ())

    # -- supervision's protocol for refs it does not own (supervision.ForeignRef) ------------

    def sv_watch(self, on_exit: Callable[[Any], None]) -> Hashable:
        """Call ``on_exit(reason)`` once the actor dies (its exit reason, or its ``repr`` when
        it cannot be unpickled here), or its node goes down for this one
        (``("noconnection", node)``); ``"noproc"`` at once if no live actor has the name.
        ``TypeError`` if it is not a ``supervision.SupervisedActor``. One round trip."""
        supervision = self._node()._supervision  # noqa: SLF001
        return supervision.watch(self.node, self.name, on_exit, known=self._watchable)

    def sv_unwatch(self, token: Hashable) -> None:
        """No ``on_exit`` for that watch afterwards."""
        self._node()._supervision.unwatch(token)  # noqa: SLF001

    def sv_exit(self, reason: Any) -> None:
        """Stop the actor with ``reason`` (``supervision.exit`` there); nothing waits."""
        self._node()._supervision.tell(self.node, self.name, "exit", reason)  # noqa: SLF001

    def sv_signal(self, sender: Any, reason: Any) -> None:
        """``sender``, linked to the actor, died with ``reason``: its exit signal, delivered
        there (``supervision.exit_signal``); nothing waits."""
        self._node()._supervision.tell(self.node, self.name, "signal", (sender, reason))  # noqa: SLF001

    def sv_link(self, other: Any) -> None:
        """Link the actor and ``other`` (a ref), there."""
        self._node()._supervision.link(self.node, self.name, "link", other)  # noqa: SLF001

    def sv_unlink(self, other: Any) -> None:
        """Unlink the actor and ``other``, there."""
        self._node()._supervision.link(self.node, self.name, "unlink", other)  # noqa: SLF001


class RemoteProxy:
    """Methods and attributes of a remote actor, as Pykka's ``ActorProxy`` gives them."""

    __slots__ = ("_path", "_ref")

    def __init__(self, ref: RemoteActorRef, path: tuple[str, ...]) -> None:
        self._ref, self._path = ref, path

    def __repr__(self) -> str:
        where = ".".join(self._path) or "the actor"
        return f"<RemoteProxy {where} of {self._ref!r}>"

    def __getattr__(self, name: str) -> RemoteProxy:
        if name.startswith("__"):
            raise AttributeError(name)
        return RemoteProxy(self._ref, (*self._path, name))

    def __call__(self, *args: Any, **kwargs: Any) -> AsyncKey:
        """Call the method: an ``AsyncKey`` for its result (``.get(timeout)``, ``await``)."""
        key: AsyncKey = self._ref.ask(ProxyCall(self._path, args, kwargs), block=False)
        return key

    def get(self, timeout: float | None = None) -> Any:
        """Read the attribute (one round trip)."""
        return self._ref.ask(ProxyGetAttr(self._path), timeout=timeout)

    def __await__(self) -> Generator[Any, None, Any]:
        key: AsyncKey = self._ref.ask(ProxyGetAttr(self._path), block=False)
        return key.__await__()

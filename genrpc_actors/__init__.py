"""genrpc_actors: gen_rpc's scalable RPC, re-created in Python on Pykka actors.

>>> import genrpc_actors as gen_rpc
>>> n = gen_rpc.start("alpha@127.0.0.1", cookie="s3cret", tcp_server_port=0)
>>> gen_rpc.call("alpha@127.0.0.1", "operator", "add", (2, 3))
5
>>> gen_rpc.stop()

Every module-level function uses the process's default node (the first one started) and raises
:class:`NoNodeError` when none runs; each is also a method of :class:`Node`.
"""

from __future__ import annotations

import importlib.metadata as _metadata
from typing import TYPE_CHECKING, Any

# first: with GENRPC_PURE_PYTHON, the compiled modules are imported from their sources
from genrpc_actors import _compiled  # noqa: F401
from genrpc_actors._client._reply import AsyncKey, Value
from genrpc_actors._config import Config
from genrpc_actors._errors import (
    BadRpc,
    BadTcp,
    ConfigError,
    NameTakenError,
    NoNodeError,
    RemoteError,
    RpcError,
)
from genrpc_actors._node import (
    MultiResult,
    Node,
    NodeDown,
    NodeStatistics,
    NodeUp,
    RemoteActorRef,
)
from genrpc_actors._node import _counters as _metrics_plug
from genrpc_actors._node import default_node as _default_node
from genrpc_actors._observability import serve as _serve_metrics

if TYPE_CHECKING:
    from collections.abc import Iterable, Mapping, Sequence

    import pykka

    from genrpc_actors._node import NodeMonitorRef

try:
    __version__ = _metadata.version("genrpc-actors")
except _metadata.PackageNotFoundError:  # running from a source tree that was never installed
    __version__ = "0+unknown"

_metrics_plug.install(_serve_metrics)  # nodes with metrics_port serve through it

__all__ = [
    "AsyncKey",
    "BadRpc",
    "BadTcp",
    "Config",
    "ConfigError",
    "MultiResult",
    "NameTakenError",
    "NoNodeError",
    "Node",
    "NodeDown",
    "NodeStatistics",
    "NodeUp",
    "RemoteActorRef",
    "RemoteError",
    "RpcError",
    "Value",
    "__version__",
    "abcast",
    "acall",
    "actor",
    "amulticall",
    "asbcast",
    "async_call",
    "call",
    "cast",
    "demonitor_node",
    "eval_everywhere",
    "monitor_node",
    "monitor_nodes",
    "multicall",
    "nb_yield",
    "node",
    "nodes",
    "register",
    "registered",
    "sbcast",
    "spawn",
    "start",
    "stop",
    "unregister",
    "whereis",
    "yield_",
]


def start(name: str, *, config: Config | None = None, **overrides: Any) -> Node:
    """Start a node (``Node.start``) and make it the default node if there is none."""
    started = Node.start(name, config=config, **overrides)
    started.make_default()
    return started


def stop() -> None:
    """Stop the default node: its whole tree, sockets closed, threads joined."""
    _default_node().stop()


def node() -> str:
    """The default node's name."""
    return _default_node().name


def nodes() -> list[str]:
    """Remote nodes this node holds an outgoing connection to, sorted (keys count once)."""
    return _default_node().nodes()


def call(
    node: Any,
    module: Any,
    function: str | None = None,
    args: Sequence[Any] = (),
    kwargs: Mapping[str, Any] | None = None,
    *,
    timeout: float | None = None,
    send_timeout: float | None = None,
) -> Any:
    """Call ``module.function(*args, **kwargs)`` on ``node`` and return its result."""
    return _default_node().call(
        node, module, function, args, kwargs, timeout=timeout, send_timeout=send_timeout
    )


def cast(
    node: Any,
    module: Any,
    function: str | None = None,
    args: Sequence[Any] = (),
    kwargs: Mapping[str, Any] | None = None,
    *,
    send_timeout: float | None = None,
) -> bool:
    """Run ``module.function(*args, **kwargs)`` on ``node``, fire and forget; always True."""
    return _default_node().cast(node, module, function, args, kwargs, send_timeout=send_timeout)


def async_call(
    node: Any,
    module: Any,
    function: str | None = None,
    args: Sequence[Any] = (),
    kwargs: Mapping[str, Any] | None = None,
    *,
    timeout: float | None = None,
) -> AsyncKey:
    """Start a call and return at once; ``yield_``/``nb_yield``/``await`` the key.

    ``timeout``: when no reply came within it, the key gives ``BadRpc("timeout")`` and the
    request is cancelled (default: ``async_call_inactivity_timeout``, ``None``: no limit)."""
    return _default_node().async_call(node, module, function, args, kwargs, timeout=timeout)


def yield_(key: AsyncKey) -> Any:
    """The outcome of an async call, waiting without limit (gen_rpc's ``yield``)."""
    return _default_node().yield_(key)


def nb_yield(key: AsyncKey, timeout: float | None = 0) -> Value | None:
    """``Value(result)`` if ready within ``timeout`` (None: no limit), else ``None``."""
    return _default_node().nb_yield(key, timeout)


async def acall(
    node: Any,
    module: Any,
    function: str | None = None,
    args: Sequence[Any] = (),
    kwargs: Mapping[str, Any] | None = None,
    *,
    timeout: float | None = None,
) -> Any:
    """``call`` as a coroutine: the same outcomes, and nothing blocks the event loop. When
    the awaiting task is cancelled or ``timeout`` passes, the remote request is cancelled."""
    return await _default_node().acall(node, module, function, args, kwargs, timeout=timeout)


async def amulticall(
    nodes: Iterable[Any] | None,
    module: Any,
    function: str | None = None,
    args: Sequence[Any] = (),
    kwargs: Mapping[str, Any] | None = None,
    *,
    timeout: float | None = None,
) -> MultiResult:
    """``multicall`` as a coroutine: every request out at once, one deadline for all."""
    return await _default_node().amulticall(nodes, module, function, args, kwargs, timeout=timeout)


async def asbcast(
    nodes: Iterable[Any] | None, name: str, msg: Any, *, timeout: float | None = None
) -> tuple[list[Any], list[Any]]:
    """``sbcast`` as a coroutine: ``(good_nodes, bad_nodes)``."""
    return await _default_node().asbcast(nodes, name, msg, timeout=timeout)


def actor(node: str, name: str) -> RemoteActorRef:
    """The actor registered as ``name`` on ``node``, with no round trip: ``tell``, ``ask``,
    ``proxy()``, ``is_alive()``."""
    return RemoteActorRef(node, name)


def spawn(
    node: str,
    actor_class: Any,
    args: Sequence[Any] = (),
    kwargs: Mapping[str, Any] | None = None,
    *,
    name: str | None = None,
    timeout: float | None = None,
) -> RemoteActorRef:
    """Start a Pykka actor on ``node`` (a class named ``"module:Class"``; a class object
    only when module control is off there), registered as ``name`` if given; linked to this
    node: when this node goes down for ``node``, the actor stops."""
    return _default_node().spawn(node, actor_class, args, kwargs, name=name, timeout=timeout)


def monitor_node(node: str, watcher: pykka.ActorRef[Any]) -> NodeMonitorRef:
    """Tell ``watcher`` one ``NodeDown`` when ``node`` goes down; a node that is not up is
    connected to, and reported down at once if it cannot be reached."""
    return _default_node().monitor_node(node, watcher)


def monitor_nodes(watcher: pykka.ActorRef[Any]) -> NodeMonitorRef:
    """Tell ``watcher`` ``NodeUp`` and ``NodeDown`` for every node, until demonitored."""
    return _default_node().monitor_nodes(watcher)


def demonitor_node(mref: NodeMonitorRef) -> None:
    """Cancel a node monitor: nothing is told for it afterwards."""
    _default_node().demonitor_node(mref)


def register(name: str, actor_ref: pykka.ActorRef[Any]) -> None:
    """Name an actor (the target of abcast/sbcast); ``NameTakenError`` if a live one has it."""
    _default_node().register(name, actor_ref)


def unregister(name: str) -> None:
    """Free ``name`` (nothing happens if it is not registered)."""
    _default_node().unregister(name)


def whereis(name: str) -> pykka.ActorRef[Any] | None:
    """The live actor registered as ``name``, or ``None``."""
    return _default_node().whereis(name)


def registered() -> list[str]:
    """The names registered to live actors, sorted."""
    return _default_node().registered()


def multicall(
    nodes: Iterable[Any] | None,
    module: Any,
    function: str | None = None,
    args: Sequence[Any] = (),
    kwargs: Mapping[str, Any] | None = None,
    *,
    timeout: float | None = None,
) -> MultiResult:
    """Call the function on every node at once; one deadline (``timeout``) for all."""
    return _default_node().multicall(nodes, module, function, args, kwargs, timeout=timeout)


def eval_everywhere(
    nodes: Iterable[Any] | None,
    module: Any,
    function: str | None = None,
    args: Sequence[Any] = (),
    kwargs: Mapping[str, Any] | None = None,
    *,
    send_timeout: float | None = None,
) -> None:
    """Cast the function to every node (fire and forget)."""
    _default_node().eval_everywhere(
        nodes, module, function, args, kwargs, send_timeout=send_timeout
    )


def abcast(nodes: Iterable[Any] | None, name: str, msg: Any) -> None:
    """``tell(msg)`` to the actor registered as ``name`` on every node (where there is one)."""
    _default_node().abcast(nodes, name, msg)


def sbcast(
    nodes: Iterable[Any] | None, name: str, msg: Any, *, timeout: float | None = None
) -> tuple[list[Any], list[Any]]:
    """As ``abcast``, and wait: ``(good_nodes, bad_nodes)``; good ones had ``name`` and got
    ``msg``. A node that does not answer within ``timeout`` is bad."""
    return _default_node().sbcast(nodes, name, msg, timeout=timeout)

"""``Node``: one running instance of the library, its supervision tree, and the RPC calls."""

from __future__ import annotations

import dataclasses
import functools
import logging
import threading
import time
import weakref
from collections.abc import Callable, Iterable, Mapping, Sequence
from typing import Any, Self

import pykka

import supervision as sv
from genrpc_actors import _protocol
from genrpc_actors._actors._connection_actors import Incoming
from genrpc_actors._actors._dispatcher import Dispatcher
from genrpc_actors._actors._listener import ListenAddress, TcpListener
from genrpc_actors._actors._worker_processes import WorkerProcesses
from genrpc_actors._client._reply import AsyncKey, Reply, Value
from genrpc_actors._client._table import ClientTable
from genrpc_actors._config import Config, resolve_cookie, worker_count
from genrpc_actors._errors import BadRpc, ConfigError, NoNodeError, RpcError
from genrpc_actors._execution._event_loop import EventLoop
from genrpc_actors._execution._process_workers import ProcessWorkers
from genrpc_actors._execution._request import ModuleControl
from genrpc_actors._execution._thread_pool import WorkerPool
from genrpc_actors._execution._timers import Scheduler
from genrpc_actors._node import _asking, _async_calls, _exports, _multi, _remote_actors
from genrpc_actors._node._at_exit import stop_at_exit
from genrpc_actors._node._call_times import CallRecorder
from genrpc_actors._node._call_times import clock as _clock
from genrpc_actors._node._counters import (
    ConnectionTally,
    MetricsServer,
    MetricsSource,
    Traffic,
    replied,
    start_metrics,
)
from genrpc_actors._node._endpoints import endpoint_for, keepalive_of
from genrpc_actors._node._multi import MultiResult
from genrpc_actors._node._node_monitors import NodeMonitorRef, NodeMonitors
from genrpc_actors._node._registry import Registry
from genrpc_actors._node._remote_actors import RemoteActorRef
from genrpc_actors._node._remote_supervision import ActorSupervision
from genrpc_actors._node._requests import (
    check_target,
    check_timeout,
    encode_request,
    expire,
    node_name,
)
from genrpc_actors._node._requests import resolve as _resolve
from genrpc_actors._node._routing import Router
from genrpc_actors._node._spawning import Spawned, spawn_here
from genrpc_actors._node._statistics import NodeStatistics
from genrpc_actors._node._watches import Watches
from genrpc_actors._server._connection import ServerSettings
from genrpc_actors._server._supervising import Watching, supervise_here
from genrpc_actors._transport._tls import client_context, server_context

__all__ = ["Node", "default_node"]

logger = logging.getLogger("genrpc_actors")
SHORT_COOKIE = 16  # bytes: shorter cookies get a warning at start
HEARTBEAT = 1.0  # seconds between the heartbeat's looks at the connections, at most

_default: Node | None = None
_default_lock = threading.Lock()


def default_node() -> Node:
    """The process's default node; ``NoNodeError`` when none runs."""
    node = _default
    if node is None:
        raise NoNodeError
    return node


_remote_actors.default_via = default_node  # refs made without a node use the default one


def _export(ref: pykka.ActorRef[Any]) -> tuple[str, str]:
    """A local actor pickled to travel: exported by the default node (``_exports``)."""
    node = default_node()
    return node.name, node._registry.exports.export(ref)  # noqa: SLF001 - the node's own


_exports.install(_export)


class Node:
    """A node: its listeners, acceptors, clients, dispatcher and worker pool, and the RPC API.

    ``Node.start(name, config=None, **overrides)`` starts one; it is a context manager.
    ``statistics()`` and ``describe()`` tell what it is doing.
    """

    def __init__(
        self, name: str, config: Config, *, clock: Callable[[], float] = time.monotonic
    ) -> None:
        """``clock`` drives the node's timers (``async_call_inactivity_timeout``)."""
        check_target(name)
        self.name = name
        self.config = config
        cookie = resolve_cookie(config)
        self._listening: dict[str, ListenAddress] = {}
        if config.tcp_server_port is not False:
            self._listening["tcp"] = ListenAddress(config.listen_address, config.tcp_server_port)
        if config.ssl_server_port is not False:
            self._listening["ssl"] = ListenAddress(config.listen_address, config.ssl_server_port)
        _protocol.cookie_key(cookie)  # derived now (~50 ms, once), not in a first handshake
        if len(cookie) < SHORT_COOKIE and self._listening:  # said once, by the nodes that serve
            logger.warning(
                "event=short_cookie node=%s bytes=%d: a cookie under %d bytes can be guessed by"
                " a node this one connects to by mistake; use a random one (the docs' Security"
                " model)",
                name,
                len(cookie),
                SHORT_COOKIE,
            )
        self._server_tls = (
            server_context(config.ssl_server_options) if "ssl" in self._listening else None
        )
        client_tls = (
            client_context(config.ssl_client_options) if config.ssl_client_options else None
        )
        self._endpoint_for = functools.partial(endpoint_for, config, name, cookie, client_tls)
        self._monitors = NodeMonitors()
        # what connections carried, kept past their end (read by the metrics when asked)
        self._outgoing = ConnectionTally(_outgoing_traffic)
        self._incoming_tally = ConnectionTally(_incoming_traffic)
        self._clients = ClientTable(
            self._monitors.connection_up, self._monitors.connection_down, self._outgoing
        )
        # each call's outcome and latency: only with metrics on (else one test per call)
        self._calls = CallRecorder() if config.metrics_port is not None else None
        self._metrics: MetricsServer | None = None
        self._registry = Registry()
        self._spawned = Spawned()  # actors started here for other nodes, linked to them
        self._watches = Watches()  # actors here that other nodes watch (links, monitors)
        self._workers = WorkerPool(name, max_threads=config.max_worker_threads)
        self._timers = Scheduler(name, clock)
        self._loop = EventLoop(name)  # started when a function first returns an awaitable
        control = ModuleControl(
            config.rpc_module_control, config.rpc_module_list, config.max_nesting
        )
        self._spawn_here = functools.partial(
            spawn_here, control, self._registry, self._spawned, name
        )
        count = worker_count(config)
        self._processes = (
            ProcessWorkers(
                name,
                count,
                config.process_modules,
                (config.rpc_module_control, config.rpc_module_list, config.max_nesting),
                time_limit=config.request_time_limit,
                memory_limit=config.worker_memory_limit,
            )
            if count
            else None
        )
        settings = ServerSettings(
            name=name,
            cookie=cookie,
            control=control,
            workers=self._workers,
            auth_timeout=config.authentication_timeout,
            send_timeout=config.send_timeout,
            inactivity=config.server_inactivity_timeout,
            keepalive=keepalive_of(config),
            max_frame=config.max_frame_size,
            deliver=self._registry.deliver,
            processes=self._processes,
            max_pending=config.max_pending_handshakes,
            loop=self._loop,
            lookup=self._registry.whereis,
            spawn=self._spawn_here,
            peer_gone=self._spawned.peer_gone,
            watch=self._watches.watch,
        )
        # The router and the acceptors' ``Incoming`` are the node's and call back into it: they
        # hold those methods weakly, or node -> router -> node would be a cycle that only the
        # cycle collector frees (the tree's children hold the node while it runs)
        self._incoming = Incoming(
            settings,
            functools.partial(
                _start_child_weakly, weakref.WeakMethod(self._start_child), "acceptors"
            ),
            self._incoming_tally,
        )
        self._router = Router(
            name,
            self._clients,
            self._workers,
            control,
            self._registry,
            functools.partial(_find_dispatcher_weakly, weakref.WeakMethod(self._find_dispatcher)),
            self._processes,
            self._loop,
            self._spawn_here,
        )
        self._tree: sv.Supervisor | None = None
        here = functools.partial(
            supervise_here, control, self._registry.whereis, self._watches.watch
        )
        self._supervision = ActorSupervision(  # holds the node weakly (no cycle)
            self._router,
            functools.partial(_here, here),
            functools.partial(_probe_weakly, weakref.WeakMethod(self._ask_actor)),
            config.call_receive_timeout,
        )

    # -- life ----------------------------------------------------------------------------------

    @classmethod
    def start(cls, name: str, *, config: Config | None = None, **overrides: Any) -> Node:
        """Start a node, used through its methods (``genrpc_actors.start`` also makes the first
        node of the process its default node)."""
        base = config if config is not None else Config.from_env()
        node = cls(name, base.replace(**overrides) if overrides else base)
        node._start_tree()
        node._heartbeat()
        stop_at_exit(node)
        return node

    def make_default(self) -> bool:
        """Make this the process's default node unless another one is; True if it now is."""
        global _default  # noqa: PLW0603 - the process's default node, as gen_rpc's node()
        with _default_lock:
            if _default is None and not self._router.stopped:
                _default = self
            return _default is self

    def _start_tree(self) -> None:
        supervisor_options = {"intensity": 100, "period": 1.0}
        children = [
            sv.ChildSpec(
                "acceptors", sv.DynamicSupervisor, kwargs=supervisor_options, shutdown=None
            ),
            sv.ChildSpec("clients", sv.DynamicSupervisor, kwargs=supervisor_options, shutdown=None),
            sv.ChildSpec(
                "dispatcher",
                Dispatcher,
                args=(
                    self._clients,
                    self._endpoint_for,
                    functools.partial(self._start_child, "clients"),
                ),
            ),
        ]
        if self._processes is not None:  # ready before anything is accepted
            children.append(
                sv.ChildSpec("worker_processes", WorkerProcesses, args=(self._processes,))
            )
        for driver, address in self._listening.items():
            tls = self._server_tls if driver == "ssl" else None
            args = (self.name, address, self._incoming, tls)
            children.append(sv.ChildSpec(f"{driver}_listener", TcpListener, args=args))
        ref = sv.Supervisor.start(children, "one_for_one", 100, 1.0)
        self._tree = sv.Supervisor(ref)
        try:
            self._tree.wait_started()
            self._publish()
            self._start_metrics()
        except BaseException as exc:
            if self._tree.is_alive():
                self._tree.stop()
            self._stop_services()
            cause = exc.__cause__
            if isinstance(exc, sv.StartError) and isinstance(cause, ConfigError):
                # a process_modules module that fails to import, a port that is taken: the
                # supervisor's wrapping says nothing more (the cause's own cause, the OSError of
                # a port in use, stays)
                raise cause from cause.__cause__
            raise

    def _start_metrics(self) -> None:
        """Serve metrics on ``metrics_port`` (the exporter raises ``ConfigError`` if it
        cannot: the port is taken, prometheus_client is missing)."""
        if self._calls is None or self.config.metrics_port is None:
            return
        source = MetricsSource(
            name=self.name,
            calls=self._calls,
            outgoing=self._outgoing,
            incoming=self._incoming_tally,
            connections_up=self._connections_up,
            node_events=self._monitors.events,
            restarts=self._restarts,
            workers=self._workers,
            processes=self._processes,
        )
        self._metrics = start_metrics(source, self.config.listen_address, self.config.metrics_port)
        logger.info("event=metrics_serving node=%s port=%d", self.name, self._metrics.port)

    def _heartbeat(self) -> None:
        """Every second or so: each connection that has heard nothing for
        ``socket_keepalive_idle`` pings its node, and one that has heard nothing for the whole
        keepalive bound (idle + interval x count) is closed: the node is down. TCP keepalive
        cannot tell a frozen node (its kernel still answers), a PING can. An incoming
        connection whose node has said nothing for a second past the bound its PINGs name is
        closed too (the actors that node spawned here stop)."""
        if self._router.stopped:
            return
        idle, interval, count = keepalive_of(self.config)
        now = time.monotonic()
        for connection in self._clients.connections():
            connection.heartbeat(now, idle, idle + interval * count)
        for incoming in list(self._incoming.connections):
            incoming.heartbeat(now)
        # the timer holds the node weakly: a node dropped without stop() is not kept alive
        again = functools.partial(_call_weakly, weakref.WeakMethod(self._heartbeat))
        # at least two looks per interval: a PING goes out before the bound has passed
        self._timers.call_later(min(HEARTBEAT, interval / 2), again)

    def _publish(self) -> None:
        """Announce this node to an external source that takes announcements (e.g. etcd)."""
        publish = getattr(self.config.client_config_per_node, "publish", None)
        if callable(publish):
            ports = {"tcp": self.port, "ssl": self.ssl_port}
            listening = {driver: port for driver, port in ports.items() if port}
            if listening:  # a node that only calls out has nothing to announce
                try:
                    publish(self.name, listening)
                except Exception as exc:
                    detail = f"cannot publish {self.name}: {exc}"
                    raise BadRpc(("external_source_error", detail)) from exc

    def stop(self) -> None:
        """Stop the whole tree: sockets closed, threads joined, the port free again."""
        if self._router.stopped:
            return
        self._router.stopped = True
        withdraw = getattr(self.config.client_config_per_node, "withdraw", None)
        if callable(withdraw):
            try:
                withdraw(self.name)
            except Exception:
                logger.exception("event=withdraw_failed node=%s", self.name)
        if self._tree is not None:
            self._tree.stop()
        self._watches.stop()
        self._stop_services()

    def _stop_services(self) -> None:
        global _default  # noqa: PLW0603
        metrics, self._metrics = self._metrics, None
        if metrics is not None:
            metrics.stop()
        stuck = self._workers.stop(timeout=1.0)
        if stuck:
            logger.warning("event=workers_still_busy node=%s threads=%s", self.name, stuck)
        self._timers.stop()
        self._loop.stop()
        with _default_lock:
            if _default is self:
                _default = None

    def __enter__(self) -> Self:
        return self

    def __exit__(self, *_exc: object) -> None:
        self.stop()

    def __repr__(self) -> str:
        state = "running" if self.running else "stopped"
        return (
            f"<Node {self.name} port={self.port} {state} connections={len(self._clients)}"
            f" acceptors={len(self._incoming.connections)}>"
        )

    @property
    def port(self) -> int:
        """The TCP listener's port (0 when TCP is off)."""
        address = self._listening.get("tcp")
        return address.port if address is not None else 0

    @property
    def ssl_port(self) -> int:
        """The TLS listener's port (0 when TLS is off)."""
        address = self._listening.get("ssl")
        return address.port if address is not None else 0

    @property
    def metrics_port(self) -> int | None:
        """The port Prometheus metrics are served on, at ``/metrics`` over HTTP
        (``metrics_port`` 0 picks a free one: this tells which); None when they are not."""
        metrics = self._metrics
        return metrics.port if metrics is not None else None

    @property
    def running(self) -> bool:
        """Whether the node runs (it stops for good: a stopped node is not restarted)."""
        return not self._router.stopped

    @property
    def tree(self) -> sv.Supervisor:
        """The node's root supervisor."""
        assert self._tree is not None
        return self._tree

    def _child(self, child_id: str) -> sv.Supervisor:
        ref = self.tree.child(child_id)
        if ref is None:
            raise BadRpc(("not_running", child_id))
        return sv.handle(ref)

    def _start_child(self, supervisor_id: str, spec: sv.ChildSpec) -> object:
        return self._child(supervisor_id).start_child(spec)

    def _find_dispatcher(self) -> pykka.ActorRef[Any] | None:
        dispatcher: pykka.ActorRef[Any] | None = self.tree.child("dispatcher")
        return dispatcher

    # -- introspection -------------------------------------------------------------------------

    def statistics(self) -> NodeStatistics:
        """The node's counters now."""
        connections = [connection for _, connection in self._clients.items()]
        processes = self._processes
        return NodeStatistics(
            name=self.name,
            port=self.port,
            running=self.running,
            connections=len(connections),
            pending_calls=sum(c.pending for c in connections),
            acceptors=len(self._incoming.connections),
            pending_handshakes=self._incoming.gate.pending,
            refused_handshakes=self._incoming.gate.refused,
            workers=self._workers.size,
            busy_workers=self._workers.busy,
            queued_requests=self._workers.queued,
            process_workers=processes.size if processes is not None else 0,
            busy_process_workers=processes.busy if processes is not None else 0,
            queued_process_requests=processes.queued if processes is not None else 0,
            awaiting=self._loop.running,
        )

    def describe(self) -> dict[str, Any]:
        """Everything ``genrpc stats`` shows, as plain data: connections per (node, key) with
        their counters, incoming connections, workers, and the supervision tree's restarts."""
        return {
            "name": self.name,
            "port": self.port,
            "ssl_port": self.ssl_port or None,
            "metrics_port": self.metrics_port,
            "running": self.running,
            "connections": {repr(t): c.describe() for t, c in self._clients.items()},
            "acceptors": [a.describe() for a in list(self._incoming.connections)],
            "handshakes": {
                "pending": self._incoming.gate.pending,
                "refused": self._incoming.gate.refused,
                "limit": self._incoming.gate.limit,
            },
            "workers": {
                "threads": self._workers.size,
                "busy": self._workers.busy,
                "queued": self._workers.queued,
            },
            "event_loop": {"awaiting": self._loop.running, "finished": self._loop.finished},
            "process_workers": [
                dataclasses.asdict(worker)
                for worker in (self._processes.statistics() if self._processes else [])
            ],
            "restarts": self._restarts(),
        }

    def _restarts(self) -> dict[str, int]:
        """Restarts so far by supervisor: the node's root, its acceptors' and clients'."""
        restarts = {"node": self.tree.statistics().restarts}
        if self.running:
            for info in self.tree.which_children():
                if info.ref is not None and info.id in ("acceptors", "clients"):
                    restarts[info.id] = sv.handle(info.ref).statistics().restarts
        return restarts

    def _connections_up(self) -> dict[tuple[str, str], int]:
        """Authenticated connections that are open, by (node, "outgoing"/"incoming")."""
        up: dict[tuple[str, str], int] = {}
        for target in self._clients.open_targets():
            key = (target if type(target) is str else str(target[0]), "outgoing")
            up[key] = up.get(key, 0) + 1
        for node, _ in self._incoming_tally.connections():
            up[node, "incoming"] = up.get((node, "incoming"), 0) + 1
        return up

    def nodes(self) -> list[str]:
        """Remote nodes this node holds an outgoing connection to, sorted (keys count once)."""
        return self._router.nodes()

    # -- calls ---------------------------------------------------------------------------------

    def call(
        self,
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
        target = check_target(node)
        wait = check_timeout("timeout", timeout, self.config.call_receive_timeout)
        send_timeout = check_timeout("send_timeout", send_timeout, None)
        body, flags = encode_request(module, function, args, kwargs)
        return self._router.call(
            target, body, flags, send_timeout, wait, self.config.max_nesting, self._calls
        )

    def cast(
        self,
        node: Any,
        module: Any,
        function: str | None = None,
        args: Sequence[Any] = (),
        kwargs: Mapping[str, Any] | None = None,
        *,
        send_timeout: float | None = None,
    ) -> bool:
        """Run ``module.function(*args, **kwargs)`` on ``node``, fire and forget; always True."""
        target = check_target(node)
        send_timeout = check_timeout("send_timeout", send_timeout, None)
        try:
            body, flags = encode_request(module, function, args, kwargs)
            self._router.submit(target, _protocol.CAST, body, flags, send_timeout, reply=False)
        except RpcError as exc:
            logger.debug("event=cast_dropped node=%s reason=%r", node_name(target), exc.reason)
        return True

    def async_call(
        self,
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
        target = check_target(node)
        ttl = check_timeout("timeout", timeout, self.config.async_call_inactivity_timeout)
        body, flags = encode_request(module, function, args, kwargs)
        calls = self._calls
        started = _clock() if calls is not None else 0
        try:
            connection, request_id, slot = self._router.submit(
                target, _protocol.CALL, body, flags, None, reply=True
            )
        except RpcError as exc:
            connection, request_id, slot = None, 0, Reply()
            slot.set_error(exc)
        assert slot is not None
        if calls is not None:  # counted when its reply (or its error) comes
            slot.add_callback(functools.partial(replied, calls, target, started))
        if ttl is not None and not slot.done:
            expired = functools.partial(expire, target, connection, request_id, slot, ttl)
            self._timers.call_later(ttl, expired)
        return AsyncKey(
            target,
            slot,
            functools.partial(
                _resolve,
                allowed=self._router.control.reply_unpickling,
                max_nesting=self.config.max_nesting,
            ),
        )

    def yield_(self, key: AsyncKey) -> Any:
        """The outcome of an async call, waiting without limit (gen_rpc's ``yield``)."""
        if not isinstance(key, AsyncKey):
            raise TypeError(f"expected an AsyncKey, not {type(key).__name__}")
        value = key.wait(None)
        assert value is not None
        return value.value

    def nb_yield(self, key: AsyncKey, timeout: float | None = 0) -> Value | None:
        """``Value(result)`` if ready within ``timeout`` (None: no limit), else ``None``."""
        if not isinstance(key, AsyncKey):
            raise TypeError(f"expected an AsyncKey, not {type(key).__name__}")
        if timeout is not None:
            check_timeout("timeout", timeout, None)
        return key.wait(timeout)

    # -- many nodes ----------------------------------------------------------------------------

    def multicall(
        self,
        nodes: Iterable[Any] | None,
        module: Any,
        function: str | None = None,
        args: Sequence[Any] = (),
        kwargs: Mapping[str, Any] | None = None,
        *,
        timeout: float | None = None,
    ) -> MultiResult:
        """Call the function on every node at once; one deadline (``timeout``) for all."""
        targets = _multi.targets_of(self._router, nodes)
        wait = check_timeout("timeout", timeout, self.config.call_receive_timeout)
        body, flags = encode_request(module, function, args, kwargs)
        return _multi.multicall(self._router, targets, body, flags, wait)

    def eval_everywhere(
        self,
        nodes: Iterable[Any] | None,
        module: Any,
        function: str | None = None,
        args: Sequence[Any] = (),
        kwargs: Mapping[str, Any] | None = None,
        *,
        send_timeout: float | None = None,
    ) -> None:
        """Cast the function to every node (fire and forget)."""
        targets = _multi.targets_of(self._router, nodes)
        send_timeout = check_timeout("send_timeout", send_timeout, None)
        body, flags = encode_request(module, function, args, kwargs)
        _multi.eval_everywhere(self._router, targets, body, flags, send_timeout)

    def abcast(self, nodes: Iterable[Any] | None, name: str, msg: Any) -> None:
        """``tell(msg)`` to the actor registered as ``name`` on every node (where there is one)."""
        targets = _multi.targets_of(self._router, nodes)
        _multi.broadcast(self._router, _protocol.ABCAST, targets, name, msg, None)

    def sbcast(
        self, nodes: Iterable[Any] | None, name: str, msg: Any, *, timeout: float | None = None
    ) -> tuple[list[Any], list[Any]]:
        """As ``abcast``, and wait: ``(good_nodes, bad_nodes)``; good ones had ``name`` and got
        ``msg``. A node that does not answer within ``timeout`` is bad."""
        wait = check_timeout("timeout", timeout, self.config.sbcast_receive_timeout)
        targets = _multi.targets_of(self._router, nodes)
        return _multi.broadcast(self._router, _protocol.SBCAST, targets, name, msg, wait)

    # -- inside an event loop -------------------------------------------------------------------

    async def acall(
        self,
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
        target = check_target(node)
        wait = check_timeout("timeout", timeout, self.config.call_receive_timeout)
        body, flags = encode_request(module, function, args, kwargs)
        calls = self._calls
        if calls is None:
            return await _async_calls.acall(self._router, target, body, flags, wait)
        started = _clock()
        try:
            result = await _async_calls.acall(self._router, target, body, flags, wait)
        except RpcError as exc:
            calls.failed(target, exc, started)
            raise
        calls.ok(target, started)
        return result

    async def amulticall(
        self,
        nodes: Iterable[Any] | None,
        module: Any,
        function: str | None = None,
        args: Sequence[Any] = (),
        kwargs: Mapping[str, Any] | None = None,
        *,
        timeout: float | None = None,
    ) -> MultiResult:
        """``multicall`` as a coroutine: every request out at once, one deadline for all."""
        targets = _multi.targets_of(self._router, nodes)
        wait = check_timeout("timeout", timeout, self.config.call_receive_timeout)
        body, flags = encode_request(module, function, args, kwargs)
        return await _async_calls.amulticall(self._router, targets, body, flags, wait)

    async def asbcast(
        self, nodes: Iterable[Any] | None, name: str, msg: Any, *, timeout: float | None = None
    ) -> tuple[list[Any], list[Any]]:
        """``sbcast`` as a coroutine: ``(good_nodes, bad_nodes)``."""
        wait = check_timeout("timeout", timeout, self.config.sbcast_receive_timeout)
        targets = _multi.targets_of(self._router, nodes)
        return await _async_calls.asbcast(self._router, targets, name, msg, wait)

    # -- actors on other nodes -----------------------------------------------------------------

    def actor(self, node: str, name: str) -> RemoteActorRef:
        """The actor registered as ``name`` on ``node``, with no round trip: ``tell``, ``ask``,
        ``proxy()``, ``is_alive()``."""
        return RemoteActorRef(node, name, self)

    def spawn(
        self,
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
        wait = check_timeout("timeout", timeout, self.config.call_receive_timeout)
        where, actor_name, supervised = _asking.spawn(
            self._router, wait, check_target(node), actor_class, args, kwargs, name
        )
        return RemoteActorRef(where, actor_name, self, watchable=supervised)

    def _ask_actor(
        self,
        node: str,
        name: str,
        message: Any,
        block: bool,
        timeout: float | None,
        *,
        probe: bool = False,
    ) -> Any:
        default = self.config.call_receive_timeout if block else None
        wait = check_timeout("timeout", timeout, default)
        return _asking.ask(
            self._router, self._timers, wait, node, name, message, block=block, probe=probe
        )

    # -- node monitoring -----------------------------------------------------------------------

    def monitor_node(self, node: str, watcher: pykka.ActorRef[Any]) -> NodeMonitorRef:
        """Tell ``watcher`` one ``NodeDown`` when ``node`` goes down; a node that is not up is
        connected to, and reported down at once if it cannot be reached."""
        target = check_target(node)
        if type(target) is not str:
            raise TypeError(f"node must be 'name@host', not {node!r}")
        _check_watcher(watcher)
        mref = self._monitors.monitor_node(target, watcher)
        if target != self.name and not self._monitors.is_up(target):
            try:
                self._router.connection_for(target)  # it connects in its own thread
            except RpcError as exc:
                self._monitors.connection_down(target, was_up=False, reason=exc.reason)
        return mref

    def monitor_nodes(self, watcher: pykka.ActorRef[Any]) -> NodeMonitorRef:
        """Tell ``watcher`` ``NodeUp`` and ``NodeDown`` for every node, until demonitored."""
        _check_watcher(watcher)
        return self._monitors.monitor_nodes(watcher)

    def demonitor_node(self, mref: NodeMonitorRef) -> None:
        """Cancel a node monitor: nothing is told for it afterwards."""
        if not isinstance(mref, NodeMonitorRef):
            raise TypeError(f"expected what monitor_node returned, not {type(mref).__name__}")
        self._monitors.demonitor(mref)

    # -- named actors --------------------------------------------------------------------------

    def register(self, name: str, actor_ref: pykka.ActorRef[Any]) -> None:
        """Name an actor (the target of abcast/sbcast); ``NameTakenError`` if a live one has it."""
        self._registry.register(name, actor_ref)

    def unregister(self, name: str) -> None:
        """Free ``name`` (nothing happens if it is not registered)."""
        self._registry.unregister(name)

    def whereis(self, name: str) -> pykka.ActorRef[Any] | None:
        """The live actor registered as ``name``, or ``None``."""
        return self._registry.whereis(name)

    def registered(self) -> list[str]:
        """The names registered to live actors, sorted."""
        return self._registry.registered()


def _outgoing_traffic(connection: Any) -> Traffic:
    stats = connection.statistics()
    return Traffic(stats.frames_sent, stats.frames_received, stats.bytes_sent, stats.bytes_received)


def _incoming_traffic(connection: Any) -> Traffic:
    return Traffic(*connection.traffic())


def _call_weakly(method: weakref.WeakMethod[Callable[[], None]]) -> None:
    bound = method()
    if bound is not None:
        bound()


def _check_watcher(watcher: Any) -> None:
    if not isinstance(watcher, pykka.ActorRef):
        raise TypeError(f"watcher must be a pykka.ActorRef, not {type(watcher).__name__}")


def _start_child_weakly(
    method: weakref.WeakMethod[Callable[[str, sv.ChildSpec], object]],
    supervisor_id: str,
    spec: sv.ChildSpec,
) -> object:
    start_child = method()
    if start_child is None:  # the node is gone (dropped unstopped): as if stopped
        raise BadRpc(("not_running", supervisor_id))
    return start_child(supervisor_id, spec)


def _find_dispatcher_weakly(
    method: weakref.WeakMethod[Callable[[], pykka.ActorRef[Any] | None]],
) -> pykka.ActorRef[Any] | None:
    find_dispatcher = method()
    return None if find_dispatcher is None else find_dispatcher()


def _probe_weakly(method: weakref.WeakMethod[Callable[..., Any]], node: str, name: str) -> Any:
    ask_actor = method()
    if ask_actor is None:
        raise BadRpc(("not_running", "node"))
    return ask_actor(node, name, None, True, None, probe=True)


def _here(
    supervise: Callable[..., None],
    flags: int,
    body: _protocol.Body,
    send: Callable[[int, int, Any], None],
    watching: Watching,
) -> None:
    """A SUPERVISE for this node's own actors, carried out here as one from another node."""
    supervise(flags, body if isinstance(body, bytes) else b"".join(body), send, watching)

"""``Node``: one running instance of the library, its supervision tree, and the RPC calls."""

from __future__ import annotations

import logging
import threading
from collections.abc import Mapping, Sequence
from typing import Any, Self, cast

import pykka

import supervision as sv
from genrpc_actors import _introspection, _wire
from genrpc_actors._actors import Dispatcher, TcpListener
from genrpc_actors._config import Config, resolve_cookie
from genrpc_actors._connection import Connection, Endpoint
from genrpc_actors._errors import BadRpc, NoNodeError, RpcError
from genrpc_actors._execute import ModuleControl, run_request
from genrpc_actors._introspection import NodeStatistics
from genrpc_actors._multi import MultiNodeCalls
from genrpc_actors._registry import Registry
from genrpc_actors._reply import AsyncKey, Reply, Value
from genrpc_actors._requests import check_target, check_timeout, encode_request, node_name, resolve
from genrpc_actors._scheduler import Scheduler
from genrpc_actors._serving import ServerConnection, ServerSettings
from genrpc_actors._tls import client_context, server_context
from genrpc_actors._workers import WorkerPool

__all__ = ["Node", "default_node"]

logger = logging.getLogger("genrpc_actors")

_default: Node | None = None
_default_lock = threading.Lock()


def default_node() -> Node:
    """The process's default node; ``NoNodeError`` when none runs."""
    node = _default
    if node is None:
        raise NoNodeError
    return node


class Node(MultiNodeCalls):
    """A node: its listener, acceptors, clients, dispatcher and worker pool, and the RPC API.

    ``Node.start(name, config=None, **overrides)`` starts one; it is a context manager.
    """

    def __init__(self, name: str, config: Config) -> None:
        check_target(name)
        self.name = name
        self.config = config
        self.cookie = resolve_cookie(config)
        self.port: int = 0  # the TCP listener's, once it listens
        self.ssl_port: int = 0  # the TLS listener's
        self.server_tls = (
            server_context(config.ssl_server_options)
            if config.ssl_server_port is not False
            else None
        )
        self._client_tls = (
            client_context(config.ssl_client_options) if config.ssl_client_options else None
        )
        self.connections: dict[Any, Connection] = {}
        self.acceptors: set[ServerConnection] = set()
        self.registry = Registry()
        self.workers = WorkerPool(name)
        self.scheduler = Scheduler(name)
        self.control = ModuleControl(config.rpc_module_control, config.rpc_module_list)
        self.server_settings = ServerSettings(
            name=name,
            cookie=self.cookie,
            control=self.control,
            workers=self.workers,
            auth_timeout=config.authentication_timeout,
            send_timeout=config.send_timeout,
            inactivity=config.server_inactivity_timeout,
            keepalive=self._keepalive(),
            max_frame=config.max_frame_size,
            deliver=self.registry.deliver,
        )
        self._tree: sv.Supervisor | None = None
        self._dispatcher: pykka.ActorRef[Any] | None = None
        self._stopped = False

    # -- life ----------------------------------------------------------------------------------

    @classmethod
    def start(cls, name: str, *, config: Config | None = None, **overrides: Any) -> Node:
        """Start a node, used through its methods (``genrpc_actors.start`` also makes the first
        node of the process its default node)."""
        base = config if config is not None else Config.from_env()
        node = cls(name, base.replace(**overrides) if overrides else base)
        node._start_tree()
        return node

    def make_default(self) -> bool:
        """Make this the process's default node unless another one is; True if it now is."""
        global _default  # noqa: PLW0603 - the process's default node, as gen_rpc's node()
        with _default_lock:
            if _default is None and not self._stopped:
                _default = self
            return _default is self

    def _start_tree(self) -> None:
        children = [
            sv.ChildSpec(
                "acceptors",
                sv.DynamicSupervisor,
                kwargs={"intensity": 100, "period": 1.0},
                shutdown=None,
            ),
            sv.ChildSpec(
                "clients",
                sv.DynamicSupervisor,
                kwargs={"intensity": 100, "period": 1.0},
                shutdown=None,
            ),
            sv.ChildSpec("dispatcher", Dispatcher, args=(self,)),
        ]
        if self.config.tcp_server_port is not False:
            children.append(sv.ChildSpec("tcp_listener", TcpListener, args=(self, "tcp")))
        if self.config.ssl_server_port is not False:
            children.append(sv.ChildSpec("ssl_listener", TcpListener, args=(self, "ssl")))
        ref = sv.Supervisor.start(children, "one_for_one", 100, 1.0)
        self._tree = sv.Supervisor(ref)
        try:
            self._tree.wait_started()
            self._publish()
        except BaseException:
            if self._tree.is_alive():
                self._tree.stop()
            self._stop_services()
            raise

    def _publish(self) -> None:
        """Announce this node to an external source that takes announcements (e.g. etcd)."""
        publish = getattr(self.config.client_config_per_node, "publish", None)
        if callable(publish):
            ports = {"tcp": self.port, "ssl": self.ssl_port}
            listening = {driver: port for driver, port in ports.items() if port}
            if listening:  # a node that only calls out has nothing to announce
                publish(self.name, listening)

    def stop(self) -> None:
        """Stop the whole tree: sockets closed, threads joined, the port free again."""
        if self._stopped:
            return
        self._stopped = True
        withdraw = getattr(self.config.client_config_per_node, "withdraw", None)
        if callable(withdraw):
            try:
                withdraw(self.name)
            except Exception:
                logger.exception("event=withdraw_failed node=%s", self.name)
        if self._tree is not None:
            self._tree.stop()
        self._stop_services()

    def _stop_services(self) -> None:
        global _default  # noqa: PLW0603
        stuck = self.workers.stop(timeout=1.0)
        if stuck:
            logger.warning("event=workers_still_busy node=%s threads=%s", self.name, stuck)
        self.scheduler.stop()
        with _default_lock:
            if _default is self:
                _default = None

    def __enter__(self) -> Self:
        return self

    def __exit__(self, *_exc: object) -> None:
        self.stop()

    def __repr__(self) -> str:
        state = "stopped" if self._stopped else "running"
        return (
            f"<Node {self.name} port={self.port} {state} connections={len(self.connections)}"
            f" acceptors={len(self.acceptors)}>"
        )

    def describe(self) -> dict[str, Any]:
        """Everything ``genrpc stats`` shows, as plain data (see ``_introspection``)."""
        return _introspection.describe_node(self)

    def statistics(self) -> NodeStatistics:
        """The node's counters now."""
        return _introspection.node_statistics(self)

    @property
    def running(self) -> bool:
        """Whether the node runs (it stops for good: a stopped node is not restarted)."""
        return not self._stopped

    @property
    def tree(self) -> sv.Supervisor:
        """The node's root supervisor."""
        assert self._tree is not None
        return self._tree

    def tree_child_handle(self, child_id: str) -> sv.Supervisor:
        ref = self.tree.child(child_id)
        if ref is None:
            raise BadRpc(("not_running", child_id))
        return sv.handle(ref)

    # -- connections ---------------------------------------------------------------------------

    def _keepalive(self) -> tuple[int, int, int]:
        c = self.config
        return c.socket_keepalive_idle, c.socket_keepalive_interval, c.socket_keepalive_count

    def endpoint_for(self, target: Any) -> Endpoint:
        name = node_name(target)
        per_node = self.config.client_config_per_node
        if isinstance(per_node, Mapping):
            driver, port = self.config.client_target(name)
        else:
            try:
                driver, port = per_node.get_config(name)
            except Exception as exc:  # noqa: BLE001 - the source's failure, reported as such
                raise BadRpc(("external_source_error", repr(exc))) from None
        tls = None
        if driver == "ssl":
            if self._client_tls is None:
                raise BadRpc(("tls", "ssl_client_options has no certificates"))
            tls = self._client_tls
        elif driver != "tcp":
            raise BadRpc(("unsupported_driver", driver))
        c = self.config
        return Endpoint(
            target=name,
            host=name.partition("@")[2],
            port=port,
            local_name=self.name,
            cookie=self.cookie,
            connect_timeout=c.connect_timeout,
            auth_timeout=c.authentication_timeout,
            send_timeout=c.send_timeout,
            inactivity=c.client_inactivity_timeout,
            keepalive=self._keepalive(),
            max_frame=c.max_frame_size,
            tls=tls,
        )

    def _connection_for(self, target: Any) -> Connection:
        connection = self.connections.get(target)
        if connection is not None and not connection.closed:
            return connection
        dispatcher = self._dispatcher
        if dispatcher is None or not dispatcher.is_alive():
            ref = self.tree.child("dispatcher")
            if ref is None:
                raise BadRpc(("not_running", "dispatcher"))
            self._dispatcher = dispatcher = ref
        try:
            found = cast("Connection", dispatcher.ask(target))
        except pykka.ActorDeadError:
            raise BadRpc(("not_running", "dispatcher")) from None
        return found

    def _require_running(self) -> None:
        if self._stopped:
            raise NoNodeError(("node_stopped", self.name), f"node {self.name} has been stopped")

    def forget_connection(self, target: Any, connection: Connection) -> None:
        if self.connections.get(target) is connection:
            del self.connections[target]

    def nodes(self) -> list[str]:
        """Remote nodes this node holds an outgoing connection to, sorted (keys count once)."""
        names = {node_name(t) for t, c in list(self.connections.items()) if not c.closed}
        names.discard(self.name)
        return sorted(names)

    # -- calls ---------------------------------------------------------------------------------

    def _submit(
        self,
        target: Any,
        kind: int,
        body: _wire.Body,
        flags: int,
        send_timeout: float | None,
        *,
        reply: bool,
        lead: bool = False,
    ) -> tuple[Connection | None, int, Reply | None]:
        self._require_running()
        if node_name(target) == self.name:
            slot = Reply() if reply else None
            self.workers.submit(self._run_local, flags, body, slot)
            return None, 0, slot
        connection = self._connection_for(target)
        request_id, slot = connection.request(
            kind, flags, body, send_timeout, reply=reply, lead=lead
        )
        return connection, request_id, slot

    def _run_local(self, flags: int, body: _wire.Body, slot: Reply | None) -> None:
        kind, out_flags, out = run_request(self.control, flags, body, reply=slot is not None)
        if slot is not None:
            slot.set_raw(kind, out_flags, out)

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
        connection, request_id, slot = self._submit(
            target, _wire.CALL, body, flags, send_timeout, reply=True, lead=True
        )
        assert slot is not None
        if connection is not None:
            if not connection.wait(request_id, slot, wait):
                raise BadRpc("timeout")
        elif not slot.wait(wait):
            raise BadRpc("timeout")
        return resolve(slot)

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
            self._submit(target, _wire.CAST, body, flags, send_timeout, reply=False)
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
    ) -> AsyncKey:
        """Start a call and return at once; ``yield_``/``nb_yield``/``await`` the key."""
        target = check_target(node)
        body, flags = encode_request(module, function, args, kwargs)
        try:
            connection, request_id, slot = self._submit(
                target, _wire.CALL, body, flags, None, reply=True
            )
        except RpcError as exc:
            connection, request_id, slot = None, 0, Reply()
            slot.set_error(exc)
        assert slot is not None
        ttl = self.config.async_call_inactivity_timeout
        if ttl is not None and not slot.done:
            self.scheduler.call_later(ttl, lambda: _expire(connection, request_id, slot))
        return AsyncKey(target, slot, resolve)

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

    # -- named actors --------------------------------------------------------------------------

    def register(self, name: str, actor_ref: pykka.ActorRef[Any]) -> None:
        self.registry.register(name, actor_ref)

    def unregister(self, name: str) -> None:
        self.registry.unregister(name)

    def whereis(self, name: str) -> pykka.ActorRef[Any] | None:
        return self.registry.whereis(name)

    def registered(self) -> list[str]:
        return self.registry.registered()


def _expire(connection: Connection | None, request_id: int, slot: Reply) -> None:
    if connection is not None:
        connection.forget(request_id)
    slot.set_error(BadRpc("timeout"))

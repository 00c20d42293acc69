"""The client side of each peer: a session per client process, a connection per lane.

A *session* holds what a client process shares (genrpc_actors' client node; Pyro5's and the
managers' settings); ``session.client(lane)`` opens one connection (for genrpc_actors: picks the
target: ``lane=None`` is the node itself, its default connection, any other lane is the key of
a connection of its own). Every client offers the same six operations, each one request:
``add`` (the small call), ``echo``, ``work`` (about 50 ms of pure-Python work), ``cast`` (fire
and forget), ``reset`` and ``sync(count)`` (returns once ``count`` casts have run on the server);
and, where the peer can have many calls in flight on one connection (``session.pipelines``),
``pipeline(count)``: ``count`` small calls started at once, then every result awaited.

``shared_callers``: whether concurrent callers share one client (genrpc_actors: every thread
calls through one connection, the library's default) or each open their own (the others: a
socket, proxy or connection is one caller's at a time; gRPC: a channel is made to be shared).

The asyncio workloads use ``session.async_client()`` instead, made inside the running event
loop (a ``grpc.aio`` channel belongs to the loop it was made in): ``await add()``,
``await nap(seconds, value)`` (a remote coroutine that sleeps) and ``await close()``. Only
genrpc_actors and ``grpc.aio`` have one; ``grpc.aio`` has nothing else (``blocking`` is false),
and ``grpc``, the same library's blocking channel, has no asyncio client.
"""

from __future__ import annotations

import logging
import os
import pickle
import threading
from typing import Any, Protocol

from benchmarks import cpu_targets, targets
from benchmarks.servers import (
    AUTHKEY,
    COOKIE,
    GENRPC,
    GENRPC_METRICS,
    GENRPC_PROCESSES,
    GRPC,
    GRPC_BLOCKING,
    GRPC_SERVICE,
    RAY,
    SERVER_NODE,
)

CAST_DRAIN_EVERY = 1000  # rpyc answers every async request: read those answers now and then
TARGETS = "benchmarks.targets"


class Client(Protocol):
    def add(self) -> Any: ...
    def echo(self, payload: bytes) -> Any: ...
    def work(self) -> Any: ...
    def cast(self) -> None: ...
    def reset(self) -> None: ...
    def sync(self, count: int) -> int: ...
    def pipeline(self, count: int) -> Any: ...
    def close(self) -> None: ...


class Asker(Protocol):
    def ask(self) -> Any: ...
    def close(self) -> None: ...


class AsyncClient(Protocol):
    async def add(self) -> Any: ...
    async def nap(self, seconds: float, value: Any) -> Any: ...
    async def close(self) -> None: ...


class Session:
    shared_callers = False
    casts = True
    pipelines = False  # whether its clients have ``pipeline``
    blocking = True  # whether it has blocking clients (``client``)
    actors = False  # whether it has remote actors to ask (``actor_client``)

    def __init__(self, address: Any, pin: int | None) -> None:
        self.address = address

    def client(self, lane: Any = None) -> Client:
        raise NotImplementedError

    def async_client(self) -> AsyncClient:
        raise NotImplementedError

    def actor_client(self) -> Asker:
        raise NotImplementedError

    def close(self) -> None:
        pass


class _FloorClient:
    def __init__(self, port: int) -> None:
        from benchmarks.floor import FloorClient  # noqa: PLC0415

        self.conn = FloorClient(port)

    def add(self) -> Any:
        return self.conn.call(targets.add, 1, 2)

    def echo(self, payload: bytes) -> Any:
        return self.conn.call(targets.echo, payload)

    def work(self) -> Any:
        return self.conn.call(cpu_targets.work, cpu_targets.WORK_ITERATIONS)

    def cast(self) -> None:
        self.conn.cast(targets.tick)

    def reset(self) -> None:
        self.conn.call(targets.reset_ticks)

    def sync(self, count: int) -> int:
        return int(self.conn.call(targets.wait_ticks, count))

    def pipeline(self, count: int) -> Any:
        return self.conn.pipeline(count, targets.add, 1, 2)

    def close(self) -> None:
        self.conn.close()


class FloorSession(Session):
    pipelines = True

    def __init__(self, port: int, pin: int | None) -> None:
        self.port = port

    def client(self, lane: Any = None) -> Client:
        return _FloorClient(self.port)


class _GenrpcClient:
    def __init__(self, node: Any, target: Any) -> None:
        self.node, self.target = node, target

    def add(self) -> Any:
        return self.node.call(self.target, TARGETS, "add", (1, 2))

    def echo(self, payload: bytes) -> Any:
        return self.node.call(self.target, TARGETS, "echo", (payload,))

    def work(self) -> Any:
        args = (cpu_targets.WORK_ITERATIONS,)
        return self.node.call(self.target, cpu_targets.__name__, "work", args, timeout=600)

    def cast(self) -> None:
        self.node.cast(self.target, TARGETS, "tick")

    def reset(self) -> None:
        self.node.call(self.target, TARGETS, "reset_ticks")

    def sync(self, count: int) -> int:
        return int(self.node.call(self.target, TARGETS, "wait_ticks", (count,), timeout=600))

    def pipeline(self, count: int) -> Any:
        node, target = self.node, self.target
        keys = [node.async_call(target, TARGETS, "add", (1, 2)) for _ in range(count)]
        last = None
        for key in keys:
            last = node.yield_(key)
        return last

    def close(self) -> None:
        pass  # the node closes its connections when it stops


class _GenrpcAsyncClient:
    def __init__(self, node: Any, target: Any) -> None:
        self.node, self.target = node, target

    async def add(self) -> Any:
        return await self.node.acall(self.target, TARGETS, "add", (1, 2))

    async def nap(self, seconds: float, value: Any) -> Any:
        return await self.node.acall(self.target, TARGETS, "nap", (seconds, value), timeout=600)

    async def close(self) -> None:
        pass  # the node's connection, closed when it stops


class _GenrpcAsker:
    """An ``EchoActor`` spawned on the server node, asked through its ``RemoteActorRef``."""

    def __init__(self, node: Any) -> None:
        self.ref = node.spawn(SERVER_NODE, f"{TARGETS}:EchoActor")

    def ask(self) -> Any:
        return self.ref.ask(1)

    def close(self) -> None:
        self.ref.proxy().stop().get(timeout=10)


class GenrpcSession(Session):
    """A client node named after its process: the ``incoming`` workload runs several at once."""

    shared_callers = True
    pipelines = True
    actors = True
    metrics_port: int | None = None  # where the client node serves metrics (0: a free port)

    def __init__(self, port: int, pin: int | None) -> None:
        from genrpc_actors import Node  # noqa: PLC0415

        self.node = Node.start(
            f"bench-client-{os.getpid()}@127.0.0.1",
            cookie=COOKIE,
            tcp_server_port=False,
            client_config_per_node={SERVER_NODE: port},
            listen_address="127.0.0.1",
            metrics_port=self.metrics_port,
        )
        # The server is a LocalNode: it sets itself up the way the other servers do.
        self.node.call(SERVER_NODE, TARGETS, "setup_process", (pin,))

    def client(self, lane: Any = None) -> Client:
        return _GenrpcClient(self.node, SERVER_NODE if lane is None else (SERVER_NODE, lane))

    def async_client(self) -> AsyncClient:
        return _GenrpcAsyncClient(self.node, SERVER_NODE)

    def actor_client(self) -> Asker:
        return _GenrpcAsker(self.node)

    def close(self) -> None:
        self.node.stop()


class GenrpcMetricsSession(GenrpcSession):
    """The same client node, serving Prometheus metrics (its calls timed and counted)."""

    metrics_port = 0


class _Pyro5Client:
    def __init__(self, uri: str) -> None:
        import Pyro5.api  # noqa: PLC0415

        self.proxy = Pyro5.api.Proxy(uri)
        self.proxy._pyroBind()

    def add(self) -> Any:
        return self.proxy.add(1, 2)

    def echo(self, payload: bytes) -> Any:
        return self.proxy.echo(payload)

    def work(self) -> Any:
        return self.proxy.work(cpu_targets.WORK_ITERATIONS)

    def cast(self) -> None:
        self.proxy.tick()  # @oneway on the server

    def reset(self) -> None:
        self.proxy.reset_ticks()

    def sync(self, count: int) -> int:
        return int(self.proxy.wait_ticks(count))

    def pipeline(self, count: int) -> Any:
        raise NotImplementedError("a Pyro5 proxy has one call in flight at a time")

    def close(self) -> None:
        self.proxy._pyroRelease()


class _Pyro5Asker:
    """Pyro5's remote object is its actor: a proxy's method call (``echo(1)``) is the ask."""

    def __init__(self, uri: str) -> None:
        self.client = _Pyro5Client(uri)

    def ask(self) -> Any:
        return self.client.proxy.echo(1)

    def close(self) -> None:
        self.client.close()


class Pyro5Session(Session):
    actors = True

    def __init__(self, uri: str, pin: int | None) -> None:
        from Pyro5 import config  # noqa: PLC0415

        config.SERIALIZER = "marshal"
        config.SOCK_NODELAY = True
        self.uri = uri

    def client(self, lane: Any = None) -> Client:
        return _Pyro5Client(self.uri)

    def actor_client(self) -> Asker:
        return _Pyro5Asker(self.uri)


class _RpycClient:
    def __init__(self, port: int) -> None:
        import rpyc  # noqa: PLC0415

        self.conn = rpyc.connect("127.0.0.1", port, config={"sync_request_timeout": 600})
        root = self.conn.root
        # Bound once: each `root.name` would be a round trip of its own.
        self._add, self._echo, self._work = root.add, root.echo, root.work
        self._tick, self._add_async = rpyc.async_(root.tick), rpyc.async_(root.add)
        self._reset, self._wait = root.reset_ticks, root.wait_ticks
        self._casts = 0

    def add(self) -> Any:
        return self._add(1, 2)

    def echo(self, payload: bytes) -> Any:
        return self._echo(payload)

    def work(self) -> Any:
        return self._work(cpu_targets.WORK_ITERATIONS)

    def cast(self) -> None:
        self._tick()
        self._casts += 1
        if self._casts % CAST_DRAIN_EVERY == 0:
            self.conn.poll_all(0)  # else the server blocks on answers nobody reads

    def reset(self) -> None:
        self._reset()

    def sync(self, count: int) -> int:
        return int(self._wait(count))

    def pipeline(self, count: int) -> Any:
        calls = [self._add_async(1, 2) for _ in range(count)]
        last = None
        for call in calls:
            last = call.value
        return last

    def close(self) -> None:
        self.conn.close()


class RpycSession(Session):
    pipelines = True  # rpyc.async_

    def __init__(self, port: int, pin: int | None) -> None:
        self.port = port

    def client(self, lane: Any = None) -> Client:
        return _RpycClient(self.port)


class _ManagersClient:
    def __init__(self, manager: Any) -> None:
        self.proxy = manager.Bench()

    def add(self) -> Any:
        return self.proxy.add(1, 2)

    def echo(self, payload: bytes) -> Any:
        return self.proxy.echo(payload)

    def work(self) -> Any:
        return self.proxy.work(cpu_targets.WORK_ITERATIONS)

    def cast(self) -> None:
        raise NotImplementedError("multiprocessing.managers has no fire-and-forget call")

    def reset(self) -> None:
        self.proxy.reset_ticks()

    def sync(self, count: int) -> int:
        return int(self.proxy.wait_ticks(count))

    def pipeline(self, count: int) -> Any:
        raise NotImplementedError("a managers proxy has one call in flight at a time")

    def close(self) -> None:
        pass  # the proxy's connection is its thread's, closed with it


class ManagersSession(Session):
    casts = False

    def __init__(self, port: int, pin: int | None) -> None:
        from benchmarks.servers import BenchManager  # noqa: PLC0415

        self.manager = BenchManager(address=("127.0.0.1", port), authkey=AUTHKEY)
        self.manager.connect()
        self._connecting = threading.Lock()
        self._clients: list[_ManagersClient] = []

    def client(self, lane: Any = None) -> Client:
        # Its server authenticates each new connection in its one accepting thread; 64 at
        # once can wedge it, so they are opened one after the other.
        with self._connecting:
            client = _ManagersClient(self.manager)
        # Kept until the session closes: a proxy dropped by a thread that ends makes a new
        # connection to say so, and 64 threads ending at once wedge the server the same way.
        self._clients.append(client)
        return client

    def close(self) -> None:
        self._clients.clear()


class _GrpcClient:
    def __init__(self, port: int) -> None:
        import grpc  # noqa: PLC0415

        self.channel = grpc.insecure_channel(f"127.0.0.1:{port}")
        self._add, self._echo, self._work, self._reset, self._wait = (
            self.channel.unary_unary(
                f"/{GRPC_SERVICE}/{name}",
                request_serializer=pickle.dumps,
                response_deserializer=pickle.loads,
            )
            for name in ("add", "echo", "work", "reset_ticks", "wait_ticks")
        )

    def add(self) -> Any:
        return self._add((1, 2))

    def echo(self, payload: bytes) -> Any:
        return self._echo((payload,))

    def work(self) -> Any:
        return self._work((cpu_targets.WORK_ITERATIONS,), timeout=600)

    def cast(self) -> None:
        raise NotImplementedError("gRPC has no call without an answer (see GrpcSession)")

    def reset(self) -> None:
        self._reset(())

    def sync(self, count: int) -> int:
        return int(self._wait((count,), timeout=600))

    def pipeline(self, count: int) -> Any:
        futures = [self._add.future((1, 2)) for _ in range(count)]
        last = None
        for future in futures:
            last = future.result()
        return last

    def close(self) -> None:
        self.channel.close()


class GrpcSession(Session):
    """``grpc``: blocking calls on a channel (one HTTP/2 connection), which every caller
    thread shares (a channel is made for it); ``future()`` of a unary call pipelines.

    No casts: a gRPC call always has an answer, and the future of one that nobody keeps is
    cancelled when it is collected; a call whose answer is read later is a pipelined call, and
    a client stream carries the messages of one call, not requests of their own.
    """

    shared_callers = True
    casts = False
    pipelines = True

    def __init__(self, port: int, pin: int | None) -> None:
        self.port = port

    def client(self, lane: Any = None) -> Client:
        return _GrpcClient(self.port)


class _GrpcAsyncClient:
    def __init__(self, port: int) -> None:
        import grpc  # noqa: PLC0415

        self.channel = grpc.aio.insecure_channel(f"127.0.0.1:{port}")
        self._add, self._nap = (
            self.channel.unary_unary(
                f"/{GRPC_SERVICE}/{name}",
                request_serializer=pickle.dumps,
                response_deserializer=pickle.loads,
            )
            for name in ("add", "nap")
        )

    async def add(self) -> Any:
        return await self._add((1, 2))

    async def nap(self, seconds: float, value: Any) -> Any:
        return await self._nap((seconds, value), timeout=600)

    async def close(self) -> None:
        await self.channel.close()


class GrpcAsyncSession(Session):
    """``grpc.aio``: one channel (one HTTP/2 connection) per async client."""

    blocking = False
    casts = False

    def __init__(self, port: int, pin: int | None) -> None:
        self.port = port

    def async_client(self) -> AsyncClient:
        return _GrpcAsyncClient(self.port)


def _ray_echo_class() -> Any:
    """Ray's actor class, made here so that Ray ships it by value to its worker process (which
    does not have this repository on its path)."""
    import ray  # noqa: PLC0415

    @ray.remote(num_cpus=0)
    class RayEcho:
        def echo(self, value: Any) -> Any:
            return value

    return RayEcho


class _RayAsker:
    def __init__(self) -> None:
        import ray  # noqa: PLC0415

        self._get = ray.get
        self.actor = _ray_echo_class().remote()

    def ask(self) -> Any:
        return self._get(self.actor.echo.remote(1))

    def close(self) -> None:
        import ray  # noqa: PLC0415

        ray.kill(self.actor)


class RaySession(Session):
    """Ray: this process starts a Ray cluster of this machine (GCS, raylet, one CPU) and its
    actor runs in a Ray worker process of it, pinned as this process is. Only actor asks."""

    blocking = False
    casts = False
    actors = True

    def __init__(self, address: None, pin: int | None) -> None:
        import ray  # noqa: PLC0415

        ray.init(
            _node_ip_address="127.0.0.1",
            num_cpus=1,
            include_dashboard=False,
            object_store_memory=100 * 1024 * 1024,
            logging_level=logging.ERROR,
            log_to_driver=False,
        )

    def actor_client(self) -> Asker:
        return _RayAsker()

    def close(self) -> None:
        import ray  # noqa: PLC0415

        ray.shutdown()


SESSIONS: dict[str, type[Session]] = {
    "floor": FloorSession,
    GENRPC: GenrpcSession,
    GENRPC_PROCESSES: GenrpcSession,
    GENRPC_METRICS: GenrpcMetricsSession,
    "Pyro5": Pyro5Session,
    "rpyc": RpycSession,
    "managers": ManagersSession,
    GRPC_BLOCKING: GrpcSession,
    GRPC: GrpcAsyncSession,
    RAY: RaySession,
}

"""The server of each peer, in a process of its own, started and stopped by its handle.

``ServerHandle(peer, pin).start()`` spawns the server (``multiprocessing``'s ``spawn`` method)
and returns once it listens on 127.0.0.1; ``address`` is what its client needs (a port, or
Pyro5's URI) and ``pid`` which process it is; ``stop()`` ends it (SIGKILL past a grace period).
genrpc_actors' server is a ``genrpc_actors.testing.LocalNode``. Every server runs the functions
of ``benchmarks.targets``.

Settings chosen for each peer, the usual ones for speed: Pyro5 with its ``marshal`` serializer
(``serpent``, its default, base64-encodes bytes) and TCP_NODELAY; rpyc's ``ThreadedServer``;
``multiprocessing.managers`` over TCP (its default on Linux is a Unix socket). gRPC is two
peers, each with its usual server for its clients, and a generic handler per function with
pickle as its serializers, so that it carries the same Python objects as the others, without a
.proto: ``grpc`` (blocking clients) is ``grpc.server`` on a ``ThreadPoolExecutor`` of
``GRPC_WORKERS`` threads, ``/bench/add``, ``/bench/echo``, ``/bench/work``, ``/bench/tick``,
``/bench/reset_ticks`` and ``/bench/wait_ticks``; ``grpc.aio`` (asyncio clients) is
``grpc.aio.server`` on an event loop thread, ``/bench/add`` and ``/bench/nap`` (coroutine
handlers), with its limits on pending requests raised (below).
"""

from __future__ import annotations

import contextlib
import logging
import multiprocessing
import os
import pickle
import queue
import threading
from collections.abc import Callable
from multiprocessing.connection import Connection as Pipe
from multiprocessing.managers import BaseManager
from typing import Any

from benchmarks import cpu_targets, targets

GENRPC = "genrpc_actors"
GENRPC_PROCESSES = "genrpc_actors+processes"  # the CPU-bound requests in process workers
GENRPC_METRICS = "genrpc_actors+metrics"  # both nodes serving Prometheus metrics
GRPC = "grpc.aio"
GRPC_BLOCKING = "grpc"
RAY = "Ray"
GRPC_SERVICE = "bench"
# Requests that the server's core has read and its Python side has not yet taken up: by default
# it cancels those past 3,000 (5,800 of a burst of 10,000 came back CANCELLED), and those past
# 1,000 that wait too long. The limits are raised so that it serves the whole burst.
GRPC_SERVER_OPTIONS = [
    ("grpc.server.max_pending_requests", 1_000_000),
    ("grpc.server.max_pending_requests_hard_limit", 1_000_000),
]
# The blocking server's threads: every one of its handlers but wait_ticks returns at once, so
# more threads than 8 callers would only take turns at the GIL; 64 callers queue a little.
GRPC_WORKERS = 16
KILL_AFTER = 2.0  # its request_time_limit (seconds): the kill_latency workload runs into it
SERVER_NODE = "bench-server@127.0.0.1"
COOKIE = "bench-cookie-of-16-bytes"
AUTHKEY = b"bench"
START_TIMEOUT = 30.0
# The server objects that must live as long as their process: a grpc.server stops when it is
# collected.
_SERVING: list[Any] = []


class Bench:
    """The object that Pyro5, rpyc and managers serve: the same functions, as methods."""

    def add(self, a: Any, b: Any) -> Any:
        return targets.add(a, b)

    def echo(self, value: Any) -> Any:
        return value

    def work(self, iterations: int) -> int:
        return cpu_targets.work(iterations)

    def tick(self) -> None:
        targets.tick()

    def reset_ticks(self) -> int:
        return targets.reset_ticks()

    def wait_ticks(self, count: int) -> int:
        return targets.wait_ticks(count)


class BenchManager(BaseManager):
    pass


BenchManager.register("Bench", Bench)


def _serve_floor() -> Any:
    from benchmarks import floor  # noqa: PLC0415

    return floor.start_server()[1]


def _serve_pyro5() -> Any:
    import Pyro5.api  # noqa: PLC0415
    from Pyro5 import config  # noqa: PLC0415

    config.SOCK_NODELAY = True
    config.THREADPOOL_SIZE = 256  # 64 callers and the isolation pair hold a worker each

    @Pyro5.api.expose
    class PyroBench:  # Pyro5 exposes the methods a class defines, not the ones it inherits
        add = Bench.add
        echo = Bench.echo
        work = Bench.work
        reset_ticks = Bench.reset_ticks
        wait_ticks = Bench.wait_ticks

        @Pyro5.api.oneway  # type: ignore[untyped-decorator]
        def tick(self) -> None:
            targets.tick()

    daemon = Pyro5.api.Daemon(host="127.0.0.1", port=0)
    uri = daemon.register(PyroBench, "bench")
    threading.Thread(target=daemon.requestLoop, daemon=True, name="pyro5").start()
    return str(uri)


def _serve_rpyc() -> Any:
    import rpyc  # noqa: PLC0415
    from rpyc.utils.server import ThreadedServer  # noqa: PLC0415

    class RpycBench(rpyc.Service):  # type: ignore[misc]
        exposed_add = Bench.add
        exposed_echo = Bench.echo
        exposed_work = Bench.work
        exposed_tick = Bench.tick
        exposed_reset_ticks = Bench.reset_ticks
        exposed_wait_ticks = Bench.wait_ticks

    quiet = logging.getLogger("bench.rpyc")
    quiet.setLevel(logging.ERROR)
    server = ThreadedServer(RpycBench, hostname="127.0.0.1", port=0, logger=quiet)
    threading.Thread(target=server.start, daemon=True, name="rpyc").start()
    return server.port


def _serve_managers() -> Any:
    server = BenchManager(address=("127.0.0.1", 0), authkey=AUTHKEY).get_server()
    threading.Thread(target=server.serve_forever, daemon=True, name="managers").start()
    return server.address[1]  # type: ignore[index]  # a TCP address here


async def _grpc_add(request: Any, _context: Any) -> Any:
    return targets.add(*request)


async def _grpc_nap(request: Any, _context: Any) -> Any:
    return await targets.nap(*request)


def _grpc_apply(function: Callable[..., Any], request: Any, _context: Any) -> Any:
    return function(*request)


def _serve_grpc_blocking() -> Any:
    import functools  # noqa: PLC0415
    from concurrent.futures import ThreadPoolExecutor  # noqa: PLC0415

    import grpc  # noqa: PLC0415

    bench = Bench()
    functions = ("add", "echo", "work", "tick", "reset_ticks", "wait_ticks")
    handlers = {
        name: grpc.unary_unary_rpc_method_handler(
            functools.partial(_grpc_apply, getattr(bench, name)),
            request_deserializer=pickle.loads,
            response_serializer=pickle.dumps,
        )
        for name in functions
    }
    server = grpc.server(ThreadPoolExecutor(GRPC_WORKERS, thread_name_prefix="grpc"))
    server.add_generic_rpc_handlers((grpc.method_handlers_generic_handler(GRPC_SERVICE, handlers),))
    port = server.add_insecure_port("127.0.0.1:0")
    server.start()
    _SERVING.append(server)
    return port


def _serve_grpc() -> Any:
    import asyncio  # noqa: PLC0415

    import grpc  # noqa: PLC0415

    handlers = {
        name: grpc.unary_unary_rpc_method_handler(
            handler, request_deserializer=pickle.loads, response_serializer=pickle.dumps
        )
        for name, handler in (("add", _grpc_add), ("nap", _grpc_nap))
    }
    ports: queue.SimpleQueue[Any] = queue.SimpleQueue()

    async def serve() -> None:
        server = grpc.aio.server(options=GRPC_SERVER_OPTIONS)
        server.add_generic_rpc_handlers(
            (grpc.method_handlers_generic_handler(GRPC_SERVICE, handlers),)
        )
        port = server.add_insecure_port("127.0.0.1:0")
        await server.start()
        ports.put(port)
        await server.wait_for_termination()

    def run() -> None:
        try:
            asyncio.run(serve())
        except BaseException as exc:
            ports.put(exc)
            raise

    threading.Thread(target=run, daemon=True, name="grpc.aio").start()
    port = ports.get(timeout=START_TIMEOUT)
    if isinstance(port, BaseException):
        raise port
    return port


def _serve_ray() -> None:
    """Nothing: Ray's client starts its cluster of this machine (``ray.init``), GCS, raylet
    and the worker process that runs the actor, and ends it (``ray.shutdown``). Joining a
    cluster started here would need Ray's own addresses and tokens, and measure the same path."""


SERVERS: dict[str, Callable[[], Any]] = {
    "floor": _serve_floor,
    "Pyro5": _serve_pyro5,
    "rpyc": _serve_rpyc,
    "managers": _serve_managers,
    GRPC_BLOCKING: _serve_grpc_blocking,
    GRPC: _serve_grpc,
    RAY: _serve_ray,
}


def _serve(peer: str, pipe: Pipe, pin: int | None) -> None:
    targets.setup_process(pin)
    try:
        address = SERVERS[peer]()
    except BaseException as exc:
        pipe.send(("error", repr(exc)))
        raise
    pipe.send(("started", address))
    with contextlib.suppress(EOFError):
        pipe.recv()  # "stop", or EOF when the harness died
    os._exit(0)  # the servers' threads are not ours to join


class ServerHandle:
    """One peer's server process."""

    def __init__(self, peer: str, pin: int | None) -> None:
        self.peer = peer
        self.pin = pin
        self.address: Any = None
        self._process: multiprocessing.process.BaseProcess | None = None
        self._pipe: Pipe | None = None
        self._node: Any = None  # the LocalNode, for genrpc_actors

    @property
    def pid(self) -> int | None:
        if self._node is not None:
            return int(self._node.pid)
        return self._process.pid if self._process is not None else None

    def start(self) -> ServerHandle:
        if self.peer in (GENRPC, GENRPC_PROCESSES, GENRPC_METRICS):
            from genrpc_actors.testing import LocalNode  # noqa: PLC0415

            workers: dict[str, Any] = {"metrics_port": 0} if self.peer == GENRPC_METRICS else {}
            if self.peer == GENRPC_PROCESSES:
                workers = {
                    "worker_processes": "auto",
                    "process_modules": [cpu_targets.__name__],
                    "request_time_limit": KILL_AFTER,
                }
            self._node = LocalNode(
                SERVER_NODE, cookie=COOKIE, listen_address="127.0.0.1", **workers
            )
            self._node.start()
            self.address = self._node.port  # its client pins it: setup_process over RPC
            return self
        context = multiprocessing.get_context("spawn")
        parent, child = context.Pipe()
        process = context.Process(
            target=_serve, args=(self.peer, child, self.pin), name=f"bench-{self.peer}"
        )
        process.start()
        child.close()
        self._process, self._pipe = process, parent
        if not parent.poll(START_TIMEOUT):
            self.stop()
            raise RuntimeError(f"the {self.peer} server did not start in {START_TIMEOUT} s")
        kind, value = parent.recv()
        if kind != "started":
            self.stop()
            raise RuntimeError(f"the {self.peer} server failed to start: {value}")
        self.address = value
        return self

    def stop(self, timeout: float = 5.0) -> None:
        if self._node is not None:
            self._node.stop(timeout)
            self._node = None
        process, pipe = self._process, self._pipe
        if process is None or pipe is None:
            return
        with contextlib.suppress(OSError):
            pipe.send("stop")
        process.join(timeout)
        if process.is_alive():
            process.kill()
            process.join(timeout)
        pipe.close()
        self._process = self._pipe = None

    def __enter__(self) -> ServerHandle:
        return self.start()

    def __exit__(self, *_exc: object) -> None:
        self.stop()

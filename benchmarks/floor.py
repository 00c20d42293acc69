"""The floor and a standard-library peer, for side-by-side figures with ``node_calls``.

    python -m benchmarks.floor [--seconds S]

- *raw socket + pickle*: a threaded server that unpickles ``(function, args)``, calls it and
  pickles the result back over a length-prefixed frame; one connection per client thread. No
  library can be faster on the same path, so it is the yardstick.
- *multiprocessing.managers*: the standard library's RPC between processes (over a Unix domain
  socket, its default here: not the same transport as the others' TCP).

Both run their server in a process of its own, as ``node_calls`` does.
"""

from __future__ import annotations

import argparse
import multiprocessing
import operator
import pickle
import socket
import statistics
import struct
import threading
import time
from collections.abc import Callable
from multiprocessing.managers import BaseManager
from typing import Any

LENGTH = struct.Struct(">I")


def _recv_exact(sock: socket.socket, size: int) -> bytes:
    chunks, got = [], 0
    while got < size:
        chunk = sock.recv(size - got)
        if not chunk:
            raise ConnectionError("closed")
        chunks.append(chunk)
        got += len(chunk)
    return b"".join(chunks)


def _serve_connection(conn: socket.socket) -> None:
    with conn:
        try:
            while True:
                (size,) = LENGTH.unpack(_recv_exact(conn, 4))
                function, args = pickle.loads(_recv_exact(conn, size))
                body = pickle.dumps(function(*args), protocol=5)
                conn.sendall(LENGTH.pack(len(body)) + body)
        except ConnectionError:
            return


def _raw_server(ready: Any, stop: Any) -> None:
    server = socket.create_server(("127.0.0.1", 0))
    ready.send(server.getsockname()[1])
    server.settimeout(0.2)
    while not stop.is_set():
        try:
            conn, _ = server.accept()
        except TimeoutError:
            continue
        conn.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
        threading.Thread(target=_serve_connection, args=(conn,), daemon=True).start()


class RawClient:
    def __init__(self, port: int) -> None:
        self.sock = socket.create_connection(("127.0.0.1", port))
        self.sock.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)

    def call(self, function: Callable[..., Any], *args: Any) -> Any:
        body = pickle.dumps((function, args), protocol=5)
        self.sock.sendall(LENGTH.pack(len(body)) + body)
        (size,) = LENGTH.unpack(_recv_exact(self.sock, 4))
        return pickle.loads(_recv_exact(self.sock, size))


class _Math:
    def add(self, a: int, b: int) -> int:
        return a + b


class _Manager(BaseManager):
    pass


_Manager.register("Math", _Math)


def _measure(make_call: Callable[[], Callable[[], Any]], seconds: float, callers: int) -> str:
    samples: list[list[float]] = [[] for _ in range(callers)]
    stop_at = time.perf_counter() + seconds
    calls = [make_call() for _ in range(callers)]

    def run(index: int) -> None:
        call = calls[index]
        while time.perf_counter() < stop_at:
            begin = time.perf_counter()
            call()
            samples[index].append(time.perf_counter() - begin)

    begin = time.perf_counter()
    threads = [threading.Thread(target=run, args=(i,)) for i in range(callers)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    elapsed = time.perf_counter() - begin
    flat = sorted(s * 1e6 for per in samples for s in per)
    return f"{len(flat) / elapsed:>9,.0f} calls/s  p50 {statistics.median(flat):>6.0f} us"


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(
        description="the raw-socket floor and multiprocessing.managers"
    )
    parser.add_argument("--seconds", type=float, default=3.0)
    args = parser.parse_args(argv)
    context = multiprocessing.get_context("spawn")
    ready_parent, ready_child = context.Pipe()
    stop = context.Event()
    server = context.Process(target=_raw_server, args=(ready_child, stop), daemon=True)
    server.start()
    port = ready_parent.recv()
    try:
        for callers in (1, 8):

            def make_raw() -> Callable[[], Any]:
                client = RawClient(port)
                return lambda: client.call(operator.add, 1, 2)

            figures = _measure(make_raw, args.seconds, callers)
            print(f"raw socket + pickle, {callers} caller(s): {figures}")
    finally:
        stop.set()
        server.join(5)
    manager = _Manager(ctx=context)
    manager.start()
    try:
        for callers in (1, 8):

            def make_managed() -> Callable[[], Any]:
                math = manager.Math()  # type: ignore[attr-defined]
                return lambda: math.add(1, 2)

            print(
                f"multiprocessing.managers, {callers} caller(s): "
                f"{_measure(make_managed, args.seconds, callers)}"
            )
    finally:
        manager.shutdown()


if __name__ == "__main__":
    main()

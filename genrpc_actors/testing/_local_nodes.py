"""Nodes in their own OS processes, to call, kill and restart.

::

    from genrpc_actors.testing import LocalNode

    with LocalNode("slave@127.0.0.1", cookie="c") as slave:       # a process of its own
        node.call(slave.name, "os", "getpid")                      # map slave.name -> slave.port
        slave.kill()                                               # SIGKILL
        slave.restart()                                            # same name, same port

Processes are started with ``multiprocessing``'s ``spawn`` method, so they share nothing with the
test process but what is passed to them. ``local_node_factory`` is a pytest fixture.
"""

from __future__ import annotations

import contextlib
import logging
import multiprocessing
import os
import signal
import sys
from collections.abc import Callable, Iterator
from multiprocessing.connection import Connection as Pipe
from typing import Any, Self

__all__ = ["LocalNode", "local_node_factory"]

START_TIMEOUT = 30.0


def _serve(name: str, config: dict[str, Any], pipe: Pipe, log_level: int) -> None:
    logging.basicConfig(level=log_level, stream=sys.stderr, format=f"{name} %(name)s %(message)s")
    # This process is daemonic for its parent's sake (it ends with the test process); its node
    # may still start process workers of its own, which end with it.
    multiprocessing.current_process().daemon = False
    import genrpc_actors  # noqa: PLC0415 - imported in the child process

    try:
        node = genrpc_actors.start(name, **config)
    except BaseException as exc:  # noqa: BLE001 - reported to the parent, which raises it
        pipe.send(("error", repr(exc)))
        return
    pipe.send(("started", (node.port, node.ssl_port)))
    try:
        while True:
            try:
                command = pipe.recv()
            except EOFError:  # the parent died: end with it
                break
            if command == "stop":
                break
    finally:
        node.stop()
        # Actors the node's callers started (named actors, say) would keep the process alive.
        import pykka  # noqa: PLC0415

        pykka.ActorRegistry.stop_all(timeout=5)
        with contextlib.suppress(OSError):
            pipe.send(("stopped", None))


class LocalNode:
    """A node running in its own process; ``name`` and ``port`` say how to reach it (and
    ``ssl_port``, its TLS listener's port, when it has one: ``ssl_server_port`` configured)."""

    def __init__(self, name: str, *, log_level: int = logging.WARNING, **config: Any) -> None:
        self.name = name
        self.config = dict(config)
        self.config.setdefault("tcp_server_port", 0)
        self.port: int = 0
        self.ssl_port: int = 0
        self._log_level = log_level
        self._process: multiprocessing.process.BaseProcess | None = None
        self._pipe: Pipe | None = None

    def __repr__(self) -> str:
        state = "running" if self.is_alive() else "stopped"
        tls = f" ssl_port={self.ssl_port}" if self.ssl_port else ""
        return f"<LocalNode {self.name} port={self.port}{tls} pid={self.pid} {state}>"

    @property
    def pid(self) -> int | None:
        return self._process.pid if self._process is not None else None

    def is_alive(self) -> bool:
        return self._process is not None and self._process.is_alive()

    def start(self) -> Self:
        """Start the process and wait until its node listens (``RuntimeError`` if it fails)."""
        if self.is_alive():
            raise RuntimeError(f"{self.name} is already running")
        context = multiprocessing.get_context("spawn")
        parent, child = context.Pipe()
        config = dict(self.config)
        if self.port:
            config["tcp_server_port"] = self.port  # a restart keeps the ports
        if self.ssl_port:
            config["ssl_server_port"] = self.ssl_port
        process = context.Process(
            target=_serve,
            args=(self.name, config, child, self._log_level),
            name=f"genrpc-node-{self.name}",
            daemon=True,
        )
        process.start()
        child.close()
        self._process, self._pipe = process, parent
        if not parent.poll(START_TIMEOUT):
            self.kill()
            raise RuntimeError(f"{self.name} did not start within {START_TIMEOUT} s")
        try:
            kind, value = parent.recv()
        except EOFError:
            self.kill()
            raise RuntimeError(f"{self.name} died while starting") from None
        if kind != "started":
            self.kill()
            raise RuntimeError(f"{self.name} failed to start: {value}")
        self.port, self.ssl_port = value
        return self

    def stop(self, timeout: float = 10.0) -> None:
        """Stop the node cleanly (SIGKILL if it does not stop within ``timeout``)."""
        process, pipe = self._process, self._pipe
        if process is None or pipe is None:
            return
        with contextlib.suppress(OSError, BrokenPipeError):
            pipe.send("stop")
        process.join(timeout)
        if process.is_alive():
            self.kill()
        self._close()

    def kill(self) -> None:
        """SIGKILL the process, as a crash would, and reap it."""
        process = self._process
        if process is not None and process.pid is not None and process.is_alive():
            os.kill(process.pid, signal.SIGKILL)
            process.join(10.0)
        self._close()

    def restart(self) -> Self:
        """Start again (after ``kill`` or ``stop``), on the same ports."""
        self.kill() if self.is_alive() else None
        return self.start()

    def _close(self) -> None:
        if self._pipe is not None:
            self._pipe.close()
        if self._process is not None:
            self._process.join(0)
            self._process.close() if not self._process.is_alive() else None
        self._process = self._pipe = None

    def __enter__(self) -> Self:
        return self.start() if not self.is_alive() else self

    def __exit__(self, *_exc: object) -> None:
        self.stop()


def local_node_factory() -> Iterator[Callable[..., LocalNode]]:
    """Fixture body: ``make(name, **config)`` starts a LocalNode, stopped after the test."""
    started: list[LocalNode] = []

    def make(name: str, **config: Any) -> LocalNode:
        node = LocalNode(name, **config).start()
        started.append(node)
        return node

    yield make
    for node in reversed(started):
        node.stop()


try:  # the fixtures, for tests that use pytest
    import pytest

    local_node_factory = pytest.fixture(local_node_factory)
except ImportError:  # pragma: no cover - pytest is a test dependency only
    pass

"""Running the real ``genrpc`` executable in subprocesses, each stopped by PID after its test."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
from collections.abc import Iterator
from pathlib import Path

import pytest

from genrpc_actors.testing import free_port

GENRPC = str(Path(sys.executable).with_name("genrpc"))
COOKIE = "cli-cookie-not-secret"  # 16 bytes or more: no short_cookie warning in the output


def run(
    *args: str, env: dict[str, str] | None = None, timeout: float = 60
) -> subprocess.CompletedProcess[str]:
    """``genrpc ARGS`` to its end."""
    return subprocess.run(
        [GENRPC, *args],
        capture_output=True,
        text=True,
        timeout=timeout,
        env={**os.environ, **(env or {})},
        check=False,
    )


def stop(process: subprocess.Popen[str]) -> None:
    """SIGTERM, then SIGKILL if it is still there after 15 s; its pipes closed."""
    if process.poll() is None:
        os.kill(process.pid, signal.SIGTERM)
        try:
            process.wait(15)
        except subprocess.TimeoutExpired:
            os.kill(process.pid, signal.SIGKILL)
            process.wait(15)
    for stream in (process.stdin, process.stdout, process.stderr):
        if stream is not None:
            stream.close()


class Processes:
    """``genrpc`` processes started by one test; every one is stopped after it."""

    def __init__(self) -> None:
        self.started: list[subprocess.Popen[str]] = []

    def __repr__(self) -> str:
        return f"<Processes {[p.pid for p in self.started]}>"

    def start(self, *args: str, env: dict[str, str] | None = None) -> subprocess.Popen[str]:
        process = subprocess.Popen(
            [GENRPC, *args],
            stdout=subprocess.PIPE,
            stderr=subprocess.PIPE,
            text=True,
            env={**os.environ, **(env or {})},
        )
        self.started.append(process)
        return process

    def node(
        self, *args: str, env: dict[str, str] | None = None
    ) -> tuple[subprocess.Popen[str], str]:
        """``genrpc node ARGS`` and its banner, once printed (the test fails without one)."""
        process = self.start("node", *args, env=env)
        assert process.stdout is not None
        banner = process.stdout.readline()  # a node that fails to start ends, closing stdout
        if "listening" not in banner:
            ended = process.poll() is not None and process.stderr is not None
            why = process.stderr.read() if ended and process.stderr is not None else ""
            stop(process)
            pytest.fail(f"no banner: {banner!r} {why}")
        return process, banner


@pytest.fixture
def processes() -> Iterator[Processes]:
    started = Processes()
    try:
        yield started
    finally:
        for process in started.started:
            stop(process)


@pytest.fixture
def cli_node(processes: Processes) -> tuple[int, subprocess.Popen[str]]:
    """``genrpc node cli@127.0.0.1`` on a port of its own, listening on 127.0.0.1."""
    port = free_port()
    process, banner = processes.node(
        "cli@127.0.0.1",
        "--port",
        str(port),
        "--cookie",
        COOKIE,
        env={"GENRPC_LISTEN_ADDRESS": "127.0.0.1"},
    )
    assert banner == (f"node cli@127.0.0.1 listening on tcp 127.0.0.1:{port}; Ctrl-C stops it\n")
    return port, process

"""What runs on the lab's hosts: node processes, the runner's node and delaying relays, under
either driver.

Under ``tcp`` every node listens on plain TCP (5369) alone; under ``ssl`` on TLS (5370) alone,
with a certificate of its own that names it (made for the run by ``genrpc_actors._tools._certs``,
the code behind ``genrpc certs``), presented as a server and as a client. With one listener per
node, a call that succeeds under ``ssl`` went over TLS.
"""

from __future__ import annotations

import os
import queue
import signal
import subprocess
import sys
import threading
import time
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import IO, Any, Literal, TypeVar

import genrpc_actors
from genrpc_actors._tools._certs import NodeFiles, create_ca, create_node_certificate
from integration.lab import Host, LabInfo, in_host

__all__ = [
    "COOKIE",
    "KEEPALIVE",
    "PORT",
    "SSL_PORT",
    "TCP",
    "Driver",
    "NodeProcess",
    "RelayProcess",
    "make_certificates",
    "start_runner",
    "thread_states",
    "wait_until",
]

COOKIE = "integration-cookie-of-32-bytes!!"
PORT = 5369
SSL_PORT = 5370
# Keepalive that notices a silent peer in idle + interval x count = 1 + 1 x 2 = 3 s.
KEEPALIVE = {
    "socket_keepalive_idle": 1,
    "socket_keepalive_interval": 1,
    "socket_keepalive_count": 2,
}
STARTUP = 30.0  # a process that has not said it is ready by then failed (2 busy vCPUs)
GENRPC = str(Path(sys.executable).with_name("genrpc"))

T = TypeVar("T")


def wait_until(condition: Callable[[], T], timeout: float, interval: float = 0.05) -> T:
    """``condition()``'s first true value, polled until ``timeout`` (then AssertionError)."""
    deadline = time.monotonic() + timeout
    while True:
        value = condition()
        if value:
            return value
        if time.monotonic() > deadline:
            raise AssertionError(f"not within {timeout} s")
        time.sleep(interval)


def make_certificates(folder: Path, names: list[str]) -> dict[str, NodeFiles]:
    """A CA in ``folder`` and a certificate naming each node of ``names``, signed by it."""
    create_ca(folder)
    return {name: create_node_certificate(folder, name) for name in names}


@dataclass(frozen=True)
class Driver:
    """The driver every node of a run listens on and calls with, and its certificates."""

    name: Literal["tcp", "ssl"]
    certificates: Mapping[str, NodeFiles] = field(default_factory=dict)

    def __str__(self) -> str:
        return self.name

    @property
    def port(self) -> int:
        """Where every node listens for this driver."""
        return SSL_PORT if self.name == "ssl" else PORT

    def settings(self, node: str) -> dict[str, Any]:
        """The configuration that puts ``node`` on this driver: it listens on it alone and
        calls every other node with it."""
        if self.name == "tcp":
            return {"tcp_server_port": PORT, "tcp_client_port": PORT}
        options = self.certificates[node].options()
        return {
            "tcp_server_port": False,
            "ssl_server_port": SSL_PORT,
            "ssl_client_port": SSL_PORT,
            "ssl_server_options": options,
            "ssl_client_options": options,
            "default_client_driver": "ssl",
        }


TCP = Driver("tcp")


def _first_line(stream: IO[str], timeout: float) -> str:
    """The first line of ``stream``, waited for at most ``timeout`` ("" at EOF or timeout)."""
    lines: queue.Queue[str] = queue.Queue()
    threading.Thread(target=lambda: lines.put(stream.readline()), daemon=True).start()
    try:
        return lines.get(timeout=timeout)
    except queue.Empty:
        return ""


class _Process:
    """A process on a lab host that says it is ready on its first line; stopped by its PID."""

    def __init__(self, host: Host, log: Path | None) -> None:
        self.host = host
        self.log = log
        self.process: subprocess.Popen[str] | None = None
        self.ready_line = ""
        self.lines: list[str] = []  # what it printed after its first line (when followed)
        self._follower: threading.Thread | None = None

    def _spawn(self, command: list[str], env: Mapping[str, str], ready: str) -> None:
        stderr: IO[str] | int = subprocess.DEVNULL
        if self.log is not None:  # a file, never a pipe nobody drains (a full pipe blocks)
            self.log.parent.mkdir(parents=True, exist_ok=True)
            stderr = self.log.open("a")
        try:
            self.process = subprocess.Popen(
                in_host(self.host, command),
                stdout=subprocess.PIPE,
                stderr=stderr,
                text=True,
                env=dict(env),
            )
        finally:
            if not isinstance(stderr, int):
                stderr.close()
        assert self.process.stdout is not None
        self.ready_line = _first_line(self.process.stdout, STARTUP)
        if ready not in self.ready_line:
            self.kill()
            raise RuntimeError(f"{command[:4]} on {self.host.name} did not start; see {self.log}")

    @property
    def pid(self) -> int:
        assert self.process is not None
        return self.process.pid

    def kill(self) -> None:
        if self.process is not None and self.process.poll() is None:
            os.kill(self.process.pid, signal.SIGKILL)
            self.process.wait(10)
        self._close_streams()

    def stop(self) -> None:
        if self.process is None:
            return
        if self.process.poll() is None:
            os.kill(self.process.pid, signal.SIGTERM)
            try:
                self.process.wait(15)
            except subprocess.TimeoutExpired:
                self.kill()
        self._close_streams()

    def _follow(self) -> None:
        """Collect the rest of its output in ``lines`` (read until it exits)."""
        assert self.process is not None
        stdout = self.process.stdout
        assert stdout is not None

        def read() -> None:
            for line in stdout:
                self.lines.append(line.rstrip("\n"))

        self._follower = threading.Thread(target=read, daemon=True)
        self._follower.start()

    def _close_streams(self) -> None:
        if self._follower is not None:
            self._follower.join(10)  # the process has exited: its stdout is at its end
        if self.process is not None and self.process.stdout is not None:
            self.process.stdout.close()


def thread_states(pid: int) -> str:
    """The scheduler states of ``pid``'s threads, from /proc (``"SSSST"``: one a letter)."""
    states = []
    for task in Path(f"/proc/{pid}/task").iterdir():
        try:
            states.append((task / "stat").read_text().rpartition(")")[2].split()[0])
        except FileNotFoundError:
            continue  # a thread that has just ended
    return "".join(sorted(states))


class NodeProcess(_Process):
    """``genrpc node`` on one host of the lab under ``driver``; restartable on the same address.
    Its log (stderr) goes to ``log``."""

    def __init__(self, host: Host, driver: Driver = TCP, log: Path | None = None) -> None:
        super().__init__(host, log)
        self.driver = driver

    def start(self) -> NodeProcess:
        settings = {
            "cookie": COOKIE,
            "listen_address": self.host.address,
            **KEEPALIVE,
            **self.driver.settings(self.host.name),
        }
        env = {**os.environ}
        env.update({f"GENRPC_{key.upper()}": str(value) for key, value in settings.items()})
        self._spawn([GENRPC, "node", self.host.name], env, "listening")
        return self

    def freeze(self) -> None:
        """SIGSTOP it, and wait until every one of its threads has stopped: the signal takes
        effect as each thread is next scheduled, which can take a while on a busy machine."""
        os.kill(self.pid, signal.SIGSTOP)
        wait_until(lambda: self.stopped, timeout=STARTUP)

    @property
    def stopped(self) -> bool:
        """Whether every one of its threads is stopped (by SIGSTOP, or traced)."""
        return set(thread_states(self.pid)) <= {"T", "t"}

    def thaw(self) -> None:
        """SIGCONT it."""
        os.kill(self.pid, signal.SIGCONT)


class RelayProcess(_Process):
    """``integration.relay`` on ``host``: it listens on the host's address, on a port of its
    own (``port``), and forwards to ``target_port`` there with ``delay`` seconds each way (and
    stalls of ``stall_for`` seconds every ``stall_every``)."""

    def __init__(
        self,
        host: Host,
        target_port: int,
        *,
        delay: float,
        stall_every: float = 0.0,
        stall_for: float = 0.0,
        log: Path | None = None,
    ) -> None:
        super().__init__(host, log)
        self.target_port = target_port
        self.options = ["--delay", str(delay)]
        self.options += ["--stall-every", str(stall_every), "--stall-for", str(stall_for)]
        self.port = 0

    def start(self) -> RelayProcess:
        command = [sys.executable, "-m", "integration.relay", "--listen", self.host.address]
        command += ["--to", f"{self.host.address}:{self.target_port}", *self.options]
        self._spawn(command, os.environ, "relay listening on")
        self.port = int(self.ready_line.strip().rpartition(":")[2])
        self._follow()
        return self

    @property
    def accepted(self) -> int:
        """How many connections it has accepted so far."""
        return sum(line.startswith("accepted ") for line in self.lines)


def start_runner(lab: LabInfo, driver: Driver, **overrides: Any) -> genrpc_actors.Node:
    """This process's node, on the runner host under ``driver``; it reaches every node on the
    driver's port unless ``overrides`` (``client_config_per_node``, ...) say otherwise."""
    settings: dict[str, Any] = {
        "cookie": COOKIE,
        "listen_address": lab.runner.address,
        "connect_timeout": 2.0,
        **KEEPALIVE,
        **driver.settings(lab.runner.name),
        **overrides,
    }
    return genrpc_actors.start(lab.runner.name, **settings)


def stop_on_sigterm() -> None:
    """Turn SIGTERM into KeyboardInterrupt, so that ``make integration`` interrupted (or a CI
    time limit) still runs the clean-ups that stop every node process."""

    def interrupted(signum: int, _frame: object) -> None:
        raise KeyboardInterrupt(signum)

    signal.signal(signal.SIGTERM, interrupted)

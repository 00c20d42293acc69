"""The real ``genrpc`` executable, run in subprocesses."""

from __future__ import annotations

import contextlib
import json
import os
import queue
import signal
import socket
import stat
import subprocess
import threading
from pathlib import Path

import psutil
import pytest

from genrpc_actors.testing import free_port
from tests.tools.cli import COOKIE, GENRPC, run
from tests.waiting import process_gone, wait_for


def test_version_and_help():
    result = run("--version")
    assert result.returncode == 0
    assert result.stdout.strip()
    result = run("--help")
    assert result.returncode == 0
    for command in ("node", "call", "certs"):
        assert command in result.stdout
    assert run().returncode == 2
    for command in ("call", "stats"):
        result = run(command, "--help")
        for option in ("--port N", "--driver {tcp,ssl}", "--name NAME@HOST", "Ctrl-C"):
            assert option in result.stdout, (command, option)
    assert "KEY=LITERAL" in run("call", "--help").stdout


def test_call_a_node_run_by_the_cli(cli_node):
    port, _ = cli_node
    env = {"GENRPC_TCP_CLIENT_PORT": str(port), "GENRPC_COOKIE": COOKIE}
    result = run("call", "cli@127.0.0.1", "operator", "add", "2", "3", env=env)
    assert (result.returncode, result.stdout.strip()) == (0, "5"), result.stderr
    result = run("call", "cli@127.0.0.1", "genrpc_actors", "node", "--json", env=env)
    assert result.stdout.strip() == '"cli@127.0.0.1"'
    result = run("call", "cli@127.0.0.1", "os", "no_such_function", env=env)
    assert result.returncode == 1
    assert "RemoteError" in result.stderr
    assert "no_such_function" in result.stderr
    assert len(result.stderr.strip().splitlines()) == 1


@pytest.mark.parametrize("signum", [signal.SIGTERM, signal.SIGINT])
def test_a_node_stops_cleanly_on_sigterm_and_sigint(cli_node, signum):
    _, process = cli_node
    os.kill(process.pid, signum)
    assert process.wait(15) == 0
    assert process.stdout.read() == "node cli@127.0.0.1 stopped\n"
    assert process.stderr.read() == ""


def test_the_banner_lists_every_listener_and_no_port_0(processes, tmp_path):
    ssl_port = free_port()
    config = _tls_config(tmp_path, "both@127.0.0.1", tcp_server_port=0, ssl_server_port=ssl_port)
    _, banner = processes.node("both@127.0.0.1", "--config", str(config))
    tcp_port = int(banner.partition("tcp 127.0.0.1:")[2].partition(",")[0])  # picked by the OS
    assert tcp_port > 0
    assert banner == (
        f"node both@127.0.0.1 listening on tcp 127.0.0.1:{tcp_port}, ssl 127.0.0.1:{ssl_port};"
        " Ctrl-C stops it\n"
    )
    tls_port = free_port()
    config = _tls_config(tmp_path, "tls@127.0.0.1", ssl_server_port=tls_port)
    _, banner = processes.node("tls@127.0.0.1", "--config", str(config))
    assert banner == f"node tls@127.0.0.1 listening on ssl 127.0.0.1:{tls_port}; Ctrl-C stops it\n"


def test_a_node_that_listens_nowhere_says_so(processes):
    env = {"GENRPC_TCP_SERVER_PORT": "false", "GENRPC_COOKIE": COOKIE}
    _, banner = processes.node("out@127.0.0.1", env=env)
    assert banner == "node out@127.0.0.1 listening nowhere (it only calls out); Ctrl-C stops it\n"


def test_a_port_in_use_is_one_line_and_status_1():
    with socket.create_server(("127.0.0.1", 0)) as taken:
        port = taken.getsockname()[1]
        result = run("node", "alpha@127.0.0.1", "--port", str(port), "--cookie", COOKIE)
    assert result.returncode == 1
    assert result.stderr == (
        f"error: cannot listen on 0.0.0.0:{port} (tcp): address already in use;"
        " pick another port with --port\n"
    )
    assert result.stdout == ""


def test_a_tls_port_in_use_is_one_line_and_status_1(tmp_path):
    with socket.create_server(("127.0.0.1", 0)) as taken:
        port = taken.getsockname()[1]
        config = _tls_config(tmp_path, "alpha@127.0.0.1", ssl_server_port=port)
        result = run("node", "alpha@127.0.0.1", "--config", str(config))
    assert result.returncode == 1
    assert result.stderr == (
        f"error: cannot listen on 127.0.0.1:{port} (ssl): address already in use;"
        " pick another ssl_server_port\n"
    )


def test_call_errors_are_one_line_and_status_1():
    env = {"GENRPC_TCP_CLIENT_PORT": str(free_port()), "GENRPC_COOKIE": COOKIE}
    result = run("call", "nobody@127.0.0.1", "os", "getpid", env=env)
    assert result.returncode == 1
    assert "econnrefused" in result.stderr
    assert len(result.stderr.strip().splitlines()) == 1
    result = run("call", "nobody@127.0.0.1", "os", "getpid", env={"GENRPC_SEND_TIMEOUT": "-1"})
    assert result.returncode == 1
    assert "send_timeout" in result.stderr


def test_certs(tmp_path):
    result = run("certs", "node", "n1@127.0.0.1", str(tmp_path))
    assert result.returncode == 0, result.stderr
    key = tmp_path / "n1@127.0.0.1.key.pem"
    cert = tmp_path / "n1@127.0.0.1.cert.pem"
    assert stat.S_IMODE(key.stat().st_mode) == 0o600
    assert stat.S_IMODE(cert.stat().st_mode) == 0o644
    assert (tmp_path / "ca.cert.pem").exists()
    assert stat.S_IMODE((tmp_path / "ca.key.pem").stat().st_mode) == 0o600
    assert "BEGIN CERTIFICATE" in cert.read_text()
    assert run("certs", "node", "no-at-sign", str(tmp_path)).returncode == 1


def test_demo_tours_a_cluster_and_stops_everything():
    result = run("demo", "--nodes", "3", timeout=120)
    assert result.returncode == 0, result.stderr[-3000:]
    out = result.stdout
    for expected in (
        "bad nodes",
        "['nobody@127.0.0.1']",
        "hello from sbcast",
        "-> 1001",
        "('node1@127.0.0.1', 'orders')",
        "the pending call fails at once",
        "BadRpc('econnrefused')",
        "every process stopped",
        "while it crunches in a worker",
        "BadRpc(('killed', 'exit 3'))",
        "\"node1@127.0.0.1 heard 'hello'\"",  # a remote actor asked
        "('node2@127.0.0.1', 'passes on', \"node1@127.0.0.1 heard 'where are you?'\")",
        "node='node3@127.0.0.1', reason='closed')",  # NodeDown
        "NodeUp(",
        "it crashes; its monitor says                         -> RuntimeError('told to crash')",
        "restarted by the supervisor, on                      -> 'node2@127.0.0.1'",
        "-> ('noconnection', 'node2@127.0.0.1')",
        "restarted elsewhere, on                              -> 'node3@127.0.0.1'",
        "intensity 2 exceeded: the supervisor exits           -> supervision.SHUTDOWN",
    ):
        assert expected in out, expected
    assert out.count("call('node") == 3


def test_stats_of_a_running_node(cli_node):
    port, _ = cli_node
    env = {"GENRPC_TCP_CLIENT_PORT": str(port), "GENRPC_COOKIE": COOKIE}
    result = run("stats", "cli@127.0.0.1", "--json", env=env)
    assert result.returncode == 0, result.stderr
    info = json.loads(result.stdout)
    assert info["name"] == "cli@127.0.0.1"
    assert info["port"] == port
    (acceptor,) = info["acceptors"]  # the connection of the throwaway node asking
    assert acceptor["node"].startswith("genrpc-cli-")
    assert acceptor["requests"] == 1
    result = run("stats", "cli@127.0.0.1", env=env)
    assert result.returncode == 0
    assert result.stdout.startswith(f"node cli@127.0.0.1 listening on tcp port {port}\n")
    assert "incoming connections: 1" in result.stdout
    assert "handshakes in progress 0 (at most 1000), refused 0" in result.stdout
    assert (
        run(
            "stats", "nobody@127.0.0.1", env={**env, "GENRPC_TCP_CLIENT_PORT": str(free_port())}
        ).returncode
        == 1
    )


def test_stats_lists_the_process_workers_of_a_node(processes):
    port = free_port()
    env = {
        "GENRPC_WORKER_PROCESSES": "2",
        "GENRPC_PROCESS_MODULES": "os",
        "GENRPC_LISTEN_ADDRESS": "127.0.0.1",
    }
    process, banner = processes.node(
        "procs@127.0.0.1", "--port", str(port), "--cookie", COOKIE, env=env
    )
    assert f"listening on tcp 127.0.0.1:{port};" in banner
    asker = {"GENRPC_COOKIE": COOKIE}
    info = json.loads(
        run("stats", "procs@127.0.0.1", "--port", str(port), "--json", env=asker).stdout
    )
    pids = [w["pid"] for w in info["process_workers"]]
    assert len(pids) == 2
    assert process.pid not in pids
    assert all(psutil.Process(pid).is_running() for pid in pids)
    result = run("stats", "procs@127.0.0.1", "--port", str(port), env=asker)
    assert "process workers: 2" in result.stdout
    assert f"pid {pids[0]}" in result.stdout
    process.send_signal(signal.SIGTERM)
    assert process.wait(30) == 0
    wait_for(lambda: all(process_gone(pid) for pid in pids), timeout=10)  # they ended with the node


def test_shell_runs_a_node_and_a_console():
    script = "print(node.name, gen_rpc.call(node.name, 'operator', 'add', (2, 3)))\n"
    result = subprocess.run(
        [GENRPC, "shell", "sh@127.0.0.1", "--port", "0", "--cookie", COOKIE],
        input=script,
        capture_output=True,
        text=True,
        timeout=60,
        check=False,
    )
    assert result.returncode == 0, result.stderr
    assert "sh@127.0.0.1 5" in result.stdout
    assert "genrpc shell: node sh@127.0.0.1" in result.stderr


def test_shell_master_and_slave_reach_each_other_over_tls(tmp_path):
    """What `make shell-master` / `make shell-slave` run, with their configurations."""
    from genrpc_actors._tools._shells import write_shell_configs

    master_toml, slave_toml = write_shell_configs(tmp_path)
    assert stat.S_IMODE(master_toml.stat().st_mode) == 0o600
    assert write_shell_configs(tmp_path) == [master_toml, slave_toml]  # made once
    slave = subprocess.Popen(
        [GENRPC, "shell", "slave@127.0.0.1", "--config", str(slave_toml)],
        stdin=subprocess.PIPE,
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
    )
    try:
        script = (
            "import time\n"
            "for _ in range(100):\n"
            "    try:\n"
            "        said = gen_rpc.call('slave@127.0.0.1', 'genrpc_actors', 'node')\n"
            "        print('slave says', said)\n"
            "        break\n"
            "    except gen_rpc.BadRpc:\n"
            "        time.sleep(0.1)\n"
            "\n"
        )
        master = subprocess.run(
            [GENRPC, "shell", "master@127.0.0.1", "--config", str(master_toml)],
            input=script,
            capture_output=True,
            text=True,
            timeout=60,
            check=False,
        )
        assert "slave says slave@127.0.0.1" in master.stdout, master.stderr[-2000:]
    finally:
        slave.communicate("", timeout=30)
    assert slave.returncode == 0


def _tls_config(
    directory: Path, name: str, *, ssl_server_port: int, tcp_server_port: int | bool = False
) -> Path:
    """A TOML configuration for the node ``name``, listening on 127.0.0.1 with a certificate
    made by ``genrpc certs`` (TCP off unless ``tcp_server_port`` says otherwise)."""
    certs = directory / "certs"
    made = run("certs", "node", name, str(certs))
    assert made.returncode == 0, made.stderr
    path = directory / f"{name}.toml"
    path.write_text(
        f'cookie = "{COOKIE}"\n'
        'listen_address = "127.0.0.1"\n'
        f"tcp_server_port = {str(tcp_server_port).lower()}\n"
        f"ssl_server_port = {ssl_server_port}\n"
        "[ssl_server_options]\n"
        f'certfile = "{certs / f"{name}.cert.pem"}"\n'
        f'keyfile = "{certs / f"{name}.key.pem"}"\n'
        f'cacertfile = "{certs / "ca.cert.pem"}"\n'
    )
    return path


def test_stats_watch_refreshes_until_ctrl_c_ends_it_with_status_0(cli_node, processes):
    port, _ = cli_node
    env = {"GENRPC_TCP_CLIENT_PORT": str(port), "GENRPC_COOKIE": COOKIE}
    watch = processes.start("stats", "cli@127.0.0.1", "--watch", env=env)
    assert watch.stdout is not None
    lines: queue.Queue[str] = queue.Queue()
    threading.Thread(target=lambda: [lines.put(line) for line in watch.stdout], daemon=True).start()
    seen: list[str] = []

    def looks() -> int:
        with contextlib.suppress(queue.Empty):
            while True:
                seen.append(lines.get_nowait())
        return sum(line.startswith("cli@127.0.0.1 at ") for line in seen)

    wait_for(lambda: looks() >= 2, timeout=15)
    headers = [line for line in seen if line.startswith("cli@127.0.0.1 at ")]
    assert headers[0].endswith(", every 1 s\n")
    assert seen.count(f"node cli@127.0.0.1 listening on tcp port {port}\n") >= 2
    assert "\x1b[2J" not in "".join(seen)  # not a terminal: each look printed after the last
    os.kill(watch.pid, signal.SIGINT)
    assert watch.wait(15) == 0
    assert watch.stderr is not None
    assert "Traceback" not in watch.stderr.read()

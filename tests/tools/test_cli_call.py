"""``genrpc call`` and ``genrpc stats``, the real executable in subprocesses: where the node
called is (``--port``, ``--driver``), what the throwaway node is called (``--name``, for TLS),
what the ARGs mean, and Ctrl-C."""

from __future__ import annotations

import itertools
import json
import os
import signal
import socket
from pathlib import Path

import pytest

import genrpc_actors as gen_rpc
from genrpc_actors.testing import closed_port, free_port
from tests.remote import functions
from tests.tools.cli import COOKIE, run

SRV = "srv@127.0.0.1"
ME = "cli@127.0.0.1"  # the name the caller's certificate gives
AS_USER = {"GENRPC_COOKIE": COOKIE}
_flags = itertools.count()


# -- where the node called listens: --port, --driver -------------------------------------------


def test_port_reaches_a_node_on_another_port_without_a_config(cli_node):
    port, _ = cli_node
    result = run(
        "call", "cli@127.0.0.1", "operator", "add", "2", "3", "--port", str(port), env=AS_USER
    )
    assert (result.returncode, result.stdout, result.stderr) == (0, "5\n", "")
    result = run("stats", "cli@127.0.0.1", "--port", str(port), "--json", env=AS_USER)
    assert result.returncode == 0, result.stderr
    assert json.loads(result.stdout)["port"] == port
    result = run(
        "call", "cli@127.0.0.1", "os", "getpid", "--driver", "tcp", "--port", str(port), env=AS_USER
    )
    assert result.returncode == 0, result.stderr


def test_port_wins_over_the_configuration(cli_node, tmp_path):
    port, _ = cli_node
    with closed_port() as wrong:
        config = tmp_path / "cli.toml"
        config.write_text(f'[client_config_per_node]\n"cli@127.0.0.1" = ["tcp", {wrong}]\n')
        args = ("call", "cli@127.0.0.1", "operator", "add", "2", "3", "--config", str(config))
        assert "econnrefused" in run(*args, env=AS_USER).stderr
        result = run(*args, "--port", str(port), env=AS_USER)
    assert (result.returncode, result.stdout) == (0, "5\n"), result.stderr


def test_driver_alone_takes_that_drivers_client_port(cli_node):
    port, _ = cli_node
    env = {**AS_USER, "GENRPC_TCP_CLIENT_PORT": str(port), "GENRPC_DEFAULT_CLIENT_DRIVER": "ssl"}
    result = run("call", "cli@127.0.0.1", "operator", "add", "2", "3", "--driver", "tcp", env=env)
    assert (result.returncode, result.stdout) == (0, "5\n"), result.stderr


@pytest.mark.parametrize("port", ["0", "65536", "five"])
def test_a_bad_port_is_a_usage_error(port):
    result = run("call", "cli@127.0.0.1", "os", "getpid", "--port", port)
    assert result.returncode == 2
    assert "--port" in result.stderr


# -- TLS: the caller's name (--name) and what to do without one --------------------------------


@pytest.fixture
def tls_node(processes, tmp_path) -> tuple[int, Path]:
    """``genrpc node srv@127.0.0.1`` listening on TLS only; the caller's configuration."""
    certs = tmp_path / "certs"
    for name in (SRV, ME):
        made = run("certs", "node", name, str(certs))
        assert made.returncode == 0, made.stderr
    port = free_port()
    (tmp_path / "srv.toml").write_text(
        f'cookie = "{COOKIE}"\nlisten_address = "127.0.0.1"\ntcp_server_port = false\n'
        f"ssl_server_port = {port}\n" + _ssl_options("ssl_server_options", certs, SRV)
    )
    _, banner = processes.node(SRV, "--config", str(tmp_path / "srv.toml"))
    assert banner == f"node {SRV} listening on ssl 127.0.0.1:{port}; Ctrl-C stops it\n"
    caller = tmp_path / "cli.toml"
    caller.write_text(f'cookie = "{COOKIE}"\n' + _ssl_options("ssl_client_options", certs, ME))
    return port, caller


def _ssl_options(table: str, certs: Path, name: str) -> str:
    return (
        f"[{table}]\n"
        f'certfile = "{certs / f"{name}.cert.pem"}"\n'
        f'keyfile = "{certs / f"{name}.key.pem"}"\n'
        f'cacertfile = "{certs / "ca.cert.pem"}"\n'
    )


def test_a_call_over_tls_names_the_caller_with_name(tls_node):
    port, caller = tls_node
    over_tls = ("--driver", "ssl", "--port", str(port), "--config", str(caller))
    result = run("call", SRV, "genrpc_actors", "node", *over_tls, "--name", ME)
    assert (result.returncode, result.stdout, result.stderr) == (0, f"'{SRV}'\n", "")
    result = run("stats", SRV, *over_tls, "--name", ME, "--json")
    assert result.returncode == 0, result.stderr
    (acceptor,) = json.loads(result.stdout)["acceptors"]
    assert acceptor["node"] == ME
    result = run("stats", SRV, *over_tls, "--name", ME)
    assert result.stdout.startswith(f"node {SRV} listening on ssl port {port}\n"), result.stderr


def test_a_tls_refusal_without_name_says_what_to_do(tls_node):
    port, caller = tls_node
    over_tls = ("--driver", "ssl", "--port", str(port), "--config", str(caller))
    for command in (("call", SRV, "os", "getpid"), ("stats", SRV)):
        result = run(*command, *over_tls)
        assert result.returncode == 1
        (line,) = result.stderr.splitlines()
        assert line.startswith("error: BadRpc: node_certificate_mismatch: ")
        assert f"{SRV} at 127.0.0.1:{port} (ssl) refused this node's certificate" in line
        assert "; this command calls as genrpc-cli-" in line
        for advice in ("give --name NAME@HOST", "ssl_client_options", "genrpc certs node"):
            assert advice in line
    result = run("call", SRV, "os", "getpid", *over_tls, "--name", "other@127.0.0.1")
    (line,) = result.stderr.splitlines()  # --name was given: the refusal, without the advice
    assert line.startswith("error: BadRpc: node_certificate_mismatch: ")
    assert "which must name this node, other@127.0.0.1" in line
    assert "this command calls as" not in line
    result = run("call", SRV, "os", "getpid", "--driver", "ssl", "--port", str(port), env=AS_USER)
    (line,) = result.stderr.splitlines()
    assert line.startswith("error: BadRpc: tls: ssl_client_options has no certificates; ")
    assert "give --name NAME@HOST" in line


# -- ARGs: literals, KEY=LITERAL, --str ---------------------------------------------------------


def test_keyword_arguments(cli_node):
    port, _ = cli_node
    call = ("call", "cli@127.0.0.1", "--port", str(port))
    result = run(*call, "builtins", "sorted", "[3, 1, 2]", "reverse=True", env=AS_USER)
    assert (result.returncode, result.stdout) == (0, "[3, 2, 1]\n"), result.stderr
    result = run(*call, "builtins", "int", "'ff'", "base=16", env=AS_USER)
    assert result.stdout == "255\n", result.stderr
    result = run(*call, "builtins", "str", "'a=b'", env=AS_USER)  # a quoted '=' is no keyword
    assert result.stdout == "'a=b'\n", result.stderr


@pytest.mark.parametrize(
    ("arg", "named"),
    [("[1,2", "ARG '[1,2'"), ("HOME", "ARG 'HOME'"), ("sep=x y", "ARG 'sep=x y': 'x y'")],
)
def test_an_arg_that_is_not_a_literal_is_an_error(cli_node, arg, named):
    port, process = cli_node
    result = run("call", "cli@127.0.0.1", "builtins", "len", arg, "--port", str(port), env=AS_USER)
    assert (result.returncode, result.stdout) == (2, "")
    assert result.stderr == (
        f"error: {named} is not a Python literal; quote a string as \"'text'\","
        " or give --str to pass every ARG as a string\n"
    )
    assert process.poll() is None


def test_a_keyword_given_twice_is_an_error():
    result = run("call", "nobody@127.0.0.1", "builtins", "dict", "a=1", "a=2")
    assert (result.returncode, result.stderr) == (
        2,
        "error: the keyword argument a is given twice\n",
    )


def test_args_may_stand_on_either_side_of_the_options(cli_node):
    port, _ = cli_node
    result = run(
        *("call", "cli@127.0.0.1", "builtins", "dict", "--str", "a=1", "--port", str(port)),
        *("b=x", "--timeout", "10", "c=-1"),
        env=AS_USER,
    )
    assert (result.returncode, result.stdout) == (0, "{'a': '1', 'b': 'x', 'c': '-1'}\n")
    result = run(
        "call", "cli@127.0.0.1", "operator", "sub", "--port", str(port), "-1", "2", env=AS_USER
    )
    assert result.stdout == "-3\n", result.stderr
    result = run(
        "call", "cli@127.0.0.1", "os", "getpid", "--bogus", "--port", str(port), env=AS_USER
    )
    assert result.returncode == 2
    assert "unrecognized arguments: --bogus" in result.stderr


def test_str_passes_every_arg_as_typed(cli_node):
    port, _ = cli_node
    call = ("call", "cli@127.0.0.1", "--port", str(port), "--str")
    result = run(*call, "operator", "add", "2", "3", env=AS_USER)
    assert (result.returncode, result.stdout) == (0, "'23'\n"), result.stderr
    result = run(*call, "builtins", "dict", "a=1", "b=[x", env=AS_USER)
    assert result.stdout == "{'a': '1', 'b': '[x'}\n", result.stderr


# -- Ctrl-C -------------------------------------------------------------------------------------


@pytest.fixture
def waiter():
    """A node in this process, on 127.0.0.1, and the names of two flags: ``started``, set by
    ``functions.set_flag_then_wait_for_flag`` as it begins, and ``release``, set after the test
    to let it end."""
    node = gen_rpc.Node.start(
        "waiter@127.0.0.1", cookie=COOKIE, tcp_server_port=0, listen_address="127.0.0.1"
    )
    started, release = (f"cli-{os.getpid()}-{next(_flags)}" for _ in range(2))
    try:
        yield node, started, release
    finally:
        functions.set_flag(release)
        node.stop()


def test_ctrl_c_ends_a_waiting_call_quietly_with_130(processes, waiter):
    node, started, release = waiter
    process = processes.start(
        *("call", node.name, "tests.remote.functions", "set_flag_then_wait_for_flag"),
        *(repr(started), repr(release), "30", "--port", str(node.port), "--timeout", "60"),
        env=AS_USER,
    )
    assert functions.wait_for_flag(started, 20)  # the call runs, the command waits for it
    os.kill(process.pid, signal.SIGINT)
    assert process.wait(15) == 130
    assert process.stdout.read() == ""
    assert process.stderr.read() == ""


def test_ctrl_c_ends_a_waiting_stats_quietly_with_130(processes):
    with socket.create_server(("127.0.0.1", 0)) as silent:  # accepts, never answers
        silent.settimeout(20)
        port = silent.getsockname()[1]
        process = processes.start(
            *("stats", "silent@127.0.0.1", "--port", str(port), "--timeout", "60"),
            env={**AS_USER, "GENRPC_AUTHENTICATION_TIMEOUT": "60"},
        )
        connection, _ = silent.accept()  # the throwaway node is waiting for its handshake
        with connection:
            os.kill(process.pid, signal.SIGINT)
            assert process.wait(15) == 130
    assert process.stdout.read() == ""
    assert process.stderr.read() == ""

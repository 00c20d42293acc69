"""The ``genrpc`` command (also ``python -m genrpc_actors``).

::

    genrpc node NAME [--port N] [--cookie C] [--config FILE]   run a node until SIGINT/SIGTERM
    genrpc call NODE MODULE FUNCTION [ARG ...] [KEY=ARG ...]    one call from a throwaway node
        [--port N] [--driver tcp|ssl] [--name NAME@HOST] [--str] [--json] [--timeout S]
    genrpc stats NODE [--port N] [--driver tcp|ssl] [--name NAME@HOST] [--json] [--watch]
    genrpc shell NAME [--port N] [--config FILE]                a node and a Python console
    genrpc certs ca DIR | genrpc certs node NAME DIR            certificates for the ssl driver
    genrpc demo [--nodes N]                                     a tour on a local cluster
    genrpc bench [...]                                          the benchmarks

``genrpc node`` prints where it listens (``node alpha@127.0.0.1 listening on tcp 0.0.0.0:5369;
Ctrl-C stops it``). ``call`` and ``stats`` run a throwaway node that listens nowhere; ``--port``
and ``--driver`` say how to reach NODE, ``--name`` names the throwaway node (over TLS, the name its
certificate gives). ARGs of ``call`` are Python literals, ``KEY=LITERAL`` a keyword argument;
``--str`` passes them as typed (see ``_cli_args``).

Errors are one line on stderr with exit status 1 (a port in use, a refused call); a usage
error, 2. Ctrl-C ends ``call`` and ``stats`` with status 130 and no traceback, and stops
``node`` cleanly (status 0). ``stats --watch`` shows the figures again every second until
Ctrl-C, which ends it with status 0.
"""

from __future__ import annotations

import argparse
import json
import logging
import os
import signal
import sys
import threading
from collections.abc import Callable, Sequence

import genrpc_actors
from genrpc_actors._errors import ConfigError, RpcError
from genrpc_actors._tools._cli_args import build_parser, parse_command_line
from genrpc_actors._tools._cli_remote import base_config, cmd_call, cmd_stats

__all__ = ["listeners", "main"]

EXIT_INTERRUPTED = 128 + signal.SIGINT  # what a shell reports for a command that Ctrl-C ended
EXIT_USAGE = 2


def _node_config(args: argparse.Namespace) -> genrpc_actors.Config:
    config = base_config(args)
    return config.replace(tcp_server_port=args.port) if args.port is not None else config


def listeners(node: genrpc_actors.Node) -> str:
    """Where ``node`` listens: ``tcp 0.0.0.0:5369, ssl 0.0.0.0:5370`` (empty: nowhere)."""
    host = node.config.listen_address
    host = f"[{host}]" if ":" in host else host
    found = []
    if node.config.tcp_server_port is not False:
        found.append(f"tcp {host}:{node.port}")
    if node.config.ssl_server_port is not False:
        found.append(f"ssl {host}:{node.ssl_port}")
    return ", ".join(found)


def _where(node: genrpc_actors.Node) -> str:
    where = listeners(node)
    return f"listening on {where}" if where else "listening nowhere (it only calls out)"


def _cmd_node(args: argparse.Namespace) -> int:
    node = genrpc_actors.start(args.name, config=_node_config(args))
    stop = threading.Event()
    for signum in (signal.SIGINT, signal.SIGTERM):
        signal.signal(signum, lambda *_: stop.set())
    print(f"node {node.name} {_where(node)}; Ctrl-C stops it", flush=True)
    stop.wait()
    node.stop()
    print(f"node {node.name} stopped", flush=True)
    return 0


def _cmd_shell(args: argparse.Namespace) -> int:
    import code  # noqa: PLC0415

    node = genrpc_actors.start(args.name, config=_node_config(args))
    banner = (
        f"genrpc shell: node {node.name} {_where(node)}\n"
        "`gen_rpc` is genrpc_actors, `node` this node; e.g. gen_rpc.call(NODE, 'os', 'getpid')\n"
        "Ctrl-D stops the node and leaves."
    )
    try:
        code.interact(banner=banner, local={"gen_rpc": genrpc_actors, "node": node}, exitmsg="")
    finally:
        node.stop()
    return 0


def _cmd_certs(args: argparse.Namespace) -> int:
    from genrpc_actors._tools._certs import create_ca, create_node_certificate  # noqa: PLC0415

    if args.what == "ca":
        key, cert = create_ca(args.dir)
        print(f"CA key: {key}\nCA certificate: {cert}")
    else:
        files = create_node_certificate(args.dir, args.name, args.ca_dir)
        print(f"key: {files.keyfile}\ncertificate: {files.certfile}\nCA: {files.cacertfile}")
        print("ssl options: " + json.dumps(files.options()))
    return 0


def _cmd_bench(args: argparse.Namespace) -> int:
    top = os.getcwd()
    if os.path.isfile(os.path.join(top, "benchmarks", "__main__.py")) and top not in sys.path:
        sys.path.insert(0, top)  # an installed script does not look in the current directory
    try:
        from benchmarks.__main__ import main as bench_main  # noqa: PLC0415
    except ImportError:
        print("error: the benchmarks live in the source tree: run from its top", file=sys.stderr)
        return 1
    rest = list(args.rest)
    bench_main(rest[1:] if rest[:1] == ["--"] else rest)
    return 0


def _cmd_demo(args: argparse.Namespace) -> int:
    from genrpc_actors._tools._demo import run_demo  # noqa: PLC0415

    return run_demo(args.nodes)


COMMANDS: dict[str, Callable[[argparse.Namespace], int]] = {
    "node": _cmd_node,
    "call": cmd_call,
    "stats": cmd_stats,
    "shell": _cmd_shell,
    "certs": _cmd_certs,
    "bench": _cmd_bench,
    "demo": _cmd_demo,
}


def _error_line(exc: Exception, command: str) -> str:
    """The one line that tells what failed and, where there is one, what to do."""
    if not (isinstance(exc, ConfigError) and isinstance(exc.__cause__, OSError)):
        return f"error: {exc}"
    # a listener that could not listen: "cannot listen on HOST:PORT (DRIVER): WHY"
    what = str(exc).partition(": ")[2]
    if exc.key == "tcp_server_port" and command in ("node", "shell"):
        return f"error: {what}; pick another port with --port"
    if exc.key == "listen_address":
        return f"error: {what}; set listen_address to an address of this host"
    return f"error: {what}; pick another {exc.key}"


def main(argv: Sequence[str] | None = None) -> int:
    """Run the ``genrpc`` command; returns its exit status."""
    parser = build_parser()
    args = parse_command_line(parser, argv)
    logging.basicConfig(level=args.log_level.upper(), format="%(name)s %(message)s")
    if args.command is None:
        parser.print_help()
        return EXIT_USAGE
    try:
        return int(COMMANDS[args.command](args))
    except KeyboardInterrupt:  # Ctrl-C: the shell's ^C says it; no traceback
        return EXIT_INTERRUPTED
    except (RpcError, OSError, ValueError) as exc:
        print(_error_line(exc, args.command), file=sys.stderr)
        return 1

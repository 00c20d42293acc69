"""The ``genrpc`` command (also ``python -m genrpc_actors``).

genrpc node NAME [--port N] [--cookie C] [--config FILE]   run a node until SIGINT/SIGTERM
genrpc call NODE MODULE FUNCTION [ARG ...]                  one call from a throwaway node
genrpc certs ca DIR | genrpc certs node NAME DIR            certificates for the ssl driver
genrpc demo [--nodes N]                                     a tour on a local cluster
genrpc shell NAME [--port N] [--config FILE]                a node and a Python console
genrpc stats NODE [--json]                                  a running node's connections
genrpc bench [...]                                          the benchmarks
"""

from __future__ import annotations

import argparse
import ast
import json
import logging
import os
import signal
import sys
import threading
from collections.abc import Sequence
from typing import Any

import genrpc_actors
from genrpc_actors._config import Config
from genrpc_actors._errors import ConfigError, RpcError

__all__ = ["listeners", "main"]


def _literal(text: str) -> Any:
    """A Python literal, or the text itself when it is not one (``... os getenv HOME``)."""
    try:
        return ast.literal_eval(text)
    except (ValueError, SyntaxError):
        return text


def _config(args: argparse.Namespace) -> Config:
    config = Config.from_file(args.config) if args.config else Config.from_env()
    overrides: dict[str, Any] = {}
    if getattr(args, "cookie", None):
        overrides["cookie"] = args.cookie
    if getattr(args, "port", None) is not None:
        overrides["tcp_server_port"] = args.port
    return config.replace(**overrides)


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
    node = genrpc_actors.start(args.name, config=_config(args))
    stop = threading.Event()
    for signum in (signal.SIGINT, signal.SIGTERM):
        signal.signal(signum, lambda *_: stop.set())
    print(f"node {node.name} {_where(node)}; Ctrl-C stops it", flush=True)
    stop.wait()
    node.stop()
    print(f"node {node.name} stopped", flush=True)
    return 0


def _cmd_call(args: argparse.Namespace) -> int:
    node = _throwaway(args)
    try:
        result = node.call(
            args.node,
            args.module,
            args.function,
            [_literal(a) for a in args.args],
            timeout=args.timeout,
        )
    except RpcError as exc:
        print(f"error: {type(exc).__name__}: {exc}", file=sys.stderr)
        return 1
    finally:
        node.stop()
    print(json.dumps(result, default=repr) if args.json else repr(result))
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


def _throwaway(args: argparse.Namespace) -> genrpc_actors.Node:
    config = _config(args).replace(tcp_server_port=False, ssl_server_port=False)
    return genrpc_actors.start(f"genrpc-cli-{os.getpid()}@127.0.0.1", config=config)


def _cmd_stats(args: argparse.Namespace) -> int:
    node = _throwaway(args)
    try:
        info = node.call(args.node, "genrpc_actors.introspection", "describe", timeout=args.timeout)
    except RpcError as exc:
        print(f"error: {type(exc).__name__}: {exc}", file=sys.stderr)
        return 1
    finally:
        node.stop()
    if args.json:
        print(json.dumps(info, indent=2))
        return 0
    print(f"node {info['name']}  port {info['port']}  ssl_port {info['ssl_port']}")
    workers = info["workers"]
    print(
        f"workers: {workers['threads']} threads, {workers['busy']} busy,"
        f" {workers.get('queued', 0)} queued"
    )
    processes = info.get("process_workers", [])
    if processes:
        print(f"process workers: {len(processes)}")
    for w in processes:
        kills = ", ".join(f"{why} {n}" for why, n in sorted(w["kills"].items())) or "none"
        print(
            f"  pid {w['pid']}  {w['state']}  requests {w['requests']}  "
            f"rss {w['rss'] // 1024} KB  cpu {w['cpu_s']:.2f}s  kills: {kills}"
        )
    print("restarts: " + ", ".join(f"{k} {v}" for k, v in info["restarts"].items()))
    print(f"outgoing connections: {len(info['connections'])}")
    for target, c in info["connections"].items():
        print(
            f"  {target:<40} {c['state']:<10} pending {c['pending_calls']:>4}  frames "
            f"{c['frames_sent']}/{c['frames_received']}  system calls {c['sends']}/"
            f"{c['receives']}  bytes {c['bytes_sent']}/{c['bytes_received']}  "
            f"queued {c['queued_bytes']}  age {c['age_s']:.1f}s"
        )
    print(f"incoming connections: {len(info['acceptors'])}")
    handshakes = info.get("handshakes")  # a node of an older version has none
    if handshakes:
        print(
            f"  handshakes in progress {handshakes['pending']} (at most {handshakes['limit']}),"
            f" refused {handshakes['refused']}"
        )
    for a in info["acceptors"]:
        print(
            f"  {a['peer']:<22} {a['node'] or '(unauthenticated)':<30} requests "
            f"{a['requests']}  system calls {a['sends']}/{a['receives']}"
        )
    return 0


def _cmd_shell(args: argparse.Namespace) -> int:
    import code  # noqa: PLC0415

    node = genrpc_actors.start(args.name, config=_config(args))
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


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog="genrpc", description="Nodes that call each other's functions over their own TCP/TLS"
    )
    parser.add_argument("--version", action="version", version=genrpc_actors.__version__)
    parser.add_argument("--log-level", default="WARNING", help="DEBUG, INFO, WARNING (default)")
    commands = parser.add_subparsers(dest="command", metavar="COMMAND")

    node = commands.add_parser("node", help="run one node until SIGINT/SIGTERM")
    node.add_argument("name", help="the node's name, name@host")
    node.add_argument("--port", type=int, help="TCP listen port (0: any free port)")
    node.add_argument(
        "--cookie", help="the shared secret (default: GENRPC_COOKIE, ~/.genrpc.cookie)"
    )
    node.add_argument("--config", help="a TOML configuration file")
    node.set_defaults(run=_cmd_node)

    call = commands.add_parser("call", help="one call from a throwaway node; prints the result")
    call.add_argument("node", help="the node to call, name@host")
    call.add_argument("module")
    call.add_argument("function")
    call.add_argument("args", nargs="*", help="arguments, as Python literals")
    call.add_argument("--cookie")
    call.add_argument("--config")
    call.add_argument("--timeout", type=float, default=None, help="seconds")
    call.add_argument("--json", action="store_true", help="print the result as JSON")
    call.set_defaults(run=_cmd_call, port=None)

    stats = commands.add_parser("stats", help="a running node's connections, workers, restarts")
    stats.add_argument("node", help="the node to inspect, name@host")
    stats.add_argument("--cookie")
    stats.add_argument("--config")
    stats.add_argument("--timeout", type=float, default=5.0, help="seconds")
    stats.add_argument("--json", action="store_true", help="print it as JSON")
    stats.set_defaults(run=_cmd_stats, port=None)

    shell = commands.add_parser("shell", help="a node and an interactive Python console")
    shell.add_argument("name", help="the node's name, name@host")
    shell.add_argument("--port", type=int, help="TCP listen port (0: any free port)")
    shell.add_argument("--cookie")
    shell.add_argument("--config", help="a TOML configuration file")
    shell.set_defaults(run=_cmd_shell)

    bench = commands.add_parser("bench", help="the benchmarks (from a source checkout)")
    bench.add_argument("rest", nargs=argparse.REMAINDER, help="arguments for the benchmarks")
    bench.set_defaults(run=_cmd_bench)

    demo = commands.add_parser("demo", help="a guided tour on a local cluster of node processes")
    demo.add_argument("--nodes", type=int, default=3, help="how many node processes (default 3)")
    demo.set_defaults(run=_cmd_demo)

    certs = commands.add_parser("certs", help="a CA and per-node certificates for the ssl driver")
    what = certs.add_subparsers(dest="what", metavar="WHAT", required=True)
    ca = what.add_parser("ca", help="create ca.key.pem and ca.cert.pem in DIR")
    ca.add_argument("dir")
    cert = what.add_parser("node", help="create NAME.key.pem and NAME.cert.pem in DIR")
    cert.add_argument("name", help="the node's name, name@host")
    cert.add_argument("dir")
    cert.add_argument("--ca-dir", help="where the CA is (default: DIR; created if missing)")
    certs.set_defaults(run=_cmd_certs)
    return parser


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
    parser = build_parser()
    args, unknown = parser.parse_known_args(argv)
    if args.command == "bench":  # its options are the benchmarks' own (REMAINDER misses them)
        args.rest = [*unknown, *args.rest]
    elif unknown:
        parser.error(f"unrecognized arguments: {' '.join(unknown)}")
    logging.basicConfig(level=args.log_level.upper(), format="%(name)s %(message)s")
    if args.command is None:
        parser.print_help()
        return 2
    try:
        return int(args.run(args))
    except (RpcError, OSError, ValueError) as exc:
        print(_error_line(exc, args.command), file=sys.stderr)
        return 1

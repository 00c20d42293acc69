"""The ``genrpc`` command line: its parser, and the arguments of ``genrpc call``.

Each ARG of ``genrpc call`` is a Python literal (``42``, ``'text'``, ``[1, 2]``, ``None``), or
``KEY=LITERAL`` with ``KEY`` an identifier for a keyword argument. A word that is not a literal
is an error, not a string: ``[1,2`` (a typo) must not reach the remote function as text. With
``--str`` every ARG (and every keyword value) is passed as the string that was typed.
"""

from __future__ import annotations

import argparse
import ast
import re
from collections.abc import Callable, Sequence
from typing import Any

import genrpc_actors

__all__ = ["ArgumentsError", "build_parser", "call_arguments", "parse_command_line"]

MAX_PORT = 65535
WATCH_EVERY = 1.0  # seconds between two looks of `genrpc stats --watch`
NEGATIVE_NUMBER = re.compile(r"^-\d+$|^-\d*\.\d+$")  # argparse's own: an ARG, not an option

CALL_DESCRIPTION = """\
Call MODULE.FUNCTION(ARG, ...) on NODE from a throwaway node and print the result.
On error: one line on stderr, exit status 1. Ctrl-C: exit status 130.

Each ARG is a Python literal (quote it for the shell), or KEY=LITERAL for a
keyword argument; anything else is an error, unless --str passes every ARG as
the string typed.
"""

CALL_EXAMPLES = """\
examples:
  genrpc call alpha@10.0.0.1 operator add 2 3                # 5
  genrpc call alpha@10.0.0.1 os getenv "'HOME'"              # a str is quoted
  genrpc call alpha@10.0.0.1 os getenv HOME --str            # or every ARG is one
  genrpc call alpha@10.0.0.1 builtins sorted "[3, 1, 2]" reverse=True
  genrpc call alpha@10.0.0.1 os getpid --port 6000           # a node on port 6000
  genrpc call alpha@10.0.0.1 os getpid --driver ssl --port 5370 \\
      --name me@10.0.0.2 --config me.toml                    # over TLS, as me@10.0.0.2
"""

NAME_HELP = (
    "this command's own node, name@host (default genrpc-cli-PID@127.0.0.1); over TLS, the name"
    " that the certificate in ssl_client_options (--config) names"
)


class ArgumentsError(ValueError):
    """An ARG of ``genrpc call`` that cannot be passed as it is; the message is one line."""


def call_arguments(texts: Sequence[str], *, raw: bool = False) -> tuple[list[Any], dict[str, Any]]:
    """The positional and keyword arguments that the ARGs ``texts`` stand for (see the module's
    docstring); ``ArgumentsError`` names the first ARG that is neither."""
    args: list[Any] = []
    kwargs: dict[str, Any] = {}
    for text in texts:
        key, equals, value = text.partition("=")
        if equals and key.isidentifier():
            if key in kwargs:
                raise ArgumentsError(f"the keyword argument {key} is given twice")
            kwargs[key] = value if raw else _literal(value, text)
        else:
            args.append(text if raw else _literal(text, text))
    return args, kwargs


def _literal(value: str, text: str) -> Any:
    try:
        return ast.literal_eval(value)
    except (ValueError, TypeError, SyntaxError, MemoryError, RecursionError):
        what = f"ARG {text!r}" + (f": {value!r}" if value != text else "")
        raise ArgumentsError(
            f"{what} is not a Python literal; quote a string as \"'text'\","
            " or give --str to pass every ARG as a string"
        ) from None


def _port(*, zero: bool) -> Callable[[str], int]:
    """An argparse type: a port number (``zero``: 0, any free port, is one too)."""

    def parse(text: str) -> int:
        try:
            port = int(text)
        except ValueError:
            raise argparse.ArgumentTypeError(f"not a port number: {text!r}") from None
        if not (0 if zero else 1) <= port <= MAX_PORT:
            raise argparse.ArgumentTypeError(f"port out of range: {port}")
        return port

    parse.__name__ = "port"  # what argparse calls it in its messages
    return parse


def _add_caller_options(command: argparse.ArgumentParser, timeout: float | None) -> None:
    """The options of the commands that call a node from a throwaway node of their own."""
    command.add_argument(
        "--port",
        type=_port(zero=False),
        metavar="N",
        help="the port NODE listens on (default: client_config_per_node, else tcp_client_port"
        " 5369 or ssl_client_port 5370)",
    )
    command.add_argument(
        "--driver",
        choices=("tcp", "ssl"),
        help="how to reach NODE (default: default_client_driver, tcp); ssl needs"
        " ssl_client_options in --config (see `genrpc certs`)",
    )
    command.add_argument("--name", metavar="NAME@HOST", help=NAME_HELP)
    command.add_argument(
        "--cookie", help="the shared secret (default: GENRPC_COOKIE, ~/.genrpc.cookie)"
    )
    command.add_argument("--config", metavar="FILE", help="a TOML configuration file")
    default = "the config's call_receive_timeout, 15" if timeout is None else str(timeout)
    command.add_argument(
        "--timeout",
        type=float,
        default=timeout,
        metavar="SECONDS",
        help=f"how long to wait for the answer (default: {default})",
    )


def _add_node_options(command: argparse.ArgumentParser) -> None:
    """The options of the commands that run a node of their own."""
    command.add_argument("name", help="the node's name, name@host")
    command.add_argument(
        "--port",
        type=_port(zero=True),
        metavar="N",
        help="TCP listen port (default 5369; 0: any free port)",
    )
    command.add_argument(
        "--cookie", help="the shared secret (default: GENRPC_COOKIE, ~/.genrpc.cookie)"
    )
    command.add_argument("--config", metavar="FILE", help="a TOML configuration file")


def build_parser() -> argparse.ArgumentParser:
    """The parser of ``genrpc``; ``command`` names the command given (None: none)."""
    parser = argparse.ArgumentParser(
        prog="genrpc", description="Nodes that call each other's functions over their own TCP/TLS"
    )
    parser.add_argument("--version", action="version", version=genrpc_actors.__version__)
    parser.add_argument("--log-level", default="WARNING", help="DEBUG, INFO, WARNING (default)")
    commands = parser.add_subparsers(dest="command", metavar="COMMAND")

    node = commands.add_parser(
        "node",
        help="run one node until SIGINT/SIGTERM",
        description="Run one node until SIGINT (Ctrl-C) or SIGTERM, then stop it cleanly (exit"
        " status 0). It prints where it listens: `node NAME listening on tcp 0.0.0.0:5369, ssl"
        " 0.0.0.0:5370; Ctrl-C stops it`. A port in use: one line on stderr, exit status 1.",
    )
    _add_node_options(node)

    call = commands.add_parser(
        "call",
        help="one call from a throwaway node; prints the result",
        description=CALL_DESCRIPTION,
        epilog=CALL_EXAMPLES,
        formatter_class=argparse.RawDescriptionHelpFormatter,
    )
    call.add_argument("node", metavar="NODE", help="the node to call, name@host")
    call.add_argument("module", metavar="MODULE", help="a module name, e.g. os or mypkg.tasks")
    call.add_argument("function", metavar="FUNCTION", help="a function of MODULE")
    call.add_argument(
        "args",
        nargs="*",
        metavar="ARG",
        help='a Python literal (2, "\'text\'", "[1, 2]"), or KEY=LITERAL for a keyword argument',
    )
    call.add_argument(
        "--str",
        dest="raw",
        action="store_true",
        help="pass every ARG, and every keyword value, as the string typed",
    )
    _add_caller_options(call, timeout=None)
    call.add_argument("--json", action="store_true", help="print the result as JSON")

    stats = commands.add_parser(
        "stats",
        help="a running node's connections, workers, restarts",
        description="What NODE is doing: its connections, workers and restarts, fetched by a"
        " throwaway node. On error: one line on stderr, exit status 1. Ctrl-C: exit status 130"
        " (with --watch, which shows it again every second: 0).",
    )
    stats.add_argument("node", metavar="NODE", help="the node to inspect, name@host")
    _add_caller_options(stats, timeout=5.0)
    stats.add_argument("--json", action="store_true", help="print it as JSON")
    stats.add_argument(
        "--watch",
        action="store_true",
        help=f"fetch and show it again every {WATCH_EVERY:g} s until Ctrl-C (then exit status 0)",
    )

    shell = commands.add_parser("shell", help="a node and an interactive Python console")
    _add_node_options(shell)

    bench = commands.add_parser("bench", help="the benchmarks (from a source checkout)")
    bench.add_argument("rest", nargs=argparse.REMAINDER, help="arguments for the benchmarks")

    demo = commands.add_parser("demo", help="a guided tour on a local cluster of node processes")
    demo.add_argument("--nodes", type=int, default=3, help="how many node processes (default 3)")

    certs = commands.add_parser("certs", help="a CA and per-node certificates for the ssl driver")
    what = certs.add_subparsers(dest="what", metavar="WHAT", required=True)
    ca = what.add_parser("ca", help="create ca.key.pem and ca.cert.pem in DIR")
    ca.add_argument("dir")
    cert = what.add_parser("node", help="create NAME.key.pem and NAME.cert.pem in DIR")
    cert.add_argument("name", help="the node's name, name@host")
    cert.add_argument("dir")
    cert.add_argument("--ca-dir", help="where the CA is (default: DIR; created if missing)")
    return parser


def parse_command_line(
    parser: argparse.ArgumentParser, argv: Sequence[str] | None
) -> argparse.Namespace:
    """``argv`` parsed by ``parser`` (``build_parser()``); exits with status 2 on a usage error.

    The ARGs of ``call`` may stand on either side of its options (``... f 1 --str 2``):
    argparse gives a ``*`` positional only the words before the first option, and leaves the
    rest unrecognized. Whatever ``bench`` does not know is the benchmarks' own.
    """
    args, unknown = parser.parse_known_args(argv)
    if args.command == "bench":  # REMAINDER misses the words that look like options
        args.rest = [*unknown, *args.rest]
        return args
    if args.command == "call":
        options = [w for w in unknown if w.startswith("-") and not NEGATIVE_NUMBER.match(w)]
        args.args = [*args.args, *(w for w in unknown if w not in options)]
        unknown = options
    if unknown:
        parser.error(f"unrecognized arguments: {' '.join(unknown)}")
    return args

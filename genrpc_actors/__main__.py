"""The ``genrpc`` command (also ``python -m genrpc_actors``)."""

from __future__ import annotations

import argparse
import sys
from collections.abc import Sequence

import genrpc_actors


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog="genrpc", description="Nodes that call each other's functions over their own TCP/TLS"
    )
    parser.add_argument("--version", action="version", version=genrpc_actors.__version__)
    parser.add_subparsers(dest="command", metavar="COMMAND")
    return parser


def main(argv: Sequence[str] | None = None) -> int:
    parser = build_parser()
    args = parser.parse_args(argv)
    if args.command is None:
        parser.print_help()
        return 2
    return 0


if __name__ == "__main__":
    sys.exit(main())

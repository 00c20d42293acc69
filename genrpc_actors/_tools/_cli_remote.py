"""``genrpc call`` and ``genrpc stats``: a throwaway node that asks a running node one thing.

The throwaway node listens nowhere. It is named ``genrpc-cli-PID@127.0.0.1`` unless ``--name``
says otherwise, which TLS needs: the node called checks that the caller's certificate names the
caller. ``--port`` and ``--driver`` say how to reach the node called, as an entry of the
throwaway node's ``client_config_per_node``.
"""

from __future__ import annotations

import argparse
import contextlib
import json
import os
import signal
import sys
import threading
import time
from collections.abc import Callable, Iterator, Mapping
from typing import Any, TypeVar

import genrpc_actors
from genrpc_actors._config import Config
from genrpc_actors._errors import RpcError
from genrpc_actors._tools._cli_args import WATCH_EVERY, ArgumentsError, call_arguments

__all__ = ["base_config", "cmd_call", "cmd_stats"]

EXIT_USAGE = 2
T = TypeVar("T")


def base_config(args: argparse.Namespace) -> Config:
    """``--config`` (else the environment alone) with ``--cookie`` over it."""
    config = Config.from_file(args.config) if args.config else Config.from_env()
    return config.replace(cookie=args.cookie) if args.cookie else config


def _caller_config(args: argparse.Namespace) -> Config:
    """The throwaway node's configuration: no listener, and ``--driver``/``--port`` as the
    ``(driver, port)`` of ``args.node`` over what the configuration says of it."""
    config = base_config(args).replace(tcp_server_port=False, ssl_server_port=False)
    if args.driver is None and args.port is None:
        return config
    known_driver, known_port = config.client_target(args.node)
    driver = args.driver or known_driver
    if args.port is not None:
        port = args.port
    elif driver == known_driver:
        port = known_port
    else:
        port = config.tcp_client_port if driver == "tcp" else config.ssl_client_port
    per_node = config.client_config_per_node
    routes = dict(per_node) if isinstance(per_node, Mapping) else {}  # a source: not asked
    routes[args.node] = (driver, port)
    return config.replace(client_config_per_node=routes)


@contextlib.contextmanager
def _throwaway(args: argparse.Namespace) -> Iterator[genrpc_actors.Node]:
    """A node that listens nowhere, stopped on the way out, even after Ctrl-C (a second
    Ctrl-C while it stops would leave its threads half joined: it is ignored meanwhile)."""
    name = args.name or f"genrpc-cli-{os.getpid()}@127.0.0.1"
    node = genrpc_actors.start(name, config=_caller_config(args))
    try:
        yield node
    finally:
        with _sigint_ignored():
            node.stop()


@contextlib.contextmanager
def _sigint_ignored() -> Iterator[None]:
    if threading.current_thread() is not threading.main_thread():
        yield  # only the main thread may set handlers
        return
    previous = signal.signal(signal.SIGINT, signal.SIG_IGN)
    try:
        yield
    finally:
        signal.signal(signal.SIGINT, previous)


def _waited(ask: Callable[[], T]) -> T:
    """``ask()``, run in a thread of its own while this one waits: Ctrl-C interrupts this wait,
    never the library midway (a ``KeyboardInterrupt`` raised inside a lock's critical section
    could leave the throwaway node unable to stop)."""
    outcome: list[tuple[bool, Any]] = []
    done = threading.Event()

    def run() -> None:
        try:
            outcome.append((True, ask()))
        except BaseException as exc:  # noqa: BLE001 - handed to the waiting thread as it is
            outcome.append((False, exc))
        finally:
            done.set()

    threading.Thread(target=run, name="cli-call", daemon=True).start()
    done.wait()
    succeeded, value = outcome[0]
    if not succeeded:
        raise value
    result: T = value
    return result


def _failed(exc: RpcError, args: argparse.Namespace, node: str) -> int:
    """Print the one line of a failed call (with what to do when TLS refused a throwaway node
    that has no name a certificate could give); exit status 1."""
    line = f"error: {type(exc).__name__}: {exc}"
    reason = exc.reason
    tls = reason == "node_certificate_mismatch" or (
        isinstance(reason, tuple) and reason[:1] == ("tls",)
    )
    if tls and args.name is None:
        line += (
            f"; this command calls as {node}, which no certificate names: give --name NAME@HOST,"
            " the node that the certificate in your ssl_client_options (--config) names"
            " (`genrpc certs node NAME@HOST DIR` makes one)"
        )
    print(line, file=sys.stderr)
    return 1


def cmd_call(args: argparse.Namespace) -> int:
    """``genrpc call``: print the result; on error one line on stderr and exit status 1."""
    try:
        call_args, call_kwargs = call_arguments(args.args, raw=args.raw)
    except ArgumentsError as exc:
        print(f"error: {exc}", file=sys.stderr)
        return EXIT_USAGE
    with _throwaway(args) as node:
        try:
            result = _waited(
                lambda: node.call(
                    args.node,
                    args.module,
                    args.function,
                    call_args,
                    call_kwargs,
                    timeout=args.timeout,
                )
            )
        except RpcError as exc:
            return _failed(exc, args, node.name)
    print(json.dumps(result, default=repr) if args.json else repr(result))
    return 0


def cmd_stats(args: argparse.Namespace) -> int:
    """``genrpc stats``: what a node is doing, as a table or (``--json``) as its data; with
    ``--watch``, again every second until Ctrl-C."""
    with _throwaway(args) as node:
        try:
            info = _waited(lambda: _describe(node, args))
        except RpcError as exc:
            return _failed(exc, args, node.name)
        if args.watch:
            return _watch(node, args, info)
    if args.json:
        print(json.dumps(info, indent=2))
    else:
        _print_stats(info)
    return 0


def _describe(node: genrpc_actors.Node, args: argparse.Namespace) -> dict[str, Any]:
    info: dict[str, Any] = node.call(
        args.node, "genrpc_actors.introspection", "describe", timeout=args.timeout
    )
    return info


def _watch(node: genrpc_actors.Node, args: argparse.Namespace, info: dict[str, Any]) -> int:
    """Show ``info``, then fetch and show it again every ``WATCH_EVERY`` seconds: the screen
    redrawn on a terminal, each look printed after the last otherwise (``--json``: one line
    each). A failed look is shown in place of the figures, and the next one tried. Ctrl-C ends
    it, with status 0: that is how a watch ends."""
    redraw = sys.stdout.isatty() and not args.json
    try:
        while True:
            began = time.monotonic()
            if redraw:
                sys.stdout.write("\x1b[H\x1b[2J")  # home, clear: the figures in place
            if args.json:
                print(json.dumps(info))
            else:
                print(f"{args.node} at {time.strftime('%H:%M:%S')}, every {WATCH_EVERY:g} s")
                if "error" in info:
                    print(info["error"])
                else:
                    _print_stats(info)
                print()
            sys.stdout.flush()
            time.sleep(max(0.0, WATCH_EVERY - (time.monotonic() - began)))
            try:
                info = _waited(lambda: _describe(node, args))
            except RpcError as exc:
                info = {"error": f"error: {type(exc).__name__}: {exc}"}
    except KeyboardInterrupt:
        return 0


def _print_stats(info: dict[str, Any]) -> None:
    ports = {"tcp": info["port"], "ssl": info["ssl_port"]}  # 0 or None: that one is off
    listening = ", ".join(f"{driver} port {port}" for driver, port in ports.items() if port)
    print(f"node {info['name']} listening on {listening or 'no port'}")
    if info.get("metrics_port"):  # a node of an older version has no such key
        print(f"metrics: /metrics over HTTP on port {info['metrics_port']}")
    workers = info["workers"]
    print(
        f"workers: {workers['threads']} threads, {workers['busy']} busy,"
        f" {workers.get('queued', 0)} queued"
    )
    loop = info.get("event_loop")
    if loop and (loop["awaiting"] or loop["finished"]):
        print(f"event loop: {loop['awaiting']} awaiting, {loop['finished']} finished")
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

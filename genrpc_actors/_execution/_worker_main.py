"""The main loop of a process worker: one request at a time, from its node, over a ``Channel``.

The worker runs the request exactly as a thread of the node would (``run_request``: module
control, version, the call, the outcome), so outcomes are the same wherever a request runs.
It dies with its node: the channel's end ends the loop, and ``PR_SET_PDEATHSIG`` kills it if its
parent (the forkserver, which itself ends with the node) goes first.
"""

from __future__ import annotations

import contextlib
import ctypes
import importlib
import os
import signal
import socket
import sys
from collections.abc import Sequence

from genrpc_actors._execution._request import ModuleControl, run_request
from genrpc_actors._execution._worker_channel import FAILED, READY, SHARED_MIN, Channel

__all__ = ["serve"]

_PR_SET_PDEATHSIG = 1
_NICE = 10


def _die_with_parent() -> None:
    if sys.platform.startswith("linux"):
        try:
            libc = ctypes.CDLL(None, use_errno=True)
            libc.prctl(_PR_SET_PDEATHSIG, signal.SIGKILL, 0, 0, 0)
        except (OSError, AttributeError):  # pragma: no cover - no prctl: the channel still ends us
            pass


def _yield_to_the_node() -> None:
    """A worker's CPU-bound work gives way to its node's threads, which read and answer
    every connection: niced, and scheduled as batch work (the kernel then prefers the node's
    short wake-ups to a worker's long run). Alone on a CPU, a worker runs as fast as before."""
    with contextlib.suppress(OSError):
        os.nice(_NICE)
    if hasattr(os, "SCHED_BATCH"):
        with contextlib.suppress(OSError):
            os.sched_setscheduler(0, os.SCHED_BATCH, os.sched_param(0))


def serve(
    sock: socket.socket,
    modules: Sequence[str],
    mode: str,
    listed: Sequence[str],
    max_nesting: int,
) -> None:
    """Import ``modules``, say ready, then run requests until the channel ends."""
    _die_with_parent()
    signal.signal(signal.SIGINT, signal.SIG_IGN)  # Ctrl-C is the node's to handle
    _yield_to_the_node()
    channel = Channel(sock)
    for name in modules:
        if name == "*":
            continue
        try:
            importlib.import_module(name)
        except BaseException as exc:  # noqa: BLE001 - reported to the node, which refuses to start
            said = f"{name}: {type(exc).__name__}: {exc}".encode()[: SHARED_MIN - 1]
            channel.send(FAILED, 0, [said])
            return
    channel.send(READY, 0, [b""])
    control = ModuleControl(mode, listed, max_nesting)
    while True:
        message = channel.receive()
        if message is None:
            return  # the node has gone
        flags, reply, body = message
        kind, out_flags, out = run_request(control, flags, body, reply=bool(reply))
        del message, body  # a view of the region, which the reply may be written over
        try:
            channel.send(kind, out_flags, [out] if isinstance(out, bytes) else out)
        except OSError:
            return

"""The main loop of a process worker: one request at a time, from its node, over a pipe.

Pipe messages (``multiprocessing.connection``'s framed bytes)::

    node -> worker   flags:u8 reply:u8 body            a CALL or CAST body, as received
    worker -> node   "ready" | "failed" text           once, after ``process_modules`` imported
    worker -> node   kind:u8 flags:u8 body             the outcome (REPLY or ERROR), as sent

The worker runs the request exactly as a thread of the node would (``run_request``: module
control, version, the call, the outcome), so outcomes are the same wherever a request runs.
It dies with its node: the pipe's end ends the loop, and ``PR_SET_PDEATHSIG`` kills it if its
parent (the forkserver, which itself ends with the node) goes first.
"""

from __future__ import annotations

import ctypes
import importlib
import signal
import struct
import sys
from collections.abc import Sequence
from multiprocessing.connection import Connection as Pipe

from genrpc_actors._execution._request import ModuleControl, run_request

__all__ = ["HEADER", "serve"]

HEADER = struct.Struct(">BB")
_PR_SET_PDEATHSIG = 1


def _die_with_parent() -> None:
    if sys.platform.startswith("linux"):
        try:
            libc = ctypes.CDLL(None, use_errno=True)
            libc.prctl(_PR_SET_PDEATHSIG, signal.SIGKILL, 0, 0, 0)
        except (OSError, AttributeError):  # pragma: no cover - no prctl: the pipe still ends us
            pass


def serve(pipe: Pipe, modules: Sequence[str], mode: str, listed: Sequence[str]) -> None:
    """Import ``modules``, say ready, then run requests until the pipe ends."""
    _die_with_parent()
    signal.signal(signal.SIGINT, signal.SIG_IGN)  # Ctrl-C is the node's to handle
    for name in modules:
        if name == "*":
            continue
        try:
            importlib.import_module(name)
        except BaseException as exc:  # noqa: BLE001 - reported to the node, which refuses to start
            pipe.send_bytes(b"failed " + f"{name}: {type(exc).__name__}: {exc}".encode())
            return
    pipe.send_bytes(b"ready")
    control = ModuleControl(mode, listed)
    while True:
        try:
            message = pipe.recv_bytes()
        except (EOFError, OSError):
            return  # the node has gone
        flags, reply = HEADER.unpack_from(message)
        body = memoryview(message)[HEADER.size :]
        kind, out_flags, out = run_request(control, flags, body, reply=bool(reply))
        data = out if isinstance(out, bytes) else b"".join(out)
        try:
            pipe.send_bytes(HEADER.pack(kind, out_flags) + data)
        except (EOFError, OSError):
            return

"""The ``tcp`` driver: connect, listen and socket options (no protocol here)."""

from __future__ import annotations

import contextlib
import socket
import struct
import sys

from genrpc_actors._errors import BadRpc, BadTcp
from genrpc_actors._transport._reasons import bad_rpc, bad_tcp

__all__ = [
    "configure",
    "connect",
    "listen",
    "set_receive_timeout",
    "set_send_timeout",
    "shutdown",
]


def configure(sock: socket.socket, keepalive: tuple[int, int, int]) -> None:
    """TCP_NODELAY, and keepalive (idle, interval, count) at the ``IPPROTO_TCP`` level;
    ``BadTcp`` if the socket is already gone. Other sockets (a Unix socket pair) are left as
    they are."""
    if sock.family not in (socket.AF_INET, socket.AF_INET6):
        return
    try:
        sock.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
        sock.setsockopt(socket.SOL_SOCKET, socket.SO_KEEPALIVE, 1)
        idle, interval, count = keepalive
        if sys.platform == "darwin":  # pragma: no cover - the macOS name for TCP_KEEPIDLE
            sock.setsockopt(socket.IPPROTO_TCP, 0x10, idle)
        elif hasattr(socket, "TCP_KEEPIDLE"):
            sock.setsockopt(socket.IPPROTO_TCP, socket.TCP_KEEPIDLE, idle)
        if hasattr(socket, "TCP_KEEPINTVL"):
            sock.setsockopt(socket.IPPROTO_TCP, socket.TCP_KEEPINTVL, interval)
        if hasattr(socket, "TCP_KEEPCNT"):
            sock.setsockopt(socket.IPPROTO_TCP, socket.TCP_KEEPCNT, count)
        if hasattr(socket, "TCP_USER_TIMEOUT"):
            # Keepalive probes only run on an idle connection; with data unacknowledged (a request
            # sent into a cut link) the kernel would retransmit for many minutes. This bounds that
            # by the same time keepalive takes to give up on a silent peer.
            silent = (idle + interval * count) * 1000
            sock.setsockopt(socket.IPPROTO_TCP, socket.TCP_USER_TIMEOUT, silent)
    except OSError as exc:
        raise bad_tcp(exc) from None


def set_send_timeout(sock: socket.socket, seconds: float | None) -> None:
    """A kernel send timeout (``SO_SNDTIMEO``) on a blocking socket: ``send`` fails with
    ``EAGAIN`` past it. The reading thread's blocking ``recv`` is not affected."""
    try:
        sock.setsockopt(socket.SOL_SOCKET, socket.SO_SNDTIMEO, _timeval(seconds))
    except OSError as exc:  # closed under us
        raise bad_tcp(exc) from None


def set_receive_timeout(sock: socket.socket, seconds: float | None) -> None:
    """A kernel receive timeout (``SO_RCVTIMEO``) on a blocking socket: ``recv`` fails with
    ``EAGAIN`` (``BlockingIOError``) past it; no ``poll`` needed before each receive."""
    try:
        sock.setsockopt(socket.SOL_SOCKET, socket.SO_RCVTIMEO, _timeval(seconds))
    except OSError as exc:  # closed under us
        raise bad_tcp(exc) from None


def _timeval(seconds: float | None) -> bytes:
    whole = 0 if seconds is None else int(seconds)
    micro = 0 if seconds is None else int((seconds - whole) * 1_000_000)
    if seconds is not None and whole == 0 and micro == 0:
        micro = 1  # zero would mean "no timeout"
    return struct.pack("ll", whole, micro)


def connect(host: str, port: int, timeout: float, keepalive: tuple[int, int, int]) -> socket.socket:
    """A connected, configured, blocking socket; ``BadRpc`` (``econnrefused``, ``timeout``, ...)
    if it cannot be made."""
    try:
        sock = socket.create_connection((host, port), timeout=timeout)
    except OSError as exc:
        raise bad_rpc(exc) from None
    try:
        sock.settimeout(None)
        configure(sock, keepalive)
    except BadTcp as exc:
        sock.close()
        raise BadRpc(exc.reason) from None
    return sock


def listen(address: str, port: int) -> socket.socket:
    """A listening socket (``SO_REUSEADDR``, so a stopped node's port is free again at once)."""
    family = socket.AF_INET6 if ":" in address else socket.AF_INET
    return socket.create_server((address, port), family=family, backlog=512, reuse_port=False)


def shutdown(sock: socket.socket) -> None:
    """Wake a thread blocked in ``recv``/``accept`` on ``sock`` and close it; never raises."""
    with contextlib.suppress(OSError):
        sock.shutdown(socket.SHUT_RDWR)
    with contextlib.suppress(OSError):
        sock.close()

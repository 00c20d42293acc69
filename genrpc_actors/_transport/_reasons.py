"""The one table that names socket and TLS errors the way gen_rpc does.

Only the transport layer uses it: whatever a socket or OpenSSL raises leaves ``_transport`` as a
``BadTcp`` (the connection failed) or a ``BadRpc`` (a connect or TLS handshake that failed) with
one of these reasons, so the two ends of a connection never look at an ``OSError`` themselves.
"""

from __future__ import annotations

import errno
import socket
import ssl

from genrpc_actors._errors import BadRpc, BadTcp

__all__ = ["bad_rpc", "bad_tcp", "reason_of"]

_ERRNO_NAMES = {
    errno.ECONNREFUSED: "econnrefused",
    errno.ECONNRESET: "closed",
    errno.EPIPE: "closed",
    errno.ECONNABORTED: "closed",
    errno.EHOSTUNREACH: "ehostunreach",
    errno.ENETUNREACH: "enetunreach",
    errno.ETIMEDOUT: "timeout",
    errno.EAGAIN: "timeout",
    errno.EADDRNOTAVAIL: "eaddrnotavail",
}


def reason_of(exc: BaseException) -> str | tuple[str, str]:
    """gen_rpc's name for a socket error: ``econnrefused``, ``timeout``, ``closed``, ...;
    a TLS error is ``("tls", what OpenSSL says)``."""
    if isinstance(exc, ssl.SSLError) and not isinstance(exc, ssl.SSLWantWriteError):
        return ("tls", exc.reason or str(exc))
    if isinstance(exc, TimeoutError | socket.timeout | ssl.SSLWantWriteError):
        return "timeout"
    if isinstance(exc, socket.gaierror):
        return "nxdomain"
    if isinstance(exc, OSError) and exc.errno in _ERRNO_NAMES:
        return _ERRNO_NAMES[exc.errno]
    if isinstance(exc, OSError) and exc.errno is not None:
        return errno.errorcode.get(exc.errno, str(exc.errno)).lower()
    return type(exc).__name__


def bad_tcp(exc: BaseException) -> BadTcp:
    """The connection failed under a call: ``BadTcp`` with ``exc``'s reason."""
    return BadTcp(reason_of(exc))


def bad_rpc(exc: BaseException) -> BadRpc:
    """The connection could not be made (refused, unreachable, ...): ``BadRpc``."""
    return BadRpc(reason_of(exc))

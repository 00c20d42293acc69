"""The exception tree of genrpc_actors, and the translation of lower-level errors into it.

::

    RpcError                 .reason: a str, or a tuple whose first item is a str
    ├── BadRpc               RPC-level failure (gen_rpc's {badrpc, Reason})
    │   └── RemoteError      the remote function raised; .exception, .remote_traceback
    ├── BadTcp               transport failure (gen_rpc's {badtcp, Reason})
    ├── NoNodeError          no node runs in this process
    ├── NameTakenError       register(): the name belongs to a live actor
    └── ConfigError          a configuration key has a wrong type or value

``OSError``, ``ssl.SSLError``, ``pykka.Timeout`` and ``pykka.ActorDeadError`` never leave a
public call: :func:`reason_of_oserror` names them the way gen_rpc does (``econnrefused``, ...).
"""

from __future__ import annotations

import errno
import socket
import ssl
from typing import Any

__all__ = [
    "BadRpc",
    "BadTcp",
    "ConfigError",
    "NameTakenError",
    "NoNodeError",
    "RemoteError",
    "RpcError",
    "reason_of_oserror",
]


class RpcError(Exception):
    """Base of every error the library raises; ``reason`` says what happened, as gen_rpc would."""

    def __init__(self, reason: Any, message: str | None = None) -> None:
        super().__init__(message if message is not None else _describe(reason))
        self.reason = reason

    def __reduce__(self) -> tuple[Any, ...]:
        return (type(self), (self.reason, str(self)))


class BadRpc(RpcError):
    """The call did not give a result: ``timeout``, ``econnrefused``, ``invalid_cookie``,
    ``badnode``, ``unauthorized``, ``incompatible``, ``EXIT`` (see :class:`RemoteError`), ..."""


class RemoteError(BadRpc):
    """The remote function raised. ``exception`` is the original when it could be unpickled here
    (it is also ``__cause__``); ``remote_traceback`` is the remote traceback as text."""

    def __init__(
        self,
        exception: BaseException | None,
        remote_traceback: str,
        type_name: str = "",
        message: str | None = None,
    ) -> None:
        name = type_name or (type(exception).__name__ if exception is not None else "Exception")
        text = message if message is not None else f"remote {name}: {exception}"
        super().__init__("EXIT", text)
        self.exception = exception
        self.remote_traceback = remote_traceback
        self.type_name = name
        self.__cause__ = exception

    def __reduce__(self) -> tuple[Any, ...]:
        return (type(self), (self.exception, self.remote_traceback, self.type_name, str(self)))


class BadTcp(RpcError):
    """The connection failed under a call: ``closed``, ``send_timeout``, ``frame_too_large``, ..."""


class NoNodeError(RpcError):
    """A module-level function was called while no node runs in this process."""

    def __init__(self, reason: Any = "no_node", message: str | None = None) -> None:
        super().__init__(reason, message or "no node is running: call genrpc_actors.start() first")


class NameTakenError(RpcError):
    """``register(name, ...)``: the name belongs to another live actor."""


class ConfigError(RpcError, ValueError):
    """A configuration key has a wrong type or value; ``key`` names it."""

    def __init__(self, key: str, message: str) -> None:
        super().__init__(("config", key), f"{key}: {message}")
        self.key = key

    def __reduce__(self) -> tuple[Any, ...]:
        return (type(self), (self.key, str(self).partition(": ")[2]))


def _describe(reason: Any) -> str:
    if isinstance(reason, tuple) and reason:
        return f"{reason[0]}: {', '.join(map(str, reason[1:]))}"
    return str(reason)


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


def reason_of_oserror(exc: BaseException) -> str | tuple[str, str]:
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

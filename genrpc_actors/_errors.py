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
public call: the transport layer turns socket and TLS errors into ``BadTcp``/``BadRpc`` with
gen_rpc's reasons, by one table (``genrpc_actors._transport._reasons``).

A failure to reach a node also says where: ``node``, ``host``, ``port`` and ``driver`` (else
``None``), and its message names them. ``transient`` tells a failure of the network or of the
node's reachability (worth a retry: ``TRANSIENT_REASONS``, and every ``BadTcp``) from a failure of
the request itself (the function raised, was refused, could not be pickled, ...).
"""

from __future__ import annotations

from typing import Any

__all__ = [
    "TRANSIENT_REASONS",
    "BadRpc",
    "BadTcp",
    "ConfigError",
    "NameTakenError",
    "NoNodeError",
    "RemoteError",
    "RpcError",
]

# Reasons of failures to reach a node or to keep talking to it: the request did not run, or its
# outcome was lost on the way ("timeout": it may have run; retry what can run twice).
TRANSIENT_REASONS = frozenset(
    {
        "econnrefused",
        "ehostunreach",
        "enetunreach",
        "eaddrnotavail",
        "nxdomain",
        "timeout",
        "closed",
        "send_timeout",
        "inactivity",
        "not_running",
        "no_thread",
    }
)


class RpcError(Exception):
    """Base of every error the library raises; ``reason`` says what happened, as gen_rpc would."""

    node: str | None = None  # where a failure to reach a node happened, when it is one
    host: str | None = None
    port: int | None = None
    driver: str | None = None

    def __init__(self, reason: Any, message: str | None = None) -> None:
        super().__init__(message if message is not None else _describe(reason))
        self.reason = reason

    def __reduce__(self) -> tuple[Any, ...]:
        return (type(self), (self.reason, str(self)), self.__dict__ or None)

    @property
    def transient(self) -> bool:
        """Whether the network or the node's reachability failed (a retry may succeed), not the
        request: ``econnrefused``, ``timeout``, ``closed``, ... (``TRANSIENT_REASONS``), and
        every ``BadTcp``. ``False`` for ``RemoteError`` (the function raised), ``unauthorized``,
        ``incompatible``, ``invalid_cookie``, ``badnode``, pickling errors, ``killed``, ...

        After ``timeout`` the request may have run: retry only what may run twice."""
        if isinstance(self, BadTcp):
            return True
        reason = self.reason[0] if isinstance(self.reason, tuple) and self.reason else self.reason
        return isinstance(reason, str) and reason in TRANSIENT_REASONS


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
        args = (self.exception, self.remote_traceback, self.type_name, str(self))
        return (type(self), args)


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

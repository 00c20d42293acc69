"""Checking a call's arguments, encoding its request, and turning its reply into an outcome."""

from __future__ import annotations

import copy
import logging
import re
from collections.abc import Callable, Hashable, Mapping, Sequence
from typing import Any

from genrpc_actors import _protocol
from genrpc_actors._client._connection import Connection
from genrpc_actors._client._reply import Reply
from genrpc_actors._errors import BadRpc, RemoteError
from genrpc_actors._protocol._messages import (
    ERROR,
    REPLY,
    SBCAST_REPLY,
    Body,
    decode_body,
    encode_body,
    has_large,
)

logger = logging.getLogger("genrpc_actors")

__all__ = [
    "check_target",
    "check_timeout",
    "encode_request",
    "expire",
    "node_name",
    "resolve",
    "timed_out",
    "wait_reply",
]


def node_name(target: Any) -> str:
    return target if type(target) is str else str(target[0])


_CHECKED: set[str] = set()  # node names found well-formed (a node calls few: bounded below)
_CHECKED_MAX = 4096


def timed_out(target: Any, connection: Connection | None, seconds: float | None) -> BadRpc:
    """``BadRpc("timeout")`` that says which node (and where) gave no reply in time."""
    name = node_name(target)
    within = f" within {seconds:g} s" if seconds is not None else ""
    if connection is None:  # the node itself
        error = BadRpc("timeout", f"timeout: no reply from {name}{within}")
        error.node = name
        return error
    endpoint = connection.endpoint
    driver = "ssl" if endpoint.tls is not None else "tcp"
    where = f"{name} at {endpoint.host}:{endpoint.port} ({driver})"
    error = BadRpc("timeout", f"timeout: no reply from {where}{within}")
    error.node, error.host, error.port, error.driver = name, endpoint.host, endpoint.port, driver
    return error


def wait_reply(
    target: Any, connection: Connection | None, request_id: int, slot: Reply, wait: float | None
) -> None:
    """Wait up to ``wait`` for the reply to a request sent with ``lead`` (read here when nobody
    else reads); ``timed_out`` if it has not come (the remote request is then cancelled)."""
    if connection is not None:
        if not connection.wait(request_id, slot, wait):
            raise timed_out(target, connection, wait)
    elif not slot.wait(wait):
        raise timed_out(target, None, wait)


def expire(
    target: Any, connection: Connection | None, request_id: int, slot: Reply, wait: float
) -> None:
    """An async request's time is up (a timer's callback): unless answered, it is cancelled
    and fails with ``timeout``."""
    if slot.done:
        return
    if connection is not None:
        connection.cancel(request_id)
    slot.set_error(timed_out(target, connection, wait))


def check_target(node: Any) -> Any:
    if type(node) is str and node in _CHECKED:
        return node
    name = node[0] if isinstance(node, tuple) and len(node) == 2 else node  # noqa: PLR2004
    if isinstance(node, tuple) and len(node) != 2:  # noqa: PLR2004
        raise TypeError(f"node must be 'name@host' or ('name@host', key), not {node!r}")
    if not isinstance(name, str):
        raise TypeError(f"node must be 'name@host' or ('name@host', key), not {node!r}")
    if name.count("@") != 1 or name.startswith("@") or name.endswith("@"):
        raise ValueError(f"a node name is 'name@host', not {name!r}")
    if isinstance(node, tuple) and not isinstance(node[1], Hashable):
        raise TypeError(f"a shard key must be hashable, not {type(node[1]).__name__}")
    if type(node) is str and len(_CHECKED) < _CHECKED_MAX:
        _CHECKED.add(node)
    return node


def check_timeout(name: str, value: Any, default: float | None) -> float | None:
    if value is None:
        return default
    if isinstance(value, bool) or not isinstance(value, int | float):
        raise TypeError(f"{name} must be seconds or None, not {value!r}")
    if value < 0:
        raise ValueError(f"{name} must be >= 0, not {value}")
    return float(value)


def encode_request(module: Any, function: Any, args: Any, kwargs: Any) -> tuple[Body, int]:
    version = None
    if not (type(module) is str and module and type(function) is str and function):
        module, version = _check_module(module, function)
    if type(args) is not tuple:
        if isinstance(args, str | bytes) or not isinstance(args, Sequence):
            raise TypeError(f"args must be a sequence, not {type(args).__name__}")
        args = tuple(args)
    if kwargs is None:
        kwargs = {}
    elif type(kwargs) is not dict:
        if not isinstance(kwargs, Mapping):
            raise TypeError(f"kwargs must be a mapping or None, not {type(kwargs).__name__}")
        kwargs = dict(kwargs)
    # binaries among the arguments, or one level inside them, travel out of band
    large = has_large(args, 2) or (bool(kwargs) and has_large(kwargs, 2))
    request = (module, version, function, args, kwargs)
    try:
        return encode_body(request, large=large, depth=3)
    except Exception as exc:
        raise BadRpc(("unpicklable_argument", f"{type(exc).__name__}: {exc}")) from exc


def _check_module(module: Any, function: Any) -> tuple[Any, Any]:
    """``(module, version)`` of a module argument other than a plain name; raises if bad."""
    version = None
    if isinstance(module, tuple):
        if len(module) != 2 or not isinstance(module[0], str):  # noqa: PLR2004
            raise TypeError(f"module must be 'pkg.mod' or ('pkg.mod', version), not {module!r}")
        module, version = module
    if isinstance(module, str):
        if not module:
            raise ValueError("module name is empty")
        if not isinstance(function, str) or not function:
            raise TypeError(f"function must be an attribute name (str), not {function!r}")
    elif callable(module):
        if function is not None:
            raise TypeError("with a callable as module, leave function out")
    else:
        raise TypeError(
            f"module must be a str, a (str, version) tuple or a callable, not {module!r}"
        )
    return module, version


def resolve(
    reply: Reply,
    allowed: Callable[[str, str], bool] | None = None,
    max_nesting: int = _protocol.MAX_NESTING,
) -> Any:
    """The outcome of a reply: the value, or the error raised (a fresh copy per caller).

    With ``allowed`` (a whitelist's ``reply_unpickling``), a reply that names any other global
    is refused with ``BadRpc("unauthorized")`` before any of it runs; an error reply keeps its
    reason and text, and only its exception object, if refused, is lost."""
    if reply.error is not None:
        raise copy.copy(reply.error)
    assert reply.raw is not None
    kind, flags, body = reply.raw
    try:
        decoded = decode_body(body, flags, allowed, inert=kind == ERROR, max_nesting=max_nesting)
    except _protocol.RefusedGlobal as refused:
        logger.warning("event=reply_refused global=%s.%s", refused.module, refused.name)
        raise BadRpc("unauthorized") from None
    except Exception as exc:  # noqa: BLE001 - e.g. a class this process cannot import
        raise BadRpc(("undecodable_reply", f"{type(exc).__name__}: {exc}")) from None
    if kind == ERROR:
        if not (isinstance(decoded, tuple) and len(decoded) == 5):  # noqa: PLR2004
            raise BadRpc(("invalid_reply", "malformed ERROR body"))
        reason, exception, tb, type_name, text = decoded
        if _inert(reason):
            raise BadRpc("unauthorized")
        if reason == "EXIT":
            exception = exception if isinstance(exception, BaseException) else None
            raise RemoteError(exception, str(tb), str(type_name), f"remote {type_name}: {text}")
        raise BadRpc(reason, _explain(reason))
    if kind not in (REPLY, SBCAST_REPLY):
        raise BadRpc(("invalid_reply", f"kind {kind}"))
    return decoded


_MISSING = re.compile(
    r"No module named '([\w.]+)'|Can't get attribute '([\w.]+)' on <module '([\w.]+)'"
)


def _explain(reason: Any) -> str | None:
    """The message of an ERROR reply's ``BadRpc``: the reason, and what to do where it helps."""
    if not (isinstance(reason, tuple) and len(reason) == 2 and reason[0] == "undecodable"):  # noqa: PLR2004
        return None
    found = _MISSING.search(str(reason[1]))
    if found is None:
        return None
    if found.group(1):
        what = f"module '{found.group(1)}'"
    else:
        what = f"'{found.group(2)}' of module '{found.group(3)}'"
    return (
        f"undecodable: {reason[1]} (the node cannot import {what}, which the request names: "
        "install that module there, or define what you ship in the calling script, whose "
        "functions and classes travel by value)"
    )


def _inert(value: Any, depth: int = 3) -> bool:
    """Whether a refused global stood in ``value`` (a reason: a str or a small tuple)."""
    if isinstance(value, _protocol.Inert):
        return True
    if isinstance(value, tuple) and depth:
        return any(_inert(part, depth - 1) for part in value)
    return False

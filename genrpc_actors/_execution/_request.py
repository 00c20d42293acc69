"""Running one request: decode it, check module control and version, call, encode the outcome.

Shared by the acceptor (remote requests) and by calls a node makes to itself, so both give the
same outcomes. Order of the checks, as gen_rpc's: module control (``unauthorized``), then the
version (``incompatible``), then the call.
"""

from __future__ import annotations

import asyncio
import builtins
import functools
import importlib
import logging
import pickle
import sys
import traceback
from collections.abc import Awaitable, Callable, Collection
from types import ModuleType
from typing import Any, Final

from genrpc_actors import _protocol
from genrpc_actors._protocol._messages import (
    DILL,
    ERROR,
    PLAIN_GLOBALS,
    REPLY,
    Body,
    decode_body,
    encode_body,
)

__all__ = [
    "AWAITED",
    "AWAITED_KIND",
    "Awaiting",
    "ModuleControl",
    "Outcome",
    "awaited_outcome",
    "error_body",
    "run_request",
]

logger = logging.getLogger("genrpc_actors")


class ModuleControl:
    """``rpc_module_control`` and ``rpc_module_list`` as one predicate, with what a body may
    hold: the globals it may name (``unpickling``), how deeply it may nest (``max_nesting``)."""

    __slots__ = ("max_nesting", "mode", "modules")

    def __init__(
        self, mode: str, modules: Collection[str], max_nesting: int = _protocol.MAX_NESTING
    ) -> None:
        self.mode, self.modules = mode, frozenset(modules)
        self.max_nesting = max_nesting

    def allows(self, module: str) -> bool:
        if self.mode == "whitelist":
            return module in self.modules
        if self.mode == "blacklist":
            return module not in self.modules
        return True

    @property
    def enabled(self) -> bool:
        return self.mode != "disabled"

    def allows_global(self, module: str, name: str) -> bool:
        """Whether a request's pickle may name ``module.name`` under a whitelist: a global of a
        whitelisted module, or one that plain data needs (``PLAIN_GLOBALS``)."""
        return module in self.modules or (module, name) in PLAIN_GLOBALS

    @property
    def unpickling(self) -> Callable[[str, str], bool] | None:
        """What ``decode_body`` may resolve: bounded by a whitelist, else anything."""
        return self.allows_global if self.mode == "whitelist" else None

    def allows_in_reply(self, module: str, name: str) -> bool:
        """What a reply's pickle may name under a whitelist: what a request's may, and the
        built-in exceptions (an error reply carries one)."""
        return self.allows_global(module, name) or (module, name) in _BUILTIN_EXCEPTIONS

    @property
    def reply_unpickling(self) -> Callable[[str, str], bool] | None:
        """What ``decode_body`` may resolve in a reply this node receives."""
        return self.allows_in_reply if self.mode == "whitelist" else None


_BUILTIN_EXCEPTIONS = frozenset(
    ("builtins", name)
    for name, value in vars(builtins).items()
    if isinstance(value, type) and issubclass(value, BaseException)
)


def error_body(reason: Any, exception: BaseException | None = None, tb: str = "") -> bytes:
    """The body of an ERROR message; the exception is dropped if it cannot be pickled."""
    type_name = type(exception).__name__ if exception is not None else ""
    text = str(exception) if exception is not None else ""
    try:
        return pickle.dumps((reason, exception, tb, type_name, text), protocol=5)
    except Exception:  # noqa: BLE001 - an exception that cannot travel still has its text
        return pickle.dumps((reason, None, tb, type_name, text), protocol=5)


def _import(name: str) -> ModuleType:
    module = sys.modules.get(name)
    # A module another thread is still importing is in sys.modules half made: import_module
    # waits for that import to end instead of handing it out.
    if module is None or getattr(getattr(module, "__spec__", None), "_initializing", False):
        return importlib.import_module(name)
    return module


Outcome = tuple[int, int, Body]  # a reply: (kind, flags, body)
# What a runner does with an awaitable result: await it somewhere, then turn how it ended,
# ``(True, value)`` or ``(False, exception)``, into the reply with ``finish`` and send that.
Finish = Callable[[bool, Any], Outcome]
Awaiting = Callable[[Awaitable[Any], Finish], None]
# run_request handed an awaitable to its ``awaiting``; compare a kind with AWAITED_KIND (in
# compiled code a Final tuple is built anew at each read)
AWAITED_KIND: Final = 0
AWAITED: Final[Outcome] = (AWAITED_KIND, 0, b"")


def run_request(
    control: ModuleControl,
    flags: int,
    body: Any,
    *,
    reply: bool = True,
    awaiting: Awaiting | None = None,
) -> Outcome:
    """Carry out a CALL or CAST body; returns the reply ``(kind, flags, body)`` (without
    ``reply``, a CAST's, its body is left empty on success: nobody reads it).

    A function that returns an awaitable (an ``async def`` one) has it awaited: by
    ``awaiting`` (the node's event loop), and then ``AWAITED`` is returned and the outcome
    comes later through ``awaiting``'s ``finish`` (see ``awaited_outcome``); without it, here,
    on an event loop of this thread's own (a process worker's)."""
    if flags & DILL and control.enabled:
        return ERROR, 0, error_body("unauthorized")  # never unpickle shipped code then
    try:
        module, version, function, args, kwargs = decode_body(
            body, flags, control.unpickling, max_nesting=control.max_nesting
        )
    except _protocol.RefusedGlobal:
        return ERROR, 0, error_body("unauthorized")  # nothing of it has run
    except Exception as exc:  # noqa: BLE001 - whatever unpickling raised
        return ERROR, 0, error_body(("undecodable", f"{type(exc).__name__}: {exc}"))
    target = _target(control, module, version, function)
    if isinstance(target, bytes):
        return ERROR, 0, target
    try:
        result = target(*args, **(kwargs or {}))
    except BaseException as exc:  # noqa: BLE001 - SystemExit too: the node keeps running
        return ERROR, 0, error_body("EXIT", exc, traceback.format_exc())
    if _awaitable(type(result)):
        if awaiting is not None:
            awaiting(result, functools.partial(_finish_awaited, reply))
            return AWAITED
        ok, result = _await_here(result)
        if not ok:
            return awaited_outcome(False, result, reply=reply)
    return _outcome(result, reply)


# Whether a result's type is awaitable, by type: looking ``__await__`` up on a type that lacks
# it raises (and formats) an AttributeError inside getattr, ~0.4 us a call; bounded, as types
# can be made at run time.
_AWAITABLE: Final[dict[type, bool]] = {int: False, str: False, bytes: False, type(None): False}
_AWAITABLE_KEPT: Final = 1024


def _awaitable(kind: type) -> bool:
    known = _AWAITABLE.get(kind)
    if known is None:
        known = getattr(kind, "__await__", None) is not None
        if len(_AWAITABLE) < _AWAITABLE_KEPT:
            _AWAITABLE[kind] = known
    return known


def awaited_outcome(ok: bool, value: Any, *, reply: bool = True) -> Outcome:
    """The reply to a request whose awaitable ended with ``value`` (a result, or the exception
    it raised when not ``ok``)."""
    if not ok:
        trace = "".join(traceback.format_exception(value))
        return ERROR, 0, error_body("EXIT", value, trace)
    return _outcome(value, reply)


def _finish_awaited(reply: bool, ok: bool, value: Any) -> Outcome:
    return awaited_outcome(ok, value, reply=reply)


def _await_here(awaitable: Awaitable[Any]) -> tuple[bool, Any]:
    async def wait() -> Any:
        return await awaitable

    try:
        return True, asyncio.run(wait())
    except BaseException as exc:  # noqa: BLE001 - as a function's own raise
        return False, exc


def _outcome(result: Any, reply: bool) -> Outcome:
    if not reply:
        return REPLY, 0, b""
    try:
        encoded, out_flags = encode_body(result)
    except Exception as exc:  # noqa: BLE001 - whatever pickling raised
        reason = ("unpicklable_result", f"{type(exc).__name__}: {exc}")
        return ERROR, 0, error_body(reason)
    return REPLY, out_flags, encoded


def _target(
    control: ModuleControl, module: Any, version: Any, function: Any
) -> Callable[..., Any] | bytes:
    """The function to call, or the body of the ERROR that refuses it."""
    if callable(module) and not isinstance(module, str):
        return error_body("unauthorized") if control.enabled else module
    if not control.allows(module):
        return error_body("unauthorized")
    if version is not None:
        try:
            found = getattr(_import(module), "__version__", None)
        except Exception:  # noqa: BLE001 - a module that cannot be imported is incompatible
            found = None
        if found is None or found != version:
            return error_body("incompatible")
    try:
        target: Callable[..., Any] = getattr(_import(module), function)
    except BaseException as exc:  # noqa: BLE001 - ModuleNotFoundError, AttributeError, ...
        return error_body("EXIT", exc, traceback.format_exc())
    return target

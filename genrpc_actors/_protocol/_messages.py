"""Messages after the handshake: kinds, flags, bodies (pickle, dill, out-of-band buffers).

See the package docstring for the byte layout. No sockets here.
"""

from __future__ import annotations

import importlib
import io
import pickle
import struct
import types
from collections.abc import Callable
from typing import Any, Final

from genrpc_actors._protocol._framing import Payload
from genrpc_actors._protocol._nesting import MAX_NESTING, check_nesting
from genrpc_actors._protocol._pickling import ByValue, Inert, RefusedGlobal, Restricted, names_main

__all__ = [
    "ABCAST",
    "ASK",
    "BUFFERS",
    "CALL",
    "CANCEL",
    "CAST",
    "DILL",
    "ERROR",
    "OUT_OF_BAND",
    "PING",
    "PLAIN_GLOBALS",
    "PONG",
    "PROBE",
    "REPLY",
    "SBCAST",
    "SBCAST_REPLY",
    "SPAWN",
    "SUPERVISE",
    "Body",
    "Inert",
    "RefusedGlobal",
    "decode_body",
    "encode_body",
    "has_large",
    "message",
    "message_parts",
    "parse_message",
    "peek_module",
]

CALL: Final = 1
CAST: Final = 2
ABCAST: Final = 3
SBCAST: Final = 4
REPLY: Final = 5
ERROR: Final = 6
SBCAST_REPLY: Final = 7
CANCEL: Final = 8
PING: Final = 9
PONG: Final = 10
ASK: Final = 11
SUPERVISE: Final = 12  # body = (op, name, arg): watch, exit, signal, link, unlink (see _server)
PROBE: Final = 0x04  # on an ASK: only whether the name is a live actor (a REPLY of a bool)
SPAWN: Final = 0x08  # on an ASK: body = (class, args, kwargs, name); REPLY (node, name, bool)
DILL: Final = 0x01
BUFFERS: Final = 0x02
OUT_OF_BAND: Final = 64 * 1024  # bytes; smaller binaries are pickled in band

_HEADER: Final = struct.Struct(">BBQ")
_HEADER_SIZE: Final = 10  # _HEADER.size
_FRAMED: Final = struct.Struct(">IBBQ")  # a frame's length prefix and a message's header at once
_COUNT: Final = struct.Struct(">I")
_SIZE: Final = struct.Struct(">Q")

Body = bytes | list[bytes | memoryview]  # a body whole, or with its buffers out of band


def encode_body(value: Any, *, large: bool | None = None, depth: int = 2) -> tuple[Body, int]:
    """Pickle ``value`` (C pickle, protocol 5); fall back to dill only when pickle cannot.

    Returns ``(body, flags)``: the body is one ``bytes``, or, with flag ``BUFFERS``, a list of
    parts whose large binaries are the caller's own objects, not copies (``large``: whether
    there are any, when the caller knows; else ``value`` is looked through, ``depth`` levels
    into tuples, lists and dicts). Raises
    ``pickle.PicklingError`` (or what dill raises) when neither can carry the value.
    """
    try:
        if not (has_large(value, depth) if large is None else large):
            data = pickle.dumps(value, 5)  # positional: no keyword parsing per call
            if b"_main__" not in data or not names_main(value):
                return data, 0
            raise ByValue
        wrapped = _out_of_band(value, depth)
        buffers: list[pickle.PickleBuffer] = []
        data = pickle.dumps(wrapped, protocol=5, buffer_callback=buffers.append)
        if b"_main__" in data and names_main(wrapped):
            raise ByValue
    except (pickle.PicklingError, AttributeError, TypeError, ByValue):
        stream = io.BytesIO()
        _dill_pickler()(stream, protocol=5, recurse=True).dump(value)
        return stream.getvalue(), DILL
    views = [buffer.raw() for buffer in buffers]
    head = _COUNT.pack(len(views)) + b"".join(_SIZE.pack(view.nbytes) for view in views)
    return [head, data, *views], BUFFERS


class _Binary:
    """A large ``bytes`` or ``bytearray``, pickled out of band and rebuilt as its own type."""

    __slots__ = ("value",)

    def __init__(self, value: bytes | bytearray) -> None:
        self.value = value

    def __reduce_ex__(self, protocol: object) -> tuple[Any, ...]:
        return type(self.value), (pickle.PickleBuffer(self.value),)


def has_large(value: Any, depth: int) -> bool:
    """Whether ``value`` holds a binary to send out of band (``depth`` levels into tuples,
    lists and dicts); the cheap test every message takes."""
    kind = type(value)
    if kind is bytes or kind is bytearray:
        return len(value) >= OUT_OF_BAND
    if not depth:
        return False
    if kind is tuple or kind is list:
        items = value
    elif kind is dict:
        items = value.values()
    else:
        return False
    for item in items:
        kind = type(item)
        if kind is str or kind is int or item is None:
            continue
        if has_large(item, depth - 1):
            return True
    return False


def _out_of_band(value: Any, depth: int) -> Any:
    """``value`` with its large binaries (``depth`` levels into tuples, lists and dicts)
    wrapped to travel out of band, or ``None`` when it has none (nothing is copied then)."""
    kind = type(value)
    if kind is bytes or kind is bytearray:
        return _Binary(value) if len(value) >= OUT_OF_BAND else None
    if not depth or not (kind is tuple or kind is list or kind is dict):
        return None
    items = value.values() if kind is dict else value
    wrapped = [_out_of_band(item, depth - 1) for item in items]
    if not any(item is not None for item in wrapped):
        return None
    if kind is dict:
        return {k: v if w is None else w for (k, v), w in zip(value.items(), wrapped, strict=True)}
    merged = [v if w is None else w for v, w in zip(value, wrapped, strict=True)]
    return tuple(merged) if kind is tuple else merged


_DILL_PICKLER: Any = None


def _dill_pickler() -> Any:
    """dill's Pickler, except that a module travels as its name, never as its contents.

    dill ships by value every module it does not count as installed (the application's own), and
    loading such a pickle overwrites that module's globals on the receiving node. A shipped
    function must use the receiver's modules, as a named one does.
    """
    global _DILL_PICKLER  # noqa: PLW0603 - built once, on first need
    if _DILL_PICKLER is None:
        import dill  # noqa: PLC0415 - only for what the C pickle cannot carry

        by_value = dill.Pickler.dispatch[types.ModuleType]

        def save_module(pickler: Any, module: types.ModuleType) -> None:
            if module.__name__ == "__main__":
                by_value(pickler, module)  # a script's module exists nowhere else
            else:
                pickler.save_reduce(importlib.import_module, (module.__name__,), obj=module)

        # its dispatch of dill's own kind (not dict.copy's plain dict): it finds the saver of a
        # class whose metaclass is not ``type`` (an ABC, a Pykka actor), which travels by value
        # from a script as any other class
        dispatch = type(dill.Pickler.dispatch)(dill.Pickler.dispatch)
        dispatch[types.ModuleType] = save_module
        _DILL_PICKLER = type("ModulesByName", (dill.Pickler,), {"dispatch": dispatch})
    return _DILL_PICKLER


# Globals that plain data needs and that run no code of consequence when a pickle names them:
# what a whitelist lets through besides the whitelisted modules' own globals.
PLAIN_GLOBALS: Final = frozenset(
    {
        *(
            ("builtins", name)
            for name in (
                "bool",
                "bytearray",
                "bytes",
                "complex",
                "dict",
                "float",
                "frozenset",
                "int",
                "list",
                "range",
                "set",
                "slice",
                "str",
                "tuple",
            )
        ),
        *(
            ("datetime", name)
            for name in ("date", "datetime", "time", "timedelta", "timezone", "tzinfo")
        ),
        ("decimal", "Decimal"),
        ("fractions", "Fraction"),
        ("uuid", "UUID"),
        ("collections", "OrderedDict"),
        ("collections", "deque"),
        ("pathlib", "PurePosixPath"),
        ("ipaddress", "IPv4Address"),
        ("ipaddress", "IPv6Address"),
        # what a remote actor's proxy sends: inert tuples, that the actor reads as Pykka's own
        *(("pykka.messages", name) for name in ("ProxyCall", "ProxyGetAttr", "ProxySetAttr")),
        ("genrpc_actors._node._remote_actors", "RemoteActorRef"),  # a node and a name
    }
)


def decode_body(
    body: Body | memoryview | bytearray,
    flags: int,
    allowed: Callable[[str, str], bool] | None = None,
    *,
    inert: bool = False,
    max_nesting: int = MAX_NESTING,
) -> Any:
    """Unpickle a message body (only ever called after the handshake). ``ValueError`` if its
    out-of-band layout is broken.

    With ``allowed``, the pickle may name only the globals ``allowed(module, name)`` accepts:
    any other raises :class:`RefusedGlobal` before it is loaded, so nothing it names runs (a
    dill body is refused whole: it names code by design). With ``inert`` too, a refused global
    decodes as an :class:`Inert` instead, and the rest of the body as it is. A pickle whose
    tuples nest deeper than ``max_nesting`` raises :class:`NestedTooDeep` before it is read
    (hashing such a tuple would overflow the C stack)."""
    if flags & DILL:
        if allowed is not None:
            raise RefusedGlobal("dill", "*")
        check_nesting(body if not isinstance(body, list) else b"".join(body), max_nesting)
        import dill  # noqa: PLC0415

        return dill.loads(body)  # noqa: S301 - after the handshake only, as below
    if flags & BUFFERS:
        data, buffers = _split(body)
        check_nesting(data, max_nesting)
        if allowed is not None:
            return Restricted(data, allowed, inert, buffers=buffers).load()
        return pickle.loads(data, buffers=buffers)  # noqa: S301 - as below
    check_nesting(body, max_nesting)  # type: ignore[arg-type]
    if allowed is not None:
        return Restricted(body, allowed, inert).load()
    return pickle.loads(body)  # type: ignore[arg-type]  # noqa: S301 - the peer has proved it knows the cookie


def _split(body: Body | memoryview | bytearray) -> tuple[Any, list[memoryview]]:
    """The pickle and the buffers of an out-of-band body (as made, or as received)."""
    if isinstance(body, list):
        return body[1], [memoryview(part) for part in body[2:]]
    view = memoryview(body)
    if len(view) < _COUNT.size:
        raise ValueError("out-of-band body shorter than its count")
    (count,) = _COUNT.unpack_from(view)
    offset = _COUNT.size + count * _SIZE.size
    if len(view) < offset:
        raise ValueError("out-of-band body shorter than its sizes")
    sizes = [_SIZE.unpack_from(view, _COUNT.size + i * _SIZE.size)[0] for i in range(count)]
    end = len(view) - sum(sizes)
    if end < offset:
        raise ValueError("out-of-band buffers larger than the body")
    buffers = []
    start = end
    for size in sizes:
        buffers.append(view[start : start + size])
        start += size
    return view[offset:end], buffers


def message(kind: int, flags: int, request_id: int, body: Body) -> bytes:
    """One framed message, as one ``bytes``."""
    parts = message_parts(kind, flags, request_id, body)
    return parts if isinstance(parts, bytes) else b"".join(parts)


def message_parts(
    kind: int, flags: int, request_id: int, body: Body
) -> bytes | list[bytes | memoryview]:
    """One framed message: whole, or in parts when its body has out-of-band buffers (to be
    written from where they lie)."""
    if isinstance(body, bytes):
        return _FRAMED.pack(_HEADER_SIZE + len(body), kind, flags, request_id) + body
    size = sum(len(part) if isinstance(part, bytes) else part.nbytes for part in body)
    return [_FRAMED.pack(_HEADER_SIZE + size, kind, flags, request_id) + body[0], *body[1:]]


def parse_message(payload: Payload) -> tuple[int, int, int, memoryview]:
    """``(kind, flags, id, body)`` of one message payload; ``ValueError`` if too short."""
    if len(payload) < _HEADER_SIZE:
        raise ValueError("message shorter than its header")
    kind, flags, request_id = _HEADER.unpack_from(payload)
    return kind, flags, request_id, memoryview(payload)[_HEADER_SIZE:]


def peek_module(body: Body | memoryview | bytearray, flags: int) -> str | None:
    """The module name a CALL or CAST body asks for, read off the pickle's first opcodes without
    unpickling anything (so a node can route a request it must not decode itself); ``None``
    when the body does not start the way ``encode_request`` starts one (a shipped callable, a
    dill pickle, anything else)."""
    if flags & DILL:
        return None
    try:
        raw = _split(body)[0] if flags & BUFFERS else body
        if isinstance(raw, list):
            return None
        data = memoryview(raw).cast("B")
    except (ValueError, TypeError):
        return None
    # PROTO 5, then an optional FRAME, then MARK and the module name as a unicode string
    if len(data) < 4 or data[0] != 0x80:  # noqa: PLR2004 - opcodes of pickle protocol 5
        return None
    at = 2
    if data[at] == 0x95:  # FRAME, followed by its 8-byte length  # noqa: PLR2004
        at += 9
    if at + 2 > len(data) or data[at] != 0x28:  # MARK  # noqa: PLR2004
        return None
    at += 1
    if data[at] == 0x8C:  # SHORT_BINUNICODE: 1-byte length  # noqa: PLR2004
        size, at = data[at + 1], at + 2
    elif data[at] == 0x58 and at + 5 <= len(data):  # BINUNICODE: 4-byte length  # noqa: PLR2004
        size, at = int.from_bytes(data[at + 1 : at + 5], "little"), at + 5
    else:
        return None
    if at + size > len(data):
        return None
    try:
        return bytes(data[at : at + size]).decode()
    except UnicodeDecodeError:
        return None

"""The wire protocol, without sockets or threads: bytes in, events out (in the manner of h11).

Byte layout
===========

Every frame, on TCP and TLS alike, is a 4-byte big-endian length followed by that many bytes::

    frame      := length:u32be payload[length]

Handshake (before it ends, every frame is at most ``PREAUTH_MAX`` = 1024 bytes and is parsed by
``struct``, never unpickled; a longer length prefix closes the connection at once)::

    HELLO      C->S  "GRPC" v:u8=1 type:u8=1 c1[32] tlen:u16 target[tlen] clen:u16 client[clen]
    CHALLENGE  S->C  "GRPC" v:u8=1 type:u8=2 status:u8 c2[32] proof_s[32] slen:u16 server[slen]
    PROOF      C->S  "GRPC" v:u8=1 type:u8=3 proof_c[32]
    RESULT     S->C  "GRPC" v:u8=1 type:u8=4 status:u8

    proof_s = HMAC-SHA256(cookie, "genrpc-server" c1 c2 target)
    proof_c = HMAC-SHA256(cookie, "genrpc-client" c2 c1 client)

``c1`` and ``c2`` are fresh random challenges; the cookie never crosses the wire and every proof
is compared in constant time. Both sides prove they know the cookie: the client checks ``proof_s``
before it sends ``proof_c`` (a server with a wrong cookie learns nothing), then the server checks
``proof_c``. Status: 0 ok, 1 ``badnode`` (the server is not ``target``), 2 ``invalid_cookie``,
3 ``node_certificate_mismatch`` (over TLS: the client's certificate does not name ``client``).
Node names are UTF-8, at most 255 bytes.

Messages (after the handshake; the body is a pickle, protocol 5, or a dill pickle when flag
``DILL`` is set, for what the C pickle cannot carry, such as lambdas)::

    message    := kind:u8 flags:u8 id:u64be body
    body       := pickle                                      flag BUFFERS clear
                | count:u32be size[count]:u64be pickle buffer[count]      flag BUFFERS set

With ``BUFFERS`` (0x02), large ``bytes``/``bytearray`` values (at least ``OUT_OF_BAND`` = 64 KiB,
among the arguments, the keyword arguments or the result, or one level inside them) travel
out of band (pickle protocol 5): the pickle refers to them, and they follow it as they are, so
the sender writes them from where they lie and the receiver unpickles them from the frame.
    CALL   1   body = (module, version, function, args, kwargs)   a reply follows, with the same id
    CAST   2   same body, no reply
    ABCAST 3   body = (name, message)                             no reply
    SBCAST 4   body = (name, message)                             SBCAST_REPLY follows
    REPLY  5   body = the return value
    ERROR  6   body = (reason, exception or None, traceback text, type name, message)
    SBCAST_REPLY 7  body = True (delivered) or False
"""

from __future__ import annotations

import hashlib
import hmac
import importlib
import io
import pickle
import struct
import sys
import types
from typing import Any, Final

__all__ = [
    "ABCAST",
    "BUFFERS",
    "CALL",
    "CAST",
    "DILL",
    "ERROR",
    "PREAUTH_MAX",
    "REPLY",
    "SBCAST",
    "SBCAST_REPLY",
    "Body",
    "ClientHandshake",
    "FrameDecoder",
    "FrameTooLarge",
    "HandshakeError",
    "Payload",
    "ServerHandshake",
    "decode_body",
    "encode_body",
    "frame",
    "has_large",
    "message",
    "message_parts",
    "parse_message",
]

PREAUTH_MAX: Final = 1024
MAX_NAME: Final = 255
CHALLENGE_SIZE: Final = 32
MAGIC: Final = b"GRPC"
VERSION: Final = 1
HELLO, CHALLENGE, PROOF, RESULT = 1, 2, 3, 4
OK, BADNODE, INVALID_COOKIE, CERT_MISMATCH = 0, 1, 2, 3
STATUS_REASONS: Final = {
    BADNODE: "badnode",
    INVALID_COOKIE: "invalid_cookie",
    CERT_MISMATCH: "node_certificate_mismatch",
}

CALL, CAST, ABCAST, SBCAST, REPLY, ERROR, SBCAST_REPLY = 1, 2, 3, 4, 5, 6, 7
DILL: Final = 0x01
BUFFERS: Final = 0x02
OUT_OF_BAND: Final = 64 * 1024  # bytes; smaller binaries are pickled in band
LARGE_FRAME: Final = 64 * 1024  # frames this large are received into a buffer of their own
SPARE_MAX: Final = 4 * 1024 * 1024  # the largest such buffer a connection keeps for the next

_LENGTH = struct.Struct(">I")
_HEADER = struct.Struct(">BBQ")
_PREFIX = struct.Struct(">4sBB")
_COUNT = struct.Struct(">I")
_SIZE = struct.Struct(">Q")

Body = bytes | list[bytes | memoryview]  # a body whole, or with its buffers out of band
Payload = bytes | bytearray | memoryview  # one frame's payload as received


class FrameTooLarge(Exception):  # noqa: N818 - an event of the protocol, raised to the driver
    """A length prefix above the current limit: the connection must be closed."""

    def __init__(self, size: int, limit: int) -> None:
        super().__init__(f"frame of {size} bytes over the limit of {limit}")
        self.size, self.limit = size, limit


class HandshakeError(Exception):
    """The handshake failed; ``reason`` is gen_rpc's word for it, ``reply`` is a last frame the
    server should send before closing (or ``b""``)."""

    def __init__(self, reason: str, reply: bytes = b"") -> None:
        super().__init__(reason)
        self.reason, self.reply = reason, reply


# -- framing ------------------------------------------------------------------------------------


def frame(payload: bytes) -> bytes:
    """One frame: the length prefix and the payload."""
    return _LENGTH.pack(len(payload)) + payload


class FrameDecoder:
    """Cuts a byte stream into frame payloads. ``limit`` can be raised once authenticated.

    A frame of at least ``LARGE_FRAME`` bytes that has not all arrived gets a buffer of its own,
    which the driver may receive into directly (``into`` and ``received``), so a large payload
    is copied once, by the kernel. That buffer (up to ``SPARE_MAX`` bytes) is used again for
    the next large frame once nothing refers to the payload any more: fresh memory costs a page
    fault per 4 KiB here, which is more than the copy."""

    __slots__ = ("_buffer", "_got", "_large", "_size", "_spare", "limit")

    def __init__(self, limit: int = PREAUTH_MAX) -> None:
        self._buffer = bytearray()
        self._large: bytearray | None = None  # the buffer of a large frame in progress
        self._size = 0  # that frame's size (the buffer may be longer)
        self._got = 0  # bytes of it received so far
        self._spare: bytearray | None = None  # the last large frame's buffer
        self.limit = limit

    def feed(self, data: bytes | bytearray | memoryview) -> list[Payload]:
        """Add received bytes; return every complete payload. Raises :class:`FrameTooLarge`."""
        frames: list[Payload] = []
        if self._large is not None:
            data = self._fill(data, frames)
            if not data:
                return frames
        buffer = self._buffer
        if buffer:  # a frame began in an earlier receive
            buffer += data
            source: bytes | bytearray | memoryview = buffer
        else:  # the usual case: cut frames from the received bytes where they lie
            source = data
        start = 0
        end = len(source)
        with memoryview(source) as view:
            while end - start >= 4:  # noqa: PLR2004 - the length prefix
                (size,) = _LENGTH.unpack_from(view, start)
                if size > self.limit:
                    raise FrameTooLarge(size, self.limit)
                if end - start - 4 < size:
                    if size >= LARGE_FRAME:  # the rest is received into its own buffer
                        large = self._start_large(size)
                        self._got = end - start - 4
                        large[: self._got] = view[start + 4 : end]
                        start = end
                    break
                frames.append(bytes(view[start + 4 : start + 4 + size]))
                start += 4 + size
            if source is not buffer and start < end:
                buffer += view[start:end]  # the beginning of a frame, for the next receive
        if source is buffer and start:
            del buffer[:start]
        return frames

    def _start_large(self, size: int) -> bytearray:
        spare = self._spare
        # three references: the attribute, this name and getrefcount's argument; a payload
        # still alive (or a view of it) adds one
        if spare is None or len(spare) < size or sys.getrefcount(spare) > 3:  # noqa: PLR2004
            spare = bytearray(size)
            self._spare = spare if size <= SPARE_MAX else None
        self._large, self._size = spare, size
        return spare

    def into(self) -> memoryview | None:
        """Where the rest of a large frame in progress may be received directly, if one is."""
        if self._large is None:
            return None
        return memoryview(self._large)[self._got : self._size]

    def received(self, count: int) -> list[Payload]:
        """``count`` bytes were received into what ``into`` gave; the frame, once complete."""
        large = self._large
        assert large is not None
        self._got += count
        if self._got < self._size:
            return []
        self._large = None
        return [large if len(large) == self._size else memoryview(large)[: self._size]]

    def _fill(
        self, data: bytes | bytearray | memoryview, frames: list[Payload]
    ) -> bytes | bytearray | memoryview:
        """Copy into the large frame in progress; returns what follows it."""
        large = self._large
        assert large is not None
        count = min(len(data), self._size - self._got)
        large[self._got : self._got + count] = memoryview(data)[:count]
        frames.extend(self.received(count))
        return memoryview(data)[count:]

    def wanted(self) -> int:
        """How many more bytes complete the frame in progress (at least 1)."""
        if self._large is not None:
            return self._size - self._got
        if len(self._buffer) < 4:  # noqa: PLR2004
            return 4 - len(self._buffer)
        (size,) = _LENGTH.unpack_from(self._buffer, 0)
        return max(1, 4 + int(size) - len(self._buffer))

    @property
    def buffered(self) -> int:
        return len(self._buffer) + (self._got if self._large is not None else 0)


# -- handshake ------------------------------------------------------------------------------------


def _name_bytes(name: str) -> bytes:
    data = name.encode()
    if not data or len(data) > MAX_NAME:
        raise ValueError(f"a node name must be 1 to 255 bytes of UTF-8, not {name!r}")
    return data


def _proof(cookie: bytes, label: bytes, *parts: bytes) -> bytes:
    return hmac.new(cookie, label + b"".join(parts), hashlib.sha256).digest()


def _read_name(payload: bytes, offset: int) -> tuple[str, int]:
    if len(payload) < offset + 2:
        raise HandshakeError("invalid_message")
    (size,) = struct.unpack_from(">H", payload, offset)
    raw = payload[offset + 2 : offset + 2 + size]
    if len(raw) != size or not 0 < size <= MAX_NAME:
        raise HandshakeError("invalid_message")
    try:
        return raw.decode(), offset + 2 + size
    except UnicodeDecodeError:
        raise HandshakeError("invalid_message") from None


def _check_prefix(payload: bytes, expected_type: int) -> None:
    if len(payload) < _PREFIX.size:
        raise HandshakeError("invalid_message")
    magic, version, kind = _PREFIX.unpack_from(payload)
    if magic != MAGIC or version != VERSION or kind != expected_type:
        raise HandshakeError("invalid_message")


class ClientHandshake:
    """The connecting side: ``start()`` gives HELLO; feed each received payload to ``receive``."""

    def __init__(self, cookie: bytes, client_name: str, target: str, challenge: bytes) -> None:
        if len(challenge) != CHALLENGE_SIZE:
            raise ValueError("challenge must be 32 random bytes")
        self._cookie, self._c1 = cookie, challenge
        self._client, self._target = _name_bytes(client_name), _name_bytes(target)
        self.state = "start"
        self.server_name = ""

    def start(self) -> bytes:
        self.state = "await_challenge"
        client, target = self._client, self._target
        payload = (
            _PREFIX.pack(MAGIC, VERSION, HELLO)
            + self._c1
            + struct.pack(">H", len(target))
            + target
            + struct.pack(">H", len(client))
            + client
        )
        return frame(payload)

    def receive(self, received: Payload) -> bytes:
        """Handle one payload; returns the frame to send next (``b""`` when done)."""
        payload = bytes(received)
        if self.state == "await_challenge":
            _check_prefix(payload, CHALLENGE)
            body = payload[_PREFIX.size :]
            if len(body) < 1 + 2 * CHALLENGE_SIZE:
                raise HandshakeError("invalid_message")
            status = body[0]
            if status != OK:
                raise HandshakeError(STATUS_REASONS.get(status, "invalid_message"))
            c2, proof_s = body[1:33], body[33:65]
            self.server_name, end = _read_name(body, 65)
            if end != len(body):
                raise HandshakeError("invalid_message")
            if self.server_name.encode() != self._target:
                raise HandshakeError("badnode")  # not the node we asked for, whatever it says
            expected = _proof(self._cookie, b"genrpc-server", self._c1, c2, self._target)
            if not hmac.compare_digest(proof_s, expected):
                raise HandshakeError("invalid_cookie")
            self.state = "await_result"
            proof_c = _proof(self._cookie, b"genrpc-client", c2, self._c1, self._client)
            return frame(_PREFIX.pack(MAGIC, VERSION, PROOF) + proof_c)
        if self.state == "await_result":
            _check_prefix(payload, RESULT)
            if len(payload) != _PREFIX.size + 1:
                raise HandshakeError("invalid_message")
            status = payload[_PREFIX.size]
            if status != OK:
                raise HandshakeError(STATUS_REASONS.get(status, "invalid_message"))
            self.state = "done"
            return b""
        raise HandshakeError("invalid_message")

    @property
    def done(self) -> bool:
        return self.state == "done"


class ServerHandshake:
    """The accepting side: feed each received payload to ``receive``; send what it returns."""

    def __init__(
        self,
        cookie: bytes,
        server_name: str,
        challenge: bytes,
        certified_names: set[str] | None = None,
    ) -> None:
        """``certified_names``: over TLS, the names the client's certificate carries; the client
        must claim one of them."""
        if len(challenge) != CHALLENGE_SIZE:
            raise ValueError("challenge must be 32 random bytes")
        self._certified = certified_names
        self._cookie, self._c2 = cookie, challenge
        self._server = _name_bytes(server_name)
        self._c1 = b""
        self.state = "await_hello"
        self.peer_name = ""

    def receive(self, received: Payload) -> bytes:
        """Handle one payload; returns the frame to send. Raises :class:`HandshakeError`
        (whose ``reply`` is to be sent before closing)."""
        payload = bytes(received)
        if self.state == "await_hello":
            _check_prefix(payload, HELLO)
            offset = _PREFIX.size
            self._c1 = payload[offset : offset + CHALLENGE_SIZE]
            if len(self._c1) != CHALLENGE_SIZE:
                raise HandshakeError("invalid_message")
            target, offset = _read_name(payload, offset + CHALLENGE_SIZE)
            self.peer_name, offset = _read_name(payload, offset)
            if offset != len(payload):
                raise HandshakeError("invalid_message")
            if target.encode() != self._server:
                raise HandshakeError("badnode", self._challenge(BADNODE, bytes(64)))
            if self._certified is not None and self.peer_name not in self._certified:
                reply = self._challenge(CERT_MISMATCH, bytes(64))
                raise HandshakeError("node_certificate_mismatch", reply)
            proof_s = _proof(self._cookie, b"genrpc-server", self._c1, self._c2, self._server)
            self.state = "await_proof"
            return self._challenge(OK, self._c2 + proof_s)
        if self.state == "await_proof":
            _check_prefix(payload, PROOF)
            proof_c = payload[_PREFIX.size :]
            if len(proof_c) != CHALLENGE_SIZE:
                raise HandshakeError("invalid_message")
            expected = _proof(
                self._cookie, b"genrpc-client", self._c2, self._c1, self.peer_name.encode()
            )
            if not hmac.compare_digest(proof_c, expected):
                raise HandshakeError("invalid_cookie", _result(INVALID_COOKIE))
            self.state = "done"
            return _result(OK)
        raise HandshakeError("invalid_message")

    def _challenge(self, status: int, secrets_: bytes) -> bytes:
        server = self._server
        head = _PREFIX.pack(MAGIC, VERSION, CHALLENGE) + bytes([status]) + secrets_
        return frame(head + struct.pack(">H", len(server)) + server)

    @property
    def done(self) -> bool:
        return self.state == "done"


def _result(status: int) -> bytes:
    return frame(_PREFIX.pack(MAGIC, VERSION, RESULT) + bytes([status]))


# -- messages ------------------------------------------------------------------------------------


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
            return pickle.dumps(value, protocol=5), 0
        wrapped = _out_of_band(value, depth)
        buffers: list[pickle.PickleBuffer] = []
        data = pickle.dumps(wrapped, protocol=5, buffer_callback=buffers.append)
    except (pickle.PicklingError, AttributeError, TypeError):
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

        class ModulesByName(dill.Pickler):  # type: ignore[misc]
            dispatch = dill.Pickler.dispatch.copy()

        ModulesByName.dispatch[types.ModuleType] = save_module
        _DILL_PICKLER = ModulesByName
    return _DILL_PICKLER


def decode_body(body: Body | memoryview | bytearray, flags: int) -> Any:
    """Unpickle a message body (only ever called after the handshake). ``ValueError`` if its
    out-of-band layout is broken."""
    if flags & DILL:
        import dill  # noqa: PLC0415

        return dill.loads(body)  # noqa: S301 - after the handshake only, as below
    if flags & BUFFERS:
        data, buffers = _split(body)
        return pickle.loads(data, buffers=buffers)  # noqa: S301 - as below
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
    header = _HEADER.pack(kind, flags, request_id)
    if isinstance(body, bytes):
        return _LENGTH.pack(len(header) + len(body)) + header + body
    size = len(header) + sum(len(part) if isinstance(part, bytes) else part.nbytes for part in body)
    return [_LENGTH.pack(size) + header + body[0], *body[1:]]


def parse_message(payload: Payload) -> tuple[int, int, int, memoryview]:
    """``(kind, flags, id, body)`` of one message payload; ``ValueError`` if too short."""
    if len(payload) < _HEADER.size:
        raise ValueError("message shorter than its header")
    kind, flags, request_id = _HEADER.unpack_from(payload)
    return kind, flags, request_id, memoryview(payload)[_HEADER.size :]

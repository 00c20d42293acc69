"""The handshake: two sans-IO state machines, one per end (see the package docstring).

Each is fed the payloads received and returns the frame to send next; neither touches a socket.
``genrpc_actors._transport`` drives both over a stream with one loop.
"""

from __future__ import annotations

import hashlib
import hmac
import struct
from typing import Final

from genrpc_actors._protocol._framing import Payload, frame

__all__ = [
    "BADNODE",
    "CERT_MISMATCH",
    "CHALLENGE",
    "CHALLENGE_SIZE",
    "HELLO",
    "INVALID_COOKIE",
    "MAGIC",
    "MAX_NAME",
    "OK",
    "PROOF",
    "RESULT",
    "STATUS_REASONS",
    "VERSION",
    "ClientHandshake",
    "HandshakeError",
    "ServerHandshake",
]

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


_PREFIX = struct.Struct(">4sBB")


class HandshakeError(Exception):
    """The handshake failed; ``reason`` is gen_rpc's word for it, ``reply`` is a last frame the
    server should send before closing (or ``b""``)."""

    def __init__(self, reason: str, reply: bytes = b"") -> None:
        super().__init__(reason)
        self.reason, self.reply = reason, reply


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

    def start(self) -> bytes:
        """Nothing to send: the client speaks first (HELLO)."""
        return b""

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

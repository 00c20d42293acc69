"""The handshake: two sans-IO state machines, one per end (see the package docstring).

Each is fed the payloads received and returns the frame to send next; neither touches a socket.
``genrpc_actors._transport`` drives both over a stream with one loop.
"""

from __future__ import annotations

import contextlib
import functools
import hashlib
import hmac
import struct
from typing import Final

from genrpc_actors._protocol._framing import Payload, frame

__all__ = [
    "BADNODE",
    "BAD_VERSION",
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
    "cookie_key",
]

MAX_NAME: Final = 255
CHALLENGE_SIZE: Final = 32
MAGIC: Final = b"GRPC"
VERSION: Final = 2
HELLO, CHALLENGE, PROOF, RESULT = 1, 2, 3, 4
OK, BADNODE, INVALID_COOKIE, CERT_MISMATCH, BAD_VERSION = 0, 1, 2, 3, 4
STATUS_REASONS: Final = {
    BADNODE: "badnode",
    INVALID_COOKIE: "invalid_cookie",
    CERT_MISMATCH: "node_certificate_mismatch",
    BAD_VERSION: "protocol_version",
}
# the key both proofs are made with: a guess at the cookie costs an scrypt (~16 MiB, ~40 ms)
KEY_SALT: Final = b"genrpc-actors handshake key v2"
KEY_COST: Final = {"n": 2**14, "r": 8, "p": 1, "maxmem": 64 * 1024 * 1024, "dklen": 32}


_PREFIX = struct.Struct(">4sBB")
_NO_PROOF = bytes(CHALLENGE_SIZE)


class HandshakeError(Exception):
    """The handshake failed; ``reason`` is gen_rpc's word for it, ``reply`` is a last frame the
    server should send before closing (or ``b""``)."""

    def __init__(self, reason: str, reply: bytes = b"") -> None:
        super().__init__(reason)
        self.reason, self.reply = reason, reply


@functools.lru_cache(maxsize=16)
def cookie_key(cookie: bytes) -> bytes:
    """The key a cookie proves itself with (derived once per cookie and process)."""
    return hashlib.scrypt(cookie, salt=KEY_SALT, **KEY_COST)


def _name_bytes(name: str) -> bytes:
    data = name.encode()
    if not data or len(data) > MAX_NAME:
        raise ValueError(f"a node name must be 1 to 255 bytes of UTF-8, not {name!r}")
    return data


def _proof(key: bytes, label: bytes, *parts: bytes) -> bytes:
    return hmac.new(key, label + b"".join(parts), hashlib.sha256).digest()


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
    if magic != MAGIC:
        raise HandshakeError("invalid_message")
    if version != VERSION:
        raise HandshakeError("protocol_version")
    if kind != expected_type:
        raise HandshakeError("invalid_message")


class ClientHandshake:
    """The connecting side: ``start()`` gives HELLO; feed each received payload to ``receive``."""

    def __init__(self, cookie: bytes, client_name: str, target: str, challenge: bytes) -> None:
        if len(challenge) != CHALLENGE_SIZE:
            raise ValueError("challenge must be 32 random bytes")
        self._key, self._c1 = cookie_key(cookie), challenge
        self._c2 = b""
        self._client, self._target = _name_bytes(client_name), _name_bytes(target)
        self.state = "start"
        self.server_name = ""

    def start(self) -> bytes:
        self.state = "await_challenge"
        client, target = self._client, self._target
        payload = (
            _PREFIX.pack(MAGIC, VERSION, HELLO)
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
            if len(body) < 1 + CHALLENGE_SIZE:
                raise HandshakeError("invalid_message")
            status = body[0]
            if status != OK:
                with contextlib.suppress(HandshakeError):  # who answered, if it said
                    self.server_name = _read_name(body, 1 + CHALLENGE_SIZE)[0]
                raise HandshakeError(STATUS_REASONS.get(status, "invalid_message"))
            self._c2 = body[1 : 1 + CHALLENGE_SIZE]
            self.server_name, end = _read_name(body, 1 + CHALLENGE_SIZE)
            if end != len(body):
                raise HandshakeError("invalid_message")
            if self.server_name.encode() != self._target:
                raise HandshakeError("badnode")  # not the node we asked for, whatever it says
            self.state = "await_result"
            proof_c = _proof(
                self._key, b"genrpc-client", self._c2, self._c1, self._client, self._target
            )
            return frame(_PREFIX.pack(MAGIC, VERSION, PROOF) + self._c1 + proof_c)
        if self.state == "await_result":
            _check_prefix(payload, RESULT)
            if len(payload) != _PREFIX.size + 1 + CHALLENGE_SIZE:
                raise HandshakeError("invalid_message")
            status = payload[_PREFIX.size]
            if status != OK:
                raise HandshakeError(STATUS_REASONS.get(status, "invalid_message"))
            proof_s = payload[_PREFIX.size + 1 :]
            expected = _proof(
                self._key, b"genrpc-server", self._c1, self._c2, self._target, self._client
            )
            if not hmac.compare_digest(proof_s, expected):
                raise HandshakeError("invalid_cookie")  # it took a proof it cannot make
            self.state = "done"
            return b""
        raise HandshakeError("invalid_message")

    @property
    def done(self) -> bool:
        return self.state == "done"


class ServerHandshake:
    """The accepting side: feed each received payload to ``receive``; send what it returns.
    It proves nothing before the client has proved it knows the cookie."""

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
        self._key, self._c2 = cookie_key(cookie), challenge
        self._server = _name_bytes(server_name)
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
            try:
                _check_prefix(payload, HELLO)
            except HandshakeError as exc:
                if exc.reason == "protocol_version":  # an older node: tell it, in its layout
                    raise HandshakeError(exc.reason, _old_refusal(payload)) from None
                raise
            target, offset = _read_name(payload, _PREFIX.size)
            self.peer_name, offset = _read_name(payload, offset)
            if offset != len(payload):
                raise HandshakeError("invalid_message")
            if target.encode() != self._server:
                raise HandshakeError("badnode", self._challenge(BADNODE, bytes(CHALLENGE_SIZE)))
            if self._certified is not None and self.peer_name not in self._certified:
                reply = self._challenge(CERT_MISMATCH, bytes(CHALLENGE_SIZE))
                raise HandshakeError("node_certificate_mismatch", reply)
            self.state = "await_proof"
            return self._challenge(OK, self._c2)
        if self.state == "await_proof":
            _check_prefix(payload, PROOF)
            body = payload[_PREFIX.size :]
            if len(body) != 2 * CHALLENGE_SIZE:
                raise HandshakeError("invalid_message")
            c1, proof_c = body[:CHALLENGE_SIZE], body[CHALLENGE_SIZE:]
            client = self.peer_name.encode()
            expected = _proof(self._key, b"genrpc-client", self._c2, c1, client, self._server)
            if not hmac.compare_digest(proof_c, expected):
                raise HandshakeError("invalid_cookie", _result(INVALID_COOKIE, _NO_PROOF))
            self.state = "done"
            proof_s = _proof(self._key, b"genrpc-server", c1, self._c2, self._server, client)
            return _result(OK, proof_s)
        raise HandshakeError("invalid_message")

    def _challenge(self, status: int, c2: bytes) -> bytes:
        server = self._server
        head = _PREFIX.pack(MAGIC, VERSION, CHALLENGE) + bytes([status]) + c2
        return frame(head + struct.pack(">H", len(server)) + server)

    @property
    def done(self) -> bool:
        return self.state == "done"


def _result(status: int, proof_s: bytes) -> bytes:
    return frame(_PREFIX.pack(MAGIC, VERSION, RESULT) + bytes([status]) + proof_s)


def _old_refusal(hello: bytes) -> bytes:
    """A CHALLENGE refusing a HELLO of another version, in that version's prefix, with the
    status ``BAD_VERSION`` (version 1 nodes read it as ``invalid_message`` and close at once)."""
    _, version, _ = _PREFIX.unpack_from(hello)
    return frame(_PREFIX.pack(MAGIC, version, CHALLENGE) + bytes([BAD_VERSION]) + bytes(64))

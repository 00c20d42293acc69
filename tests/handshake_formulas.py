"""The handshake as the docstring of ``genrpc_actors._protocol`` writes it (protocol version 2),
computed here with ``hashlib``, ``hmac`` and ``struct`` alone: nothing is imported from the
package, so the tests that compare its frames with these check the package against its
documentation, not against itself.

It also holds the offline search a peer without the cookie could run on what it saw of a
handshake (:func:`cookies_confirmed`): the tests show it picks the true cookie out of a version 1
transcript, or out of a completed version 2 one, and finds nothing in what a version 2 server
says to a peer that has not proved the cookie.
"""

from __future__ import annotations

import functools
import hashlib
import hmac
import struct
from collections.abc import Iterable

MAGIC = b"GRPC"
VERSION = 2
HELLO, CHALLENGE, PROOF, RESULT = 1, 2, 3, 4
OK, BADNODE, INVALID_COOKIE, CERT_MISMATCH, BAD_VERSION = 0, 1, 2, 3, 4
KEY_SALT = b"genrpc-actors handshake key v2"
ZEROS = bytes(32)  # a RESULT's proof_s unless its status is 0; a refusing CHALLENGE's c2


@functools.cache
def handshake_key(cookie: bytes) -> bytes:
    """key = scrypt(cookie, salt="genrpc-actors handshake key v2", n=2**14, r=8, p=1, dklen=32)"""
    return hashlib.scrypt(
        cookie, salt=KEY_SALT, n=2**14, r=8, p=1, dklen=32, maxmem=64 * 1024 * 1024
    )


def hmac_sha256(key: bytes, data: bytes) -> bytes:
    return hmac.new(key, data, hashlib.sha256).digest()


def proof_c(cookie: bytes, c2: bytes, c1: bytes, client: bytes, target: bytes) -> bytes:
    """proof_c = HMAC-SHA256(key, "genrpc-client" c2 c1 client target)"""
    return hmac_sha256(handshake_key(cookie), b"genrpc-client" + c2 + c1 + client + target)


def proof_s(cookie: bytes, c1: bytes, c2: bytes, server: bytes, client: bytes) -> bytes:
    """proof_s = HMAC-SHA256(key, "genrpc-server" c1 c2 server client)"""
    return hmac_sha256(handshake_key(cookie), b"genrpc-server" + c1 + c2 + server + client)


# -- frames --------------------------------------------------------------------------------------


def frame(payload: bytes) -> bytes:
    return struct.pack(">I", len(payload)) + payload


def prefix(kind: int, *, version: int = VERSION, magic: bytes = MAGIC) -> bytes:
    return magic + bytes([version, kind])


def name_field(name: bytes) -> bytes:
    return struct.pack(">H", len(name)) + name


def hello_payload(target: bytes, client: bytes, *, version: int = VERSION) -> bytes:
    """HELLO C->S: "GRPC" 2 1 tlen target clen client (no challenge)."""
    return prefix(HELLO, version=version) + name_field(target) + name_field(client)


def challenge_payload(status: int, c2: bytes, server: bytes) -> bytes:
    """CHALLENGE S->C: "GRPC" 2 2 status c2[32] slen server (no proof)."""
    return prefix(CHALLENGE) + bytes([status]) + c2 + name_field(server)


def proof_payload(c1: bytes, proof: bytes) -> bytes:
    """PROOF C->S: "GRPC" 2 3 c1[32] proof_c[32]."""
    return prefix(PROOF) + c1 + proof


def result_payload(status: int, proof: bytes = ZEROS) -> bytes:
    """RESULT S->C: "GRPC" 2 4 status proof_s[32] (zeros unless status 0)."""
    return prefix(RESULT) + bytes([status]) + proof


def version_refusal(version: int) -> bytes:
    """What a HELLO of another version gets: a CHALLENGE in that version's prefix, status 4,
    and 64 zero bytes."""
    return prefix(CHALLENGE, version=version) + bytes([BAD_VERSION]) + bytes(64)


def v1_hello_payload(c1: bytes, target: bytes, client: bytes) -> bytes:
    """A version 1 HELLO, as version 1 nodes send it: "GRPC" 1 1 c1[32] tlen target clen client."""
    return prefix(HELLO, version=1) + c1 + name_field(target) + name_field(client)


def v1_challenge_payload(cookie: bytes, c1: bytes, c2: bytes, server: bytes) -> bytes:
    """A version 1 CHALLENGE: status 0, c2, and the server's proof made before the client had
    proved anything, HMAC(cookie, "genrpc-server" c1 c2 server): the offline oracle version 2
    removed. Only the tests' control cases build it."""
    proof = hmac_sha256(cookie, b"genrpc-server" + c1 + c2 + server)
    return prefix(CHALLENGE, version=1) + b"\x00" + c2 + proof + name_field(server)


# -- the offline search --------------------------------------------------------------------------


def keyed_values(
    cookie: bytes, *, c1: bytes, c2: bytes, client: bytes, server: bytes
) -> set[bytes]:
    """Every 32-byte value a node holding ``cookie`` could have derived from it for this session
    by the documented formulas: both proofs of version 2 (scrypt key), both of version 1 (keyed by
    the cookie itself), and the version 2 messages keyed by the raw cookie, for good measure."""
    values = set()
    for key in (handshake_key(cookie), cookie):
        values |= {
            hmac_sha256(key, b"genrpc-server" + c1 + c2 + server + client),
            hmac_sha256(key, b"genrpc-client" + c2 + c1 + client + server),
            hmac_sha256(key, b"genrpc-server" + c1 + c2 + server),
            hmac_sha256(key, b"genrpc-client" + c2 + c1 + client),
        }
    return values


def cookies_confirmed(
    candidates: Iterable[bytes],
    received: bytes,
    *,
    c1: bytes,
    c2: bytes,
    client: bytes,
    server: bytes,
) -> set[bytes]:
    """The candidate cookies that what a peer ``received`` from a server confirms: those for which
    one of the keyed values of the session appears in it. An attacker with a transcript runs this
    over a dictionary at leisure; where it confirms nothing, every candidate is as consistent as
    every other and the transcript tells the true cookie from none of them."""
    return {
        cookie
        for cookie in candidates
        if any(
            value in received
            for value in keyed_values(cookie, c1=c1, c2=c2, client=client, server=server)
        )
    }

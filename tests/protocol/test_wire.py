"""The wire protocol in memory, in the manner of h11's tests: no sockets, no threads.

A ``ClientHandshake`` and a ``ServerHandshake`` are wired to each other through two
``FrameDecoder``s (:class:`Pair`); every byte that crosses is recorded, so tests can check what
an eavesdropper would see. The byte layout under test is the docstring of
``genrpc_actors._protocol`` (handshake version 2), written out in ``tests/handshake_formulas``
without importing the package: the frames and proofs are checked against it, not against
themselves. The properties that version 2 was made for (a peer without the cookie gets nothing
keyed to test guesses against) are in ``test_handshake_v2``.
"""

from __future__ import annotations

import contextlib
import functools
import hashlib
import itertools
import operator
import pickle
import struct
from typing import Any

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from genrpc_actors._protocol import (
    ABCAST,
    BUFFERS,
    CALL,
    CAST,
    DILL,
    ERROR,
    PREAUTH_MAX,
    REPLY,
    SBCAST,
    SBCAST_REPLY,
    ClientHandshake,
    FrameDecoder,
    FrameTooLarge,
    HandshakeError,
    ServerHandshake,
    decode_body,
    encode_body,
    frame,
    message,
    message_parts,
    parse_message,
)
from tests import handshake_formulas as f
from tests.handshake_formulas import (
    BADNODE,
    INVALID_COOKIE,
    MAGIC,
    OK,
    ZEROS,
    name_field,
    prefix,
)
from tests.handshake_formulas import CHALLENGE as CHALLENGE_T
from tests.handshake_formulas import HELLO as HELLO_T
from tests.handshake_formulas import PROOF as PROOF_T
from tests.handshake_formulas import RESULT as RESULT_T

COOKIE = b"the-shared-cookie-0123456789abcdef"
WRONG_COOKIE = b"not-the-cookie"
CLIENT = "alpha@127.0.0.1"
SERVER = "beta@127.0.0.1"
CLIENT_B, SERVER_B = CLIENT.encode(), SERVER.encode()
C1 = bytes(range(32))
C2 = bytes(range(100, 132))
HANDSHAKE_REASONS = {"invalid_message", "badnode", "invalid_cookie", "protocol_version"}


def hello_payload(target: bytes = SERVER_B, client: bytes = CLIENT_B) -> bytes:
    return f.hello_payload(target, client)


def only_payload(data: bytes, limit: int = PREAUTH_MAX) -> bytes:
    """The single payload of one frame."""
    (payload,) = FrameDecoder(limit).feed(data)
    return payload


# the genuine proofs of the session C1, C2 between CLIENT and SERVER, from the formulas
GOOD_PROOF_C = f.proof_c(COOKIE, C2, C1, CLIENT_B, SERVER_B)
GOOD_PROOF_S = f.proof_s(COOKIE, C1, C2, SERVER_B, CLIENT_B)
REFUSAL = f.result_payload(INVALID_COOKIE)  # RESULT 2 and 32 zero bytes: nothing keyed


# -- the in-memory pair -------------------------------------------------------------------------


class Pair:
    """A client and a server handshake connected back to back through two ``FrameDecoder``s.

    ``sent`` records every chunk of bytes that crossed, as ``(direction, bytes)``; ``received``
    the payloads each side was handed, keyed ``"client"``/``"server"``.
    """

    def __init__(
        self,
        *,
        client_cookie: bytes = COOKIE,
        server_cookie: bytes = COOKIE,
        client_name: str = CLIENT,
        target: str = SERVER,
        server_name: str = SERVER,
        c1: bytes = C1,
        c2: bytes = C2,
    ) -> None:
        self.client = ClientHandshake(client_cookie, client_name, target, c1)
        self.server = ServerHandshake(server_cookie, server_name, c2)
        self._to_server = FrameDecoder()
        self._to_client = FrameDecoder()
        self.sent: list[tuple[str, bytes]] = []
        self.received: dict[str, list[bytes]] = {"client": [], "server": []}

    def to_server(self, data: bytes) -> list[bytes]:
        self.sent.append(("c->s", data))
        payloads = self._to_server.feed(data)
        self.received["server"] += payloads
        return payloads

    def to_client(self, data: bytes) -> list[bytes]:
        self.sent.append(("s->c", data))
        payloads = self._to_client.feed(data)
        self.received["client"] += payloads
        return payloads

    @property
    def wire(self) -> bytes:
        """Everything an eavesdropper saw, both directions."""
        return b"".join(data for _, data in self.sent)

    @property
    def payloads(self) -> list[bytes]:
        """The payload of every frame that crossed, in order."""
        return [only_payload(data) for _, data in self.sent]

    def run(self) -> None:
        """Drive both sides until the client has nothing more to send, or one side raises.

        When the server raises, its ``reply`` is first delivered to the client, as a driver
        does; the client's own ``HandshakeError`` then propagates, else the server's.
        """
        outgoing = self.client.start()
        while outgoing:
            (payload,) = self.to_server(outgoing)
            try:
                answer = self.server.receive(payload)
            except HandshakeError as exc:
                if exc.reply:
                    for reply in self.to_client(exc.reply):
                        self.client.receive(reply)
                raise
            (payload,) = self.to_client(answer)
            outgoing = self.client.receive(payload)


def test_a_mutual_handshake_completes_on_both_sides():
    pair = Pair()
    pair.run()
    assert pair.client.done
    assert pair.server.done
    assert pair.client.server_name == SERVER
    assert pair.server.peer_name == CLIENT
    # HELLO, CHALLENGE, PROOF, RESULT and nothing else
    assert [direction for direction, _ in pair.sent] == ["c->s", "s->c", "c->s", "s->c"]


def test_the_handshake_follows_the_documented_layout():
    pair = Pair()
    pair.run()
    hello, challenge, proof, result = pair.payloads
    assert hello == hello_payload()  # no challenge in the HELLO any more
    assert challenge == f.challenge_payload(OK, C2, SERVER_B)  # no proof in the CHALLENGE
    assert proof == f.proof_payload(C1, GOOD_PROOF_C)  # c1 travels with the client's proof
    assert result == f.result_payload(OK, GOOD_PROOF_S)  # the server proves itself last
    assert len(hello) == 6 + 2 + len(SERVER_B) + 2 + len(CLIENT_B)
    assert len(challenge) == 6 + 1 + 32 + 2 + len(SERVER_B)
    assert (len(proof), len(result)) == (6 + 64, 6 + 1 + 32)
    assert all(data[4:9] == MAGIC + b"\x02" for _, data in pair.sent)  # version 2 throughout
    assert all(len(data) <= 4 + PREAUTH_MAX for _, data in pair.sent)


def test_the_proofs_are_keyed_by_the_scrypt_of_the_cookie_not_the_cookie():
    """The documented key, not the cookie itself: a proof made with the cookie as HMAC key (as
    version 1 did) differs, and so a guess costs an scrypt."""
    pair = Pair()
    pair.run()
    proof_c = pair.payloads[2][6 + 32 :]
    proof_s = pair.payloads[3][7:]
    raw = f.hmac_sha256(COOKIE, b"genrpc-client" + C2 + C1 + CLIENT_B + SERVER_B)
    assert proof_c != raw
    assert proof_s != f.hmac_sha256(COOKIE, b"genrpc-server" + C1 + C2 + SERVER_B + CLIENT_B)
    key = f.handshake_key(COOKIE)
    assert len(key) == 32
    assert key != hashlib.scrypt(COOKIE, salt=b"", n=2**14, r=8, p=1, dklen=32)  # salted
    assert proof_c == f.hmac_sha256(key, b"genrpc-client" + C2 + C1 + CLIENT_B + SERVER_B)


def test_handshake_states_progress():
    pair = Pair()
    assert (pair.client.state, pair.server.state) == ("start", "await_hello")
    assert pair.server.start() == b""  # the server never speaks first
    (hello,) = pair.to_server(pair.client.start())
    assert pair.client.state == "await_challenge"
    (challenge,) = pair.to_client(pair.server.receive(hello))
    assert pair.server.state == "await_proof"
    (proof,) = pair.to_server(pair.client.receive(challenge))
    assert pair.client.state == "await_result"
    assert not pair.client.done
    (result,) = pair.to_client(pair.server.receive(proof))
    assert pair.server.done
    assert not pair.client.done
    assert pair.client.receive(result) == b""
    assert pair.client.done


def _wrong_server_cookie() -> Pair:
    return Pair(server_cookie=WRONG_COOKIE)


def _wrong_client_cookie() -> Pair:
    return Pair(client_cookie=WRONG_COOKIE)


def _wrong_target() -> Pair:
    return Pair(target="gamma@127.0.0.1")


@pytest.mark.parametrize(
    "make_pair", [Pair, _wrong_server_cookie, _wrong_client_cookie, _wrong_target]
)
def test_the_cookie_never_crosses_the_wire(make_pair):
    """Neither the cookie nor the key derived from it: only HMACs made with the key."""
    pair = make_pair()
    with contextlib.suppress(HandshakeError):
        pair.run()
    assert pair.sent
    for secret in (COOKIE, WRONG_COOKIE):
        for value in (secret, f.handshake_key(secret)):
            for _, data in pair.sent:
                assert value not in data
                assert value.hex().encode() not in data
            assert value not in pair.wire


@pytest.mark.parametrize("make_pair", [_wrong_server_cookie, _wrong_client_cookie])
def test_a_wrong_cookie_is_detected_by_the_server_from_the_proof(make_pair):
    """Whichever side holds the wrong cookie, the server finds out first, from proof_c, and
    answers a refusal that holds nothing keyed; the CHALLENGE before it held nothing keyed
    either (it is the same whatever the cookies)."""
    pair = make_pair()
    (hello,) = pair.to_server(pair.client.start())
    (challenge,) = pair.to_client(pair.server.receive(hello))
    assert challenge == f.challenge_payload(OK, C2, SERVER_B)
    (proof,) = pair.to_server(pair.client.receive(challenge))
    with pytest.raises(HandshakeError) as info:
        pair.server.receive(proof)
    assert info.value.reason == "invalid_cookie"
    assert str(info.value) == "invalid_cookie"
    assert only_payload(info.value.reply) == REFUSAL  # status 2, a zero proof
    assert not pair.server.done
    (refusal,) = pair.to_client(info.value.reply)
    with pytest.raises(HandshakeError) as client_info:
        pair.client.receive(refusal)
    assert client_info.value.reason == "invalid_cookie"
    assert not pair.client.done


@pytest.mark.parametrize("make_pair", [_wrong_server_cookie, _wrong_client_cookie])
def test_a_wrong_cookie_fails_the_whole_run_on_both_sides(make_pair):
    pair = make_pair()
    with pytest.raises(HandshakeError) as info:
        pair.run()
    assert info.value.reason == "invalid_cookie"
    assert [direction for direction, _ in pair.sent] == ["c->s", "s->c", "c->s", "s->c"]
    assert pair.payloads[-1] == REFUSAL
    assert not pair.server.done
    assert not pair.client.done


def test_a_wrong_target_is_badnode_on_both_sides():
    pair = _wrong_target()
    (hello,) = pair.to_server(pair.client.start())
    with pytest.raises(HandshakeError) as info:
        pair.server.receive(hello)
    assert info.value.reason == "badnode"
    assert info.value.reply, "the server must tell the client why it closes"
    # status 1, no challenge (zeros), the server's name: nothing keyed, nothing random
    assert only_payload(info.value.reply) == f.challenge_payload(BADNODE, ZEROS, SERVER_B)
    assert not pair.server.done
    (reply,) = pair.to_client(info.value.reply)
    with pytest.raises(HandshakeError) as client_info:
        pair.client.receive(reply)
    assert client_info.value.reason == "badnode"
    assert not pair.client.done
    assert pair.received["server"] == [hello]  # no PROOF was sent


def test_a_wrong_target_fails_the_whole_run_with_badnode():
    pair = _wrong_target()
    with pytest.raises(HandshakeError) as info:
        pair.run()
    assert info.value.reason == "badnode"
    assert [direction for direction, _ in pair.sent] == ["c->s", "s->c"]


def test_the_client_refuses_a_challenge_that_names_another_node():
    """And does not prove anything to it: it raises before making its PROOF."""
    client = ClientHandshake(COOKIE, CLIENT, SERVER, C1)
    client.start()
    impostor = f.challenge_payload(OK, C2, b"gamma@127.0.0.1")
    with pytest.raises(HandshakeError) as info:
        client.receive(impostor)
    assert info.value.reason == "badnode"
    assert not client.done
    assert client.state == "await_challenge"


# -- replayed and forged proofs -----------------------------------------------------------------


def test_a_replayed_proof_fails_against_a_fresh_server_challenge():
    first = Pair()
    first.run()
    recorded_hello, _, recorded_proof, _ = (data for _, data in first.sent)

    server = ServerHandshake(COOKIE, SERVER, bytes(reversed(C2)))  # a fresh c2
    server.receive(only_payload(recorded_hello))  # the same HELLO, replayed by an attacker
    with pytest.raises(HandshakeError) as info:
        server.receive(only_payload(recorded_proof))  # the same c1 and proof_c
    assert info.value.reason == "invalid_cookie"
    assert only_payload(info.value.reply) == REFUSAL
    assert not server.done


def _client_proof(key: bytes, *parts: bytes) -> bytes:
    return f.hmac_sha256(key, b"genrpc-client" + b"".join(parts))


def _forged_proofs() -> dict[str, bytes]:
    """PROOF bodies (c1 proof_c) that are not the genuine one for C1, C2, CLIENT and SERVER."""
    key = f.handshake_key(COOKIE)
    flipped = bytes([GOOD_PROOF_C[0] ^ 1]) + GOOD_PROOF_C[1:]
    return {
        "zeros": C1 + bytes(32),
        "ones": C1 + b"\xff" * 32,
        "flipped": C1 + flipped,
        "reflected": C1 + GOOD_PROOF_S,  # the server's own proof, sent back to it
        "other_client": C1 + _client_proof(key, C2, C1, b"evil@127.0.0.1", SERVER_B),
        "other_target": C1 + _client_proof(key, C2, C1, CLIENT_B, b"gamma@127.0.0.1"),
        "names_swapped": C1 + _client_proof(key, C2, C1, SERVER_B, CLIENT_B),
        "challenges_swapped": C1 + _client_proof(key, C1, C2, CLIENT_B, SERVER_B),
        "another_c1": bytes(32) + GOOD_PROOF_C,  # the proof binds the c1 sent with it
        "proof_over_another_c1": C1 + _client_proof(key, C2, bytes(32), CLIENT_B, SERVER_B),
        "wrong_key": C1 + f.proof_c(b"guess", C2, C1, CLIENT_B, SERVER_B),
        "raw_cookie_as_key": C1 + _client_proof(COOKIE, C2, C1, CLIENT_B, SERVER_B),
        "version_1_formula": C1 + _client_proof(COOKIE, C2, C1, CLIENT_B),
        "unsalted_scrypt": C1
        + _client_proof(
            hashlib.scrypt(COOKIE, salt=b"", n=2**14, r=8, p=1, dklen=32),
            C2,
            C1,
            CLIENT_B,
            SERVER_B,
        ),
    }


FORGED_PROOFS = _forged_proofs()


@pytest.mark.parametrize("body", list(FORGED_PROOFS.values()), ids=list(FORGED_PROOFS))
def test_a_forged_proof_fails(body):
    server = ServerHandshake(COOKIE, SERVER, C2)
    server.receive(hello_payload())
    with pytest.raises(HandshakeError) as info:
        server.receive(prefix(PROOF_T) + body)
    assert info.value.reason == "invalid_cookie"
    assert only_payload(info.value.reply) == REFUSAL  # the same refusal for every forgery
    assert not server.done


def _recorded_result(**changes: Any) -> bytes:
    """The RESULT of a genuine session that differs from (C1, C2, CLIENT, SERVER) by ``changes``."""
    pair = Pair(**changes)
    pair.run()
    return pair.payloads[3]


@pytest.mark.parametrize(
    "changes",
    [{"c1": bytes(32)}, {"c2": bytes(32)}, {"client_name": "evil@127.0.0.1"}],
    ids=["another_c1", "another_c2", "another_client"],
)
def test_the_client_refuses_a_server_proof_bound_to_another_session(changes):
    """A RESULT recorded from a genuine session that differs by one field does not satisfy
    this client: proof_s binds both challenges and both names."""
    recorded = _recorded_result(**changes)
    assert recorded[6] == OK
    client = _client_awaiting_result()
    with pytest.raises(HandshakeError) as info:
        client.receive(recorded)
    assert info.value.reason == "invalid_cookie"
    assert not client.done


def test_the_client_refuses_a_server_proof_for_another_server():
    """The same challenges and client, another server (one the client could have been sent to
    and that knows the cookie): its proof does not do for the one this client asked for."""
    other = "gamma@127.0.0.1"
    recorded = _recorded_result(target=other, server_name=other)
    client = _client_awaiting_result()
    with pytest.raises(HandshakeError) as info:
        client.receive(recorded)
    assert info.value.reason == "invalid_cookie"


def _client_awaiting_result() -> ClientHandshake:
    """A client that has sent HELLO and PROOF to SERVER and waits for its RESULT."""
    client = ClientHandshake(COOKIE, CLIENT, SERVER, C1)
    client.start()
    client.receive(f.challenge_payload(OK, C2, SERVER_B))
    return client


def _server_proof(key: bytes, *parts: bytes) -> bytes:
    return f.hmac_sha256(key, b"genrpc-server" + b"".join(parts))


def _forged_server_proofs() -> dict[str, bytes]:
    """proof_s values a server that does not hold the cookie (or cheats) could answer with,
    status 0: a server that accepts a bad proof must not be believed."""
    key = f.handshake_key(COOKIE)
    return {
        "zeros": ZEROS,
        "flipped": bytes([GOOD_PROOF_S[0] ^ 0x80]) + GOOD_PROOF_S[1:],
        "the_clients_own_proof": GOOD_PROOF_C,  # reflected
        "wrong_key": f.proof_s(WRONG_COOKIE, C1, C2, SERVER_B, CLIENT_B),
        "raw_cookie_as_key": _server_proof(COOKIE, C1, C2, SERVER_B, CLIENT_B),
        "version_1_formula": _server_proof(COOKIE, C1, C2, SERVER_B),
        "names_swapped": _server_proof(key, C1, C2, CLIENT_B, SERVER_B),
        "challenges_swapped": _server_proof(key, C2, C1, SERVER_B, CLIENT_B),
    }


FORGED_SERVER_PROOFS = _forged_server_proofs()


@pytest.mark.parametrize(
    "proof_s", list(FORGED_SERVER_PROOFS.values()), ids=list(FORGED_SERVER_PROOFS)
)
def test_the_client_refuses_a_result_ok_without_the_servers_proof(proof_s):
    client = _client_awaiting_result()
    with pytest.raises(HandshakeError) as info:
        client.receive(f.result_payload(OK, proof_s))
    assert info.value.reason == "invalid_cookie"
    assert not client.done


def test_a_server_with_another_cookie_that_accepts_anyway_is_refused_by_the_client():
    """A server that does not hold the cookie and says OK all the same, with the proof it can
    make: the client refuses it at the RESULT."""
    pair = _wrong_server_cookie()
    (hello,) = pair.to_server(pair.client.start())
    (challenge,) = pair.to_client(pair.server.receive(hello))
    (proof,) = pair.to_server(pair.client.receive(challenge))
    c1 = proof[6:38]
    lie = f.result_payload(OK, f.proof_s(WRONG_COOKIE, c1, C2, SERVER_B, CLIENT_B))
    with pytest.raises(HandshakeError) as info:
        pair.client.receive(lie)
    assert info.value.reason == "invalid_cookie"
    assert not pair.client.done


def test_the_client_detects_a_result_that_says_invalid_cookie():
    pair = Pair()
    (hello,) = pair.to_server(pair.client.start())
    (challenge,) = pair.to_client(pair.server.receive(hello))
    pair.client.receive(challenge)
    with pytest.raises(HandshakeError) as info:
        pair.client.receive(REFUSAL)
    assert info.value.reason == "invalid_cookie"
    assert not pair.client.done


def _proofs(c1: bytes, c2: bytes) -> tuple[bytes, bytes]:
    pair = Pair(c1=c1, c2=c2)
    pair.run()
    _, _, proof, result = pair.payloads
    return result[7:], proof[6 + 32 :]


def test_fresh_challenges_give_different_proofs():
    proof_s, proof_c = _proofs(C1, C2)
    assert (proof_s, proof_c) == (GOOD_PROOF_S, GOOD_PROOF_C)
    assert _proofs(C1, C2) == (proof_s, proof_c)  # same challenges, same proofs
    other_c1 = _proofs(bytes(32), C2)
    other_c2 = _proofs(C1, bytes(32))
    assert other_c1[0] != proof_s
    assert other_c1[1] != proof_c
    assert other_c2[0] != proof_s
    assert other_c2[1] != proof_c
    assert len({proof_s, proof_c, *other_c1, *other_c2}) == 6


@pytest.mark.parametrize("size", [0, 31, 33, 64])
def test_challenges_must_be_32_bytes(size):
    with pytest.raises(ValueError):
        ClientHandshake(COOKIE, CLIENT, SERVER, bytes(size))
    with pytest.raises(ValueError):
        ServerHandshake(COOKIE, SERVER, bytes(size))


@pytest.mark.parametrize("name", ["", "x" * 256, "é" * 128])
def test_node_names_are_1_to_255_bytes_of_utf8(name):
    with pytest.raises(ValueError):
        ClientHandshake(COOKIE, name, SERVER, C1)
    with pytest.raises(ValueError):
        ClientHandshake(COOKIE, CLIENT, name, C1)
    with pytest.raises(ValueError):
        ServerHandshake(COOKIE, name, C2)


LONGEST_NAME = "n@" + "h" * 253  # 255 bytes


@pytest.mark.parametrize(
    ("client_name", "server_name"), [(LONGEST_NAME, SERVER), (CLIENT, LONGEST_NAME)]
)
def test_a_255_byte_name_is_accepted(client_name, server_name):
    pair = Pair(client_name=client_name, target=server_name, server_name=server_name)
    pair.run()
    assert pair.client.done
    assert pair.server.peer_name == client_name
    assert pair.client.server_name == server_name


def test_two_255_byte_names_fit_in_a_hello():
    pair = Pair(client_name=LONGEST_NAME, target=LONGEST_NAME, server_name=LONGEST_NAME)
    pair.run()
    assert pair.client.done
    assert pair.server.done
    assert all(len(data) <= 4 + PREAUTH_MAX for _, data in pair.sent)


# -- malformed frames ---------------------------------------------------------------------------

LONG_NAME = b"n@" + b"h" * 254  # 256 bytes: one more than a node name may have

_BAD_HELLOS = [
    pytest.param(b"", id="empty"),
    pytest.param(MAGIC + b"\x02", id="short_prefix"),
    pytest.param(b"GRPX" + hello_payload()[4:], id="wrong_magic"),
    pytest.param(b"grpc" + hello_payload()[4:], id="lowercase_magic"),
    pytest.param(prefix(PROOF_T) + hello_payload()[6:], id="type_proof"),
    pytest.param(prefix(CHALLENGE_T) + hello_payload()[6:], id="type_challenge"),
    pytest.param(prefix(RESULT_T) + hello_payload()[6:], id="type_result"),
    pytest.param(prefix(0) + hello_payload()[6:], id="type_0"),
    pytest.param(prefix(HELLO_T), id="no_names"),
    pytest.param(prefix(HELLO_T) + b"\x00", id="half_target_length"),
    pytest.param(prefix(HELLO_T) + b"\x00\x10beta", id="truncated_target"),
    pytest.param(hello_payload(target=b""), id="empty_target"),
    pytest.param(prefix(HELLO_T) + name_field(SERVER_B), id="no_client_name"),
    pytest.param(hello_payload()[:-3], id="truncated_client_name"),
    pytest.param(hello_payload(client=b""), id="empty_client_name"),
    pytest.param(hello_payload() + b"\x00", id="one_extra_byte"),
    pytest.param(hello_payload() + name_field(b"x@y"), id="extra_name"),
    pytest.param(hello_payload(target=b"b\xff@h"), id="target_not_utf8"),
    pytest.param(hello_payload(client=b"a\xc3@h"), id="client_not_utf8"),
    pytest.param(hello_payload(client=b"\xed\xa0\x80@h"), id="client_surrogate"),
    pytest.param(hello_payload(client=LONG_NAME), id="client_name_over_255_bytes"),
    pytest.param(hello_payload(target=LONG_NAME), id="target_over_255_bytes"),
    # version 1's c1 where version 2 has its names
    pytest.param(prefix(HELLO_T) + C1 + hello_payload()[6:], id="version_1_layout"),
]


@pytest.mark.parametrize("payload", _BAD_HELLOS)
def test_a_malformed_hello_is_invalid_message(payload):
    server = ServerHandshake(COOKIE, SERVER, C2)
    with pytest.raises(HandshakeError) as info:
        server.receive(payload)
    assert info.value.reason == "invalid_message"
    assert info.value.reply == b""  # nothing said to a stranger that cannot even say HELLO
    assert not server.done


def _after_hello() -> ServerHandshake:
    server = ServerHandshake(COOKIE, SERVER, C2)
    server.receive(hello_payload())
    return server


_BAD_PROOFS = [
    pytest.param(b"", id="empty"),
    pytest.param(b"GRPX\x02\x03" + C1 + GOOD_PROOF_C, id="wrong_magic"),
    pytest.param(prefix(HELLO_T) + C1 + GOOD_PROOF_C, id="type_hello"),
    pytest.param(hello_payload(), id="hello_again"),
    pytest.param(f.result_payload(OK, GOOD_PROOF_S), id="type_result"),
    pytest.param(prefix(PROOF_T) + C1 + GOOD_PROOF_C[:31], id="truncated_proof"),
    pytest.param(prefix(PROOF_T) + C1 + GOOD_PROOF_C + b"\x00", id="extra_byte"),
    pytest.param(prefix(PROOF_T) + C1, id="no_proof"),
    pytest.param(prefix(PROOF_T) + GOOD_PROOF_C, id="no_c1"),  # version 1's PROOF body
    pytest.param(prefix(PROOF_T), id="empty_body"),
]


@pytest.mark.parametrize("payload", _BAD_PROOFS)
def test_a_malformed_proof_is_invalid_message(payload):
    server = _after_hello()
    with pytest.raises(HandshakeError) as info:
        server.receive(payload)
    assert info.value.reason == "invalid_message"
    assert not server.done


@pytest.mark.parametrize("version", [1, 3, 255])
def test_a_proof_of_another_version_is_protocol_version(version):
    server = _after_hello()
    with pytest.raises(HandshakeError) as info:
        server.receive(prefix(PROOF_T, version=version) + C1 + GOOD_PROOF_C)
    assert info.value.reason == "protocol_version"
    assert info.value.reply == b""  # only a HELLO is answered with a version refusal
    assert not server.done


def test_the_genuine_proof_passes_after_hello():
    # the fixtures of the malformed-proof cases are right: the unmodified proof is accepted
    server = _after_hello()
    answer = only_payload(server.receive(f.proof_payload(C1, GOOD_PROOF_C)))
    assert answer == f.result_payload(OK, GOOD_PROOF_S)
    assert server.done


def _challenge_payload(
    status: int = OK, name: bytes = SERVER_B, *, c2: bytes = C2, version: int = f.VERSION
) -> bytes:
    payload = f.challenge_payload(status, c2, name)
    return prefix(CHALLENGE_T, version=version) + payload[6:]


def _waiting_client() -> ClientHandshake:
    client = ClientHandshake(COOKIE, CLIENT, SERVER, C1)
    client.start()
    return client


_BAD_CHALLENGES = [
    pytest.param(b"", id="empty"),
    pytest.param(b"GRPX" + _challenge_payload()[4:], id="wrong_magic"),
    pytest.param(prefix(HELLO_T) + _challenge_payload()[6:], id="type_hello"),
    pytest.param(REFUSAL[:6] + b"\x00" + GOOD_PROOF_S, id="type_result"),
    pytest.param(prefix(CHALLENGE_T) + b"\x00", id="status_only"),
    pytest.param(_challenge_payload()[: 6 + 1 + 20], id="truncated_c2"),
    pytest.param(_challenge_payload()[: 6 + 1 + 32], id="no_server_name"),
    pytest.param(_challenge_payload()[: 6 + 1 + 32 + 1], id="half_name_length"),
    pytest.param(_challenge_payload()[:-2], id="truncated_server_name"),
    pytest.param(_challenge_payload(name=b""), id="empty_server_name"),
    pytest.param(_challenge_payload(name=b"beta\xff@h"), id="server_name_not_utf8"),
    pytest.param(_challenge_payload(status=9), id="unknown_status"),
    pytest.param(_challenge_payload() + b"\x00", id="one_extra_byte"),
    pytest.param(_challenge_payload(name=LONG_NAME), id="server_name_over_255_bytes"),
    # version 1's proof_s between c2 and the name (here zeros: a name length of 0)
    pytest.param(
        prefix(CHALLENGE_T) + b"\x00" + C2 + ZEROS + name_field(SERVER_B), id="version_1_layout"
    ),
]


@pytest.mark.parametrize("payload", _BAD_CHALLENGES)
def test_a_malformed_challenge_is_invalid_message(payload):
    client = _waiting_client()
    with pytest.raises(HandshakeError) as info:
        client.receive(payload)
    assert info.value.reason == "invalid_message"
    assert not client.done


def test_the_genuine_challenge_passes():
    client = _waiting_client()
    assert only_payload(client.receive(_challenge_payload())) == f.proof_payload(C1, GOOD_PROOF_C)


def _waiting_for_result() -> ClientHandshake:
    client = _waiting_client()
    client.receive(_challenge_payload())
    return client


@pytest.mark.parametrize(
    "payload",
    [
        pytest.param(b"", id="empty"),
        pytest.param(prefix(RESULT_T), id="no_status"),
        pytest.param(prefix(RESULT_T) + b"\x00", id="no_proof"),  # version 1's RESULT
        pytest.param(prefix(RESULT_T) + b"\x00" + GOOD_PROOF_S[:31], id="truncated_proof"),
        pytest.param(prefix(RESULT_T) + b"\x00" + GOOD_PROOF_S + b"\x00", id="extra_byte"),
        pytest.param(prefix(RESULT_T) + b"\x07" + ZEROS, id="unknown_status"),
        pytest.param(b"GRPX\x02\x04\x00" + GOOD_PROOF_S, id="wrong_magic"),
        pytest.param(prefix(CHALLENGE_T) + b"\x00" + GOOD_PROOF_S, id="type_challenge"),
        pytest.param(_challenge_payload(), id="challenge_again"),
    ],
)
def test_a_malformed_result_is_invalid_message(payload):
    client = _waiting_for_result()
    with pytest.raises(HandshakeError) as info:
        client.receive(payload)
    assert info.value.reason == "invalid_message"
    assert not client.done


def test_the_genuine_result_passes():
    client = _waiting_for_result()
    assert client.receive(f.result_payload(OK, GOOD_PROOF_S)) == b""
    assert client.done


def test_the_client_refuses_frames_before_start_and_after_done():
    client = ClientHandshake(COOKIE, CLIENT, SERVER, C1)
    with pytest.raises(HandshakeError) as info:
        client.receive(_challenge_payload())
    assert info.value.reason == "invalid_message"

    pair = Pair()
    pair.run()
    with pytest.raises(HandshakeError) as info:
        pair.client.receive(f.result_payload(OK, GOOD_PROOF_S))
    assert info.value.reason == "invalid_message"
    assert pair.client.done


def test_the_server_refuses_frames_after_done():
    pair = Pair()
    pair.run()
    for payload in (hello_payload(), f.proof_payload(C1, GOOD_PROOF_C), b""):
        with pytest.raises(HandshakeError) as info:
            pair.server.receive(payload)
        assert info.value.reason == "invalid_message"
    assert pair.server.done


# -- framing ------------------------------------------------------------------------------------


def test_the_default_limit_is_preauth_max():
    assert PREAUTH_MAX == 1024  # two 255-byte names must fit in a HELLO (552 bytes)
    assert FrameDecoder().limit == PREAUTH_MAX


@pytest.mark.parametrize("size", [PREAUTH_MAX + 1, 2 * PREAUTH_MAX, 2**31, 2**32 - 1])
def test_a_length_prefix_over_the_limit_raises_as_soon_as_it_is_seen(size):
    decoder = FrameDecoder()
    with pytest.raises(FrameTooLarge) as info:
        decoder.feed(struct.pack(">I", size))  # no payload sent at all
    assert (info.value.size, info.value.limit) == (size, PREAUTH_MAX)


def test_a_length_prefix_over_the_limit_raises_on_its_fourth_byte():
    decoder = FrameDecoder()
    head = struct.pack(">I", PREAUTH_MAX + 1)
    for byte in head[:3]:
        assert decoder.feed(bytes([byte])) == []
    with pytest.raises(FrameTooLarge):
        decoder.feed(head[3:])


def test_a_length_prefix_over_the_limit_raises_after_good_frames():
    decoder = FrameDecoder()
    with pytest.raises(FrameTooLarge):
        decoder.feed(frame(b"ok") + struct.pack(">I", 10_000))


def test_a_frame_of_exactly_the_limit_passes():
    decoder = FrameDecoder()
    assert decoder.feed(struct.pack(">I", PREAUTH_MAX)) == []
    assert decoder.wanted() == PREAUTH_MAX
    assert decoder.feed(b"x" * PREAUTH_MAX) == [b"x" * PREAUTH_MAX]
    assert decoder.buffered == 0


def test_the_limit_can_be_raised_once_authenticated():
    decoder = FrameDecoder()
    decoder.limit = 1 << 20
    payload = bytes(range(256)) * 40
    assert decoder.feed(frame(payload)) == [payload]


def test_frame_layout():
    assert frame(b"") == b"\0\0\0\0"
    assert frame(b"abc") == b"\0\0\0\x03abc"
    assert FrameDecoder().feed(frame(b"")) == [b""]


STREAM_PAYLOADS = [b"first", b"", b"\x00\x01\x02", b"GRPC" * 5, b"z"]
STREAM = b"".join(frame(p) for p in STREAM_PAYLOADS)


@pytest.mark.parametrize("cut", range(len(STREAM) + 1))
def test_frames_split_at_any_byte_reassemble(cut):
    decoder = FrameDecoder()
    got = decoder.feed(STREAM[:cut]) + decoder.feed(STREAM[cut:])
    assert got == STREAM_PAYLOADS
    assert decoder.buffered == 0


def test_frames_split_at_every_pair_of_bytes_reassemble():
    for first in range(len(STREAM) + 1):
        for second in range(first, len(STREAM) + 1):
            decoder = FrameDecoder()
            got = decoder.feed(STREAM[:first])
            got += decoder.feed(STREAM[first:second])
            got += decoder.feed(STREAM[second:])
            assert got == STREAM_PAYLOADS, (first, second)


def test_frames_fed_byte_by_byte_reassemble_and_wanted_is_exact():
    decoder = FrameDecoder()
    got: list[bytes] = []
    position = 0
    while position < len(STREAM):
        wanted = decoder.wanted()
        assert wanted >= 1
        chunk = STREAM[position : position + wanted]
        position += len(chunk)
        got += decoder.feed(chunk)
    assert got == STREAM_PAYLOADS
    assert decoder.buffered == 0

    decoder = FrameDecoder()
    got = [p for i in range(len(STREAM)) for p in decoder.feed(STREAM[i : i + 1])]
    assert got == STREAM_PAYLOADS


# -- messages -----------------------------------------------------------------------------------

BIG = 1 << 28  # a limit for the decoder after the handshake (max_frame_size's default)


def _round_trip(kind: int, request_id: int, value: Any) -> tuple[int, int, int, Any]:
    body, flags = encode_body(value)
    data = message(kind, flags, request_id, body)
    (payload,) = FrameDecoder(BIG).feed(data)
    got_kind, got_flags, got_id, got_body = parse_message(payload)
    assert got_flags == flags
    assert bytes(got_body) == (body if isinstance(body, bytes) else b"".join(body))
    return got_kind, got_flags, got_id, decode_body(got_body, got_flags)


@pytest.mark.parametrize(
    ("kind", "value"),
    [
        (CALL, ("operator", None, "add", (2, 3), {})),
        (CALL, (("pkg.mod", "1.0"), "1.0", "f", [1, "two", 3.0], {"k": b"v"})),
        (CAST, ("os", None, "getpid", (), None)),
        (ABCAST, ("cache", {"put": (1, 2)})),
        (SBCAST, ("cache", ["msg"])),
        (REPLY, None),
        (REPLY, {"nested": [1, (2, {3})], "text": "é✓"}),
        (ERROR, ("EXIT", ValueError("boom"), "Traceback ...", "ValueError", "boom")),
        (SBCAST_REPLY, True),
        (SBCAST_REPLY, False),
    ],
)
def test_messages_round_trip(kind, value):
    got_kind, flags, request_id, got = _round_trip(kind, 42, value)
    assert (got_kind, request_id, flags) == (kind, 42, 0)
    if isinstance(value, tuple) and isinstance(value[1], BaseException):
        assert got[0] == value[0]
        assert type(got[1]) is ValueError
        assert got[1].args == ("boom",)
        assert got[2:] == value[2:]
    else:
        assert got == value


@pytest.mark.parametrize("request_id", [0, 1, 2**32, 2**64 - 1])
def test_request_ids_use_64_bits(request_id):
    _, _, got_id, _ = _round_trip(REPLY, request_id, "x")
    assert got_id == request_id


def test_message_layout():
    data = message(CALL, DILL, 0x0102030405060708, b"body")
    assert data == b"\0\0\0\x0e" + b"\x01\x01" + bytes(range(1, 9)) + b"body"


def test_message_layout_in_parts():
    """With buffers out of band, the length prefix counts them too; they are the caller's own
    objects, after the head (prefix, header and the first part in one ``bytes``)."""
    buffer = memoryview(b"y" * 100)
    parts = message_parts(CALL, BUFFERS, 0x0102030405060708, [b"head", b"pickle", buffer])
    assert isinstance(parts, list)
    assert parts[0] == b"\0\0\0\x78" + b"\x01\x02" + bytes(range(1, 9)) + b"head"
    assert parts[1] == b"pickle"
    assert parts[2] is buffer


def _adder(n: int) -> Any:
    return lambda x: x + n


def test_a_lambda_is_carried_by_dill():
    body, flags = encode_body(lambda x: x * 2)
    assert flags == DILL
    got_kind, got_flags, got_id, fn = _round_trip(CALL, 7, lambda x: x * 2)
    assert (got_kind, got_flags, got_id) == (CALL, DILL, 7)
    assert fn(21) == 42
    closure = _round_trip(CALL, 8, _adder(5))[3]
    assert closure(1) == 6
    assert decode_body(body, flags)(4) == 8


def test_what_pickle_carries_is_not_flagged_dill():
    _, flags = encode_body(functools.partial(operator.add, 2))
    assert flags == 0
    assert _round_trip(CALL, 1, functools.partial(operator.add, 2))[3](3) == 5


def test_large_bytes_round_trip():
    value = bytes(range(256)) * (8 * 1024 * 4)  # 8 MiB
    got = _round_trip(REPLY, 3, value)[3]
    assert got == value


def test_a_large_message_in_many_chunks():
    value = b"\xab" * (3 * 1024 * 1024 + 7)
    body, flags = encode_body(value)
    data = message(REPLY, flags, 9, body)
    decoder = FrameDecoder(BIG)
    payloads: list[bytes] = []
    step = 65_536 + 3
    for start in range(0, len(data), step):
        payloads += decoder.feed(data[start : start + step])
    (payload,) = payloads
    assert decode_body(parse_message(payload)[3], flags) == value


@pytest.mark.parametrize("size", range(10))
def test_parse_message_rejects_a_payload_shorter_than_its_header(size):
    with pytest.raises(ValueError):
        parse_message(b"\x01" * size)


def test_parse_message_accepts_an_empty_body():
    kind, flags, request_id, body = parse_message(bytes([REPLY, 0]) + (5).to_bytes(8, "big"))
    assert (kind, flags, request_id, bytes(body)) == (REPLY, 0, 5, b"")


# -- property tests -----------------------------------------------------------------------------

PROPERTIES = settings(
    derandomize=True,
    database=None,
    deadline=None,
    max_examples=300,
    suppress_health_check=[
        HealthCheck.too_slow,
        HealthCheck.data_too_large,
        HealthCheck.function_scoped_fixture,  # the canary fixture checks once per test
    ],
)


@PROPERTIES
@given(payloads=st.lists(st.binary(max_size=700), max_size=12), data=st.data())
def test_any_payloads_in_any_chunks_decode_to_the_same_list(payloads, data):
    stream = b"".join(frame(p) for p in payloads)
    cuts = sorted(data.draw(st.lists(st.integers(0, len(stream)), max_size=25)))
    decoder = FrameDecoder(limit=700)
    got: list[bytes] = []
    previous = 0
    for cut in [*cuts, len(stream)]:
        got += decoder.feed(stream[previous:cut])
        previous = cut
    assert got == payloads
    assert decoder.buffered == 0


UNPICKLED = False


def _canary_fired() -> None:
    global UNPICKLED  # noqa: PLW0603 - the canary's only way to report
    UNPICKLED = True


class Canary:
    """Unpickling it sets ``UNPICKLED``."""

    def __reduce__(self) -> tuple[Any, ...]:
        return (_canary_fired, ())


CANARY = pickle.dumps(Canary(), protocol=5)


@pytest.fixture
def canary():
    """Resets the canary around a test and checks it never fired."""
    global UNPICKLED  # noqa: PLW0603
    UNPICKLED = False
    yield
    assert not UNPICKLED, "something received before authentication was unpickled"


def test_the_canary_works():
    global UNPICKLED  # noqa: PLW0603
    UNPICKLED = False
    pickle.loads(CANARY)
    assert UNPICKLED
    UNPICKLED = False


def _valid_challenge_frame() -> bytes:
    return ServerHandshake(COOKIE, SERVER, C2).receive(hello_payload())


_PIECES = st.one_of(
    st.binary(max_size=40),
    st.sampled_from(
        [
            MAGIC,
            prefix(HELLO_T),
            prefix(CHALLENGE_T),
            prefix(PROOF_T),
            prefix(RESULT_T),
            prefix(HELLO_T, version=1),
            CANARY,
            frame(CANARY),
            frame(bytes([CALL, 0]) + bytes(8) + CANARY),  # a message, before authentication
            frame(bytes([REPLY, DILL]) + bytes(8) + CANARY),
            frame(prefix(PROOF_T) + CANARY),
            frame(prefix(HELLO_T) + CANARY),
            frame(hello_payload()),
            frame(hello_payload(target=b"gamma@h")),
            frame(f.v1_hello_payload(C1, SERVER_B, CLIENT_B)),
            frame(f.proof_payload(C1, GOOD_PROOF_C[::-1])),
            frame(f.proof_payload(C1, GOOD_PROOF_S)),  # reflected
            _valid_challenge_frame(),
            frame(f.result_payload(OK, GOOD_PROOF_S[::-1])),
            frame(f.result_payload(OK, GOOD_PROOF_C)),  # reflected
            frame(REFUSAL),
            frame(_challenge_payload(status=BADNODE)),
            frame(f.version_refusal(1)),
        ]
    ),
    st.builds(frame, st.binary(max_size=80)),
    st.builds(lambda p: frame(prefix(HELLO_T) + p), st.binary(max_size=80)),
    st.builds(lambda p: frame(prefix(CHALLENGE_T) + p), st.binary(max_size=120)),
    st.builds(lambda p: frame(prefix(PROOF_T) + p), st.binary(min_size=62, max_size=66)),
    st.builds(lambda p: frame(prefix(RESULT_T) + p), st.binary(min_size=31, max_size=35)),
    st.builds(lambda n: struct.pack(">I", n), st.integers(0, 2**32 - 1)),
)
GARBAGE = st.lists(_PIECES, max_size=8).map(b"".join)


def _chunks(data: st.DataObject, garbage: bytes) -> list[bytes]:
    cuts = sorted(data.draw(st.lists(st.integers(0, len(garbage)), max_size=6)))
    edges = [0, *cuts, len(garbage)]
    return [garbage[a:b] for a, b in itertools.pairwise(edges)]


def _is_a_fixed_refusal(reply: bytes) -> bool:
    """Whether ``reply`` is one of the server's last frames, none of which holds anything keyed
    or random: badnode, the cookie refusal, a version refusal (in a version other than 2)."""
    if reply in (frame(f.challenge_payload(BADNODE, ZEROS, SERVER_B)), frame(REFUSAL)):
        return True
    (payload,) = FrameDecoder().feed(reply)
    version = payload[4] if len(payload) > 4 else f.VERSION
    return version != f.VERSION and payload == f.version_refusal(version)


def _check_protocol_error(exc: Exception | None) -> None:
    """``None`` (the garbage ran out first) or one of the two protocol errors, well formed."""
    if isinstance(exc, FrameTooLarge):
        assert exc.size > exc.limit == PREAUTH_MAX
    elif isinstance(exc, HandshakeError):
        assert exc.reason in HANDSHAKE_REASONS
        assert isinstance(exc.reply, bytes)
        if exc.reply:  # a last frame for the peer (the server's): small and fixed
            assert _is_a_fixed_refusal(exc.reply), exc.reply
    else:
        assert exc is None


def _feed_garbage(side: ClientHandshake | ServerHandshake, chunks: list[bytes]) -> Exception | None:
    """Feed the chunks through a pre-authentication decoder to ``side``, as a driver does;
    return the protocol error that ends it (any other exception propagates and fails the test)."""
    decoder = FrameDecoder()
    try:
        for chunk in chunks:
            for payload in decoder.feed(chunk):
                answer = side.receive(payload)
                assert len(answer) <= 4 + PREAUTH_MAX
    except (FrameTooLarge, HandshakeError) as exc:
        return exc
    return None


@pytest.mark.usefixtures("canary")
@PROPERTIES
@given(opened=st.booleans(), garbage=GARBAGE, data=st.data())
def test_garbage_to_the_server_only_raises_protocol_errors(opened, garbage, data):
    """Garbage from the start, or after a genuine HELLO (in place of the proof)."""
    server = ServerHandshake(COOKIE, SERVER, C2)
    if opened:
        garbage = frame(hello_payload()) + garbage
    _check_protocol_error(_feed_garbage(server, _chunks(data, garbage)))
    assert not UNPICKLED
    assert not server.done, "garbage never knows the cookie"


@pytest.mark.usefixtures("canary")
@PROPERTIES
@given(opened=st.booleans(), garbage=GARBAGE, data=st.data())
def test_garbage_to_the_client_only_raises_protocol_errors(opened, garbage, data):
    """Garbage from the start, or after a genuine CHALLENGE (in place of the result)."""
    client = ClientHandshake(COOKIE, CLIENT, SERVER, C1)
    client.start()
    if opened:
        garbage = _valid_challenge_frame() + garbage
    _check_protocol_error(_feed_garbage(client, _chunks(data, garbage)))
    assert not UNPICKLED
    assert not client.done, "garbage never knows the cookie"


@pytest.mark.usefixtures("canary")
@PROPERTIES
@given(garbage=st.binary(max_size=600))
def test_raw_garbage_frames_to_either_side_only_raise_handshake_errors(garbage):
    """Any payload at all (not only those a decoder lets through) as the first frame."""
    server = ServerHandshake(COOKIE, SERVER, C2)
    client = ClientHandshake(COOKIE, CLIENT, SERVER, C1)
    client.start()
    for side in (server, client):
        error = None
        try:
            side.receive(garbage + CANARY)
        except HandshakeError as exc:
            error = exc
        _check_protocol_error(error)
    assert not UNPICKLED
    assert not server.done

"""What handshake version 2 was made for, in memory (the real-socket side is in
``tests/node/test_hardening.py``).

Version 1's server answered a HELLO with its proof, an HMAC keyed by the cookie, before the client
had proved anything: whoever could connect took a transcript home and tested cookie guesses
against it offline. Version 2's server says nothing that depends on the cookie until the client
has proved it knows it; the proofs are keyed by an scrypt of the cookie; and a peer of another
version is told so in its own prefix. The formulas and layouts are those of the package's
docstring, written out in ``tests/handshake_formulas`` without importing the package.
"""

from __future__ import annotations

import itertools

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from genrpc_actors._protocol import (
    ClientHandshake,
    FrameDecoder,
    FrameTooLarge,
    HandshakeError,
    ServerHandshake,
)
from tests import handshake_formulas as f
from tests.handshake_formulas import BADNODE, INVALID_COOKIE, OK, ZEROS, frame

COOKIE = b"the-shared-cookie-0123456789abcdef"
CLIENT, SERVER = "alpha@127.0.0.1", "beta@127.0.0.1"
CLIENT_B, SERVER_B = CLIENT.encode(), SERVER.encode()
C1 = bytes(range(32))
C2 = bytes(range(100, 132))
# a dictionary an attacker might try: the true cookie is among the candidates
CANDIDATES = [
    COOKIE,
    b"not-the-cookie",
    b"the-shared-cookie-0123456789abcdeF",
    b"x" * 16,
    bytes(range(200, 240)),
]
GUESS = b"guess"  # what the stranger below proves with; not a candidate
REFUSAL = frame(f.result_payload(INVALID_COOKIE))
PROPERTIES = settings(
    derandomize=True,
    database=None,
    deadline=None,
    suppress_health_check=[HealthCheck.too_slow, HealthCheck.data_too_large],
)


def only_payload(data: bytes) -> bytes:
    (payload,) = FrameDecoder().feed(data)
    return payload


def outcome(server: ServerHandshake, payload: bytes) -> tuple[str, bytes]:
    """What the server does with one payload: ``("answer", frame)`` or ``(reason, reply)``."""
    try:
        return "answer", server.receive(payload)
    except HandshakeError as exc:
        return exc.reason, exc.reply


# -- nothing keyed before the client's proof -----------------------------------------------------

HELLOS = {
    "a genuine HELLO": (
        f.hello_payload(SERVER_B, CLIENT_B),
        ("answer", frame(f.challenge_payload(OK, C2, SERVER_B))),
    ),
    "a HELLO for another node": (
        f.hello_payload(b"gamma@127.0.0.1", CLIENT_B),
        ("badnode", frame(f.challenge_payload(BADNODE, ZEROS, SERVER_B))),
    ),
    "a HELLO with a 255-byte client name": (
        f.hello_payload(SERVER_B, b"n@" + b"h" * 253),
        ("answer", frame(f.challenge_payload(OK, C2, SERVER_B))),
    ),
    "a version 1 HELLO": (
        f.v1_hello_payload(C1, SERVER_B, CLIENT_B),
        ("protocol_version", frame(f.version_refusal(1))),
    ),
}


@pytest.mark.parametrize(("hello", "expected"), list(HELLOS.values()), ids=list(HELLOS))
def test_servers_with_different_cookies_answer_a_hello_with_the_same_bytes(hello, expected):
    """Same c2, different cookies: byte-identical answers, and each the documented frame, built
    here from c2 and the server's name alone. Apart from c2 the answer is a function of the
    server's name: there is nothing in it to test a guess against."""
    outcomes = {outcome(ServerHandshake(cookie, SERVER, C2), hello) for cookie in CANDIDATES}
    assert outcomes == {expected}


def _stranger_transcript(server_cookie: bytes = COOKIE) -> tuple[bytes, bytes, bytes]:
    """A peer that proves with a guess: the c1 it sent, its proof_c, and everything the server
    sent it (the CHALLENGE and the refusal, as frames)."""
    client = ClientHandshake(GUESS, CLIENT, SERVER, C1)
    server = ServerHandshake(server_cookie, SERVER, C2)
    challenge = server.receive(only_payload(client.start()))
    proof = client.receive(only_payload(challenge))
    reason, refusal = outcome(server, only_payload(proof))
    assert reason == "invalid_cookie"
    assert not server.done
    return C1, only_payload(proof)[6 + 32 :], challenge + refusal


def test_a_wrong_proof_gets_the_same_refusal_whatever_the_cookie_and_the_proof():
    proofs = [f.proof_payload(C1, ZEROS), f.proof_payload(ZEROS, b"\xff" * 32)]
    proofs += [f.proof_payload(C1, f.proof_c(GUESS, C2, C1, CLIENT_B, SERVER_B))]
    refusals = set()
    for cookie in CANDIDATES:
        for proof in proofs:
            server = ServerHandshake(cookie, SERVER, C2)
            server.receive(f.hello_payload(SERVER_B, CLIENT_B))
            refusals.add(outcome(server, proof))
            assert not server.done
    assert refusals == {("invalid_cookie", REFUSAL)}


def test_an_offline_search_of_a_strangers_transcript_confirms_no_cookie():
    """The search that picks the cookie out of a version 1 CHALLENGE (below) finds nothing in what
    a version 2 server sent a peer that proved with a wrong guess: the true cookie is as
    (in)consistent with the transcript as every wrong candidate."""
    c1, _, received = _stranger_transcript()
    assert received == frame(f.challenge_payload(OK, C2, SERVER_B)) + REFUSAL
    session = {"c1": c1, "c2": C2, "client": CLIENT_B, "server": SERVER_B}
    assert f.cookies_confirmed(CANDIDATES, received, **session) == set()
    # and from the CHALLENGE alone, whatever c1 the stranger would then have chosen
    for chosen in (C1, ZEROS, b"\xff" * 32):
        challenge = received[: -len(REFUSAL)]
        assert f.cookies_confirmed(CANDIDATES, challenge, **(session | {"c1": chosen})) == set()


def test_every_candidate_is_equally_consistent_with_a_strangers_transcript():
    """Consistent: a server holding that cookie, given the same c2, would have sent exactly the
    same bytes. Every candidate is; the only cookie the exchange rules out is the guess the
    stranger proved with, one guess per connection, online."""
    _, _, received = _stranger_transcript()
    for candidate in CANDIDATES:
        assert _stranger_transcript(candidate)[2] == received
    client = ClientHandshake(GUESS, CLIENT, SERVER, C1)
    server = ServerHandshake(GUESS, SERVER, C2)  # a server holding the guess would have let it in
    proof = client.receive(only_payload(server.receive(only_payload(client.start()))))
    assert only_payload(server.receive(only_payload(proof)))[6] == OK
    assert server.done


def test_the_offline_search_does_find_the_cookie_in_a_version_1_challenge():
    """The control for the test above: the search works. Version 1's CHALLENGE carried
    HMAC(cookie, "genrpc-server" c1 c2 server) for any c1 the stranger chose; the search picks
    the true cookie out of it, and out of nothing else."""
    challenge = frame(f.v1_challenge_payload(COOKIE, C1, C2, SERVER_B))
    found = f.cookies_confirmed(
        CANDIDATES, challenge, c1=C1, c2=C2, client=CLIENT_B, server=SERVER_B
    )
    assert found == {COOKIE}


def test_the_offline_search_finds_the_cookie_only_where_a_proof_was_earned():
    """In a completed version 2 handshake (a genuine client's, eavesdropped) the server's RESULT
    carries proof_s, and the search confirms the true cookie: the server sends a keyed value
    only to a peer that has just proved the cookie itself."""
    client = ClientHandshake(COOKIE, CLIENT, SERVER, C1)
    server = ServerHandshake(COOKIE, SERVER, C2)
    challenge = server.receive(only_payload(client.start()))
    result = server.receive(only_payload(client.receive(only_payload(challenge))))
    assert server.done
    session = {"c1": C1, "c2": C2, "client": CLIENT_B, "server": SERVER_B}
    assert f.cookies_confirmed(CANDIDATES, challenge, **session) == set()
    assert f.cookies_confirmed(CANDIDATES, challenge + result, **session) == {COOKIE}


def _stranger_pieces() -> st.SearchStrategy[bytes]:
    guessed = f.proof_c(GUESS, C2, C1, CLIENT_B, SERVER_B)
    return st.one_of(
        st.sampled_from(
            [
                frame(f.hello_payload(SERVER_B, CLIENT_B)),
                frame(f.hello_payload(b"gamma@h", CLIENT_B)),
                frame(f.v1_hello_payload(C1, SERVER_B, CLIENT_B)),
                frame(f.proof_payload(C1, guessed)),
                frame(f.proof_payload(C1, ZEROS)),
                frame(f.prefix(f.PROOF) + C1),
                frame(b""),
            ]
        ),
        st.builds(
            lambda p: frame(f.proof_payload(p[:32], p[32:])), st.binary(min_size=64, max_size=64)
        ),
        st.builds(lambda p: frame(f.prefix(f.HELLO) + p), st.binary(max_size=60)),
        st.builds(frame, st.binary(max_size=80)),
        st.binary(max_size=20),
    )


def _run(cookie: bytes, chunks: list[bytes]) -> tuple[list[bytes], str | None, bytes]:
    """Everything a server holding ``cookie`` answers to ``chunks``, and how it ends."""
    server = ServerHandshake(cookie, SERVER, C2)
    decoder = FrameDecoder()
    answers: list[bytes] = []
    try:
        for chunk in chunks:
            answers.extend(server.receive(payload) for payload in decoder.feed(chunk))
    except HandshakeError as exc:
        return answers, exc.reason, exc.reply
    except FrameTooLarge:
        return answers, "frame_too_large", b""
    finally:
        assert not server.done, "a stranger never knows the cookie"
    return answers, None, b""


@PROPERTIES
@given(
    pieces=st.lists(_stranger_pieces(), max_size=6), cuts=st.lists(st.integers(0, 600), max_size=4)
)
def test_whatever_a_stranger_sends_servers_with_different_cookies_answer_alike(pieces, cuts):
    """HELLOs, guessed proofs, random proofs, noise, cut anywhere: servers holding different
    cookies (the same c2) answer with the same bytes and end the same way."""
    data = b"".join(pieces)
    edges = sorted({0, len(data), *(min(cut, len(data)) for cut in cuts)})
    chunks = [data[a:b] for a, b in itertools.pairwise(edges)]
    runs = [_run(cookie, chunks) for cookie in (COOKIE, b"not-the-cookie", b"x" * 16)]
    assert runs[0] == runs[1] == runs[2]


# -- the proofs follow the documented formulas ----------------------------------------------------

NAMES = st.text(alphabet="abcdefghé@.0123456789", min_size=1, max_size=40).filter(
    lambda name: len(name.encode()) <= 255
)


@settings(PROPERTIES, max_examples=12)  # each new cookie costs two scrypts (~100 ms)
@given(
    cookie=st.binary(min_size=1, max_size=64),
    client_name=NAMES,
    server_name=NAMES,
    c1=st.binary(min_size=32, max_size=32),
    c2=st.binary(min_size=32, max_size=32),
)
def test_every_frame_and_proof_follows_the_documented_formulas(
    cookie, client_name, server_name, c1, c2
):
    client_b, server_b = client_name.encode(), server_name.encode()
    client = ClientHandshake(cookie, client_name, server_name, c1)
    server = ServerHandshake(cookie, server_name, c2)
    hello = client.start()
    challenge = server.receive(only_payload(hello))
    proof = client.receive(only_payload(challenge))
    result = server.receive(only_payload(proof))
    assert client.receive(only_payload(result)) == b""
    assert client.done
    assert server.done
    assert hello == frame(f.hello_payload(server_b, client_b))
    assert challenge == frame(f.challenge_payload(OK, c2, server_b))
    assert proof == frame(f.proof_payload(c1, f.proof_c(cookie, c2, c1, client_b, server_b)))
    assert result == frame(f.result_payload(OK, f.proof_s(cookie, c1, c2, server_b, client_b)))


# -- another version -----------------------------------------------------------------------------


def _hello_of_version(version: int) -> bytes:
    if version == 1:
        return f.v1_hello_payload(C1, SERVER_B, CLIENT_B)
    return f.hello_payload(SERVER_B, CLIENT_B, version=version)


@pytest.mark.parametrize("version", [0, 1, 3, 255])
def test_a_hello_of_another_version_is_refused_in_that_versions_prefix(version):
    server = ServerHandshake(COOKIE, SERVER, C2)
    with pytest.raises(HandshakeError) as info:
        server.receive(_hello_of_version(version))
    assert info.value.reason == "protocol_version"
    assert info.value.reply == frame(f.version_refusal(version))  # status 4, 64 zero bytes
    assert only_payload(info.value.reply)[4] == version
    assert not server.done
    assert not server.peer_name  # nothing of it was taken in


def test_a_version_refusal_depends_on_nothing_but_the_version():
    """Not on the cookie, not on the c1 or the names of a version 1 HELLO."""
    hellos = [
        f.v1_hello_payload(C1, SERVER_B, CLIENT_B),
        f.v1_hello_payload(ZEROS, b"gamma@h", b"c@h"),
        f.prefix(f.HELLO, version=1),  # a bare version 1 head: refused for its version first
    ]
    outcomes = {
        outcome(ServerHandshake(cookie, SERVER, challenge), hello)
        for cookie in CANDIDATES
        for challenge in (C2, ZEROS)
        for hello in hellos
    }
    assert outcomes == {("protocol_version", frame(f.version_refusal(1)))}


def test_a_hello_of_another_version_with_a_wrong_magic_is_only_invalid():
    server = ServerHandshake(COOKIE, SERVER, C2)
    with pytest.raises(HandshakeError) as info:
        server.receive(b"GRPX" + _hello_of_version(1)[4:])
    assert (info.value.reason, info.value.reply) == ("invalid_message", b"")


REFUSED_CHALLENGES = {
    "a version 1 refusal": f.version_refusal(1),
    "a version 3 refusal": f.version_refusal(3),
    "a version 2 CHALLENGE with status 4": f.prefix(f.CHALLENGE) + b"\x04" + bytes(64),
    "a genuine version 1 CHALLENGE": f.v1_challenge_payload(COOKIE, C1, C2, SERVER_B),
    "a version 1 CHALLENGE in the version 2 layout": f.prefix(f.CHALLENGE, version=1)
    + f.challenge_payload(OK, C2, SERVER_B)[6:],
}


@pytest.mark.parametrize("payload", list(REFUSED_CHALLENGES.values()), ids=list(REFUSED_CHALLENGES))
def test_a_client_answered_in_another_version_gives_up_with_protocol_version(payload):
    client = ClientHandshake(COOKIE, CLIENT, SERVER, C1)
    client.start()
    with pytest.raises(HandshakeError) as info:
        client.receive(payload)
    assert info.value.reason == "protocol_version"
    assert not client.done
    assert client.state == "await_challenge"  # and it made no PROOF


@pytest.mark.parametrize(
    "payload",
    [
        f.prefix(f.RESULT, version=1) + b"\x00" + f.proof_s(COOKIE, C1, C2, SERVER_B, CLIENT_B),
        f.prefix(f.RESULT, version=1) + b"\x00",  # version 1's RESULT
        f.result_payload(4),
    ],
    ids=["version 1 prefix", "version 1 RESULT", "status 4"],
)
def test_a_result_in_another_version_is_protocol_version(payload):
    client = ClientHandshake(COOKIE, CLIENT, SERVER, C1)
    client.start()
    client.receive(f.challenge_payload(OK, C2, SERVER_B))
    with pytest.raises(HandshakeError) as info:
        client.receive(payload)
    assert info.value.reason == "protocol_version"
    assert not client.done

"""The wire protocol, without sockets or threads: bytes in, events out (in the manner of h11).

``_framing`` cuts the stream into frames, ``_handshake`` holds the two ends' state machines,
``_messages`` encodes and decodes what follows; this package re-exports them as one namespace.

Byte layout
===========

Every frame, on TCP and TLS alike, is a 4-byte big-endian length followed by that many bytes::

    frame      := length:u32be payload[length]

Handshake (before it ends, every frame is at most ``PREAUTH_MAX`` = 1024 bytes and is parsed by
``struct``, never unpickled; a longer length prefix closes the connection at once)::

    HELLO      C->S  "GRPC" v:u8=2 type:u8=1 tlen:u16 target[tlen] clen:u16 client[clen]
    CHALLENGE  S->C  "GRPC" v:u8=2 type:u8=2 status:u8 c2[32] slen:u16 server[slen]
    PROOF      C->S  "GRPC" v:u8=2 type:u8=3 c1[32] proof_c[32]
    RESULT     S->C  "GRPC" v:u8=2 type:u8=4 status:u8 proof_s[32]     (zeros unless status 0)

    key     = scrypt(cookie, salt="genrpc-actors handshake key v2", n=2**14, r=8, p=1, dklen=32)
    proof_c = HMAC-SHA256(key, "genrpc-client" c2 c1 client target)
    proof_s = HMAC-SHA256(key, "genrpc-server" c1 c2 server client)

``c1`` and ``c2`` are fresh random challenges; the cookie never crosses the wire and every proof
is compared in constant time. The side that accepted the connection proves nothing before the
connecting side has proved it knows the cookie (Erlang's distribution handshake is ordered so):
whoever can connect learns only ``c2``, nothing to test guesses against. The server checks
``proof_c``, then sends ``proof_s``, which the client checks in turn. A node the client reaches
by mistake sees ``proof_c``: a guess against it costs an scrypt of the guess (~16 MiB, ~40 ms),
not a hash; a cookie of 16 random bytes or more is beyond guessing either way. Status: 0 ok,
1 ``badnode`` (the server is not ``target``), 2 ``invalid_cookie``, 3
``node_certificate_mismatch`` (over TLS: the client's certificate does not name ``client``),
4 ``protocol_version``: a HELLO of another version is answered with a CHALLENGE in that
version's prefix with status 4, and closed (a version 1 node reads it as ``invalid_message``).
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
    CANCEL 8   body empty: the caller of request ``id`` has stopped waiting; the server drops
               it if it has not started, kills the process worker running it, and else
               sends no reply (a thread cannot be stopped)
    PING   9   body = the client's bound in ASCII digits (seconds of silence after which it is
               down): sent once the connection is up, and whenever the client has heard
               nothing for a while; PONG follows at once, from the server's reading (a node
               that is frozen or cut off cannot answer). A server closes a connection whose
               client has said nothing for a second past that bound. An empty body names none
    PONG   10  body empty, the id of the PING
    ASK    11  body = (name, message): the actor registered as ``name`` is asked ``message`` (in
               its own thread, as Pykka's ask); REPLY or ERROR follows (``noproc``: no live
               actor has the name). With flag PROBE (0x04), only whether one has: REPLY True/False.
               With flag SPAWN (0x08), body = (class, args, kwargs, name): start a Pykka actor,
               linked to the asking node; REPLY (node, name, supervised): supervised says
               whether it is a supervision.SupervisedActor (a watch then needs no probe)
    SUPERVISE 12  body = (op, name, arg): what another node's links, monitors and supervisors
               ask of an actor here. "watch": REPLY of its exit reason when it dies (ERROR
               noproc / not_supervised at once; a CANCEL ends it); "exit" (arg: a reason) and
               "signal" (arg: (sender, reason)): no reply; "link" / "unlink" (arg: a ref):
               REPLY True. A reason is ("normal",), ("shutdown",) or ("reason", repr, pickle)
"""

from __future__ import annotations

from genrpc_actors._protocol._framing import (
    LARGE_FRAME,
    PREAUTH_MAX,
    SPARE_MAX,
    FrameDecoder,
    FrameTooLarge,
    Payload,
    frame,
)
from genrpc_actors._protocol._handshake import (
    BAD_VERSION,
    BADNODE,
    CERT_MISMATCH,
    CHALLENGE,
    CHALLENGE_SIZE,
    HELLO,
    INVALID_COOKIE,
    MAGIC,
    MAX_NAME,
    OK,
    PROOF,
    RESULT,
    STATUS_REASONS,
    VERSION,
    ClientHandshake,
    HandshakeError,
    ServerHandshake,
    cookie_key,
)
from genrpc_actors._protocol._messages import (
    ABCAST,
    ASK,
    BUFFERS,
    CALL,
    CANCEL,
    CAST,
    DILL,
    ERROR,
    OUT_OF_BAND,
    PING,
    PLAIN_GLOBALS,
    PONG,
    PROBE,
    REPLY,
    SBCAST,
    SBCAST_REPLY,
    SPAWN,
    SUPERVISE,
    Body,
    Inert,
    RefusedGlobal,
    decode_body,
    encode_body,
    has_large,
    message,
    message_parts,
    parse_message,
    peek_module,
)
from genrpc_actors._protocol._nesting import MAX_NESTING, NestedTooDeep, check_nesting

__all__ = [
    "ABCAST",
    "ASK",
    "BADNODE",
    "BAD_VERSION",
    "BUFFERS",
    "CALL",
    "CANCEL",
    "CAST",
    "CERT_MISMATCH",
    "CHALLENGE",
    "CHALLENGE_SIZE",
    "DILL",
    "ERROR",
    "HELLO",
    "INVALID_COOKIE",
    "LARGE_FRAME",
    "MAGIC",
    "MAX_NAME",
    "MAX_NESTING",
    "OK",
    "OUT_OF_BAND",
    "PING",
    "PLAIN_GLOBALS",
    "PONG",
    "PREAUTH_MAX",
    "PROBE",
    "PROOF",
    "REPLY",
    "RESULT",
    "SBCAST",
    "SBCAST_REPLY",
    "SPARE_MAX",
    "SPAWN",
    "STATUS_REASONS",
    "SUPERVISE",
    "VERSION",
    "Body",
    "ClientHandshake",
    "FrameDecoder",
    "FrameTooLarge",
    "HandshakeError",
    "Inert",
    "NestedTooDeep",
    "Payload",
    "RefusedGlobal",
    "ServerHandshake",
    "check_nesting",
    "cookie_key",
    "decode_body",
    "encode_body",
    "frame",
    "has_large",
    "message",
    "message_parts",
    "parse_message",
    "peek_module",
]

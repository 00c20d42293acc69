"""Large binaries on the wire: out-of-band pickle buffers and frames received into their own
buffer (sans-IO, no sockets)."""

from __future__ import annotations

import struct

import pytest

from genrpc_actors._node._requests import encode_request
from genrpc_actors._protocol import (
    BUFFERS,
    CALL,
    LARGE_FRAME,
    OUT_OF_BAND,
    REPLY,
    FrameDecoder,
    decode_body,
    encode_body,
    message,
    message_parts,
    parse_message,
)

BIG = 256 * 1024 * 1024
LARGE = bytes(range(256)) * (OUT_OF_BAND // 256 * 3)  # 192 KiB


def _through_decoder(data: bytes, step: int) -> list[bytes]:
    """Feed ``data`` in ``step``-byte pieces, receiving into the decoder's own buffer whenever
    it offers one, as the drivers do."""
    decoder = FrameDecoder(BIG)
    payloads: list[bytes] = []
    position = 0
    while position < len(data):
        target = decoder.into()
        if target is not None:
            count = min(len(target), step, len(data) - position)
            target[:count] = data[position : position + count]
            payloads.extend(bytes(p) for p in decoder.received(count))
        else:
            count = min(step, len(data) - position)
            payloads.extend(bytes(p) for p in decoder.feed(data[position : position + count]))
        position += count
    assert decoder.buffered == 0
    return payloads


def test_a_large_binary_travels_out_of_band_from_where_it_lies():
    body, flags = encode_body(LARGE)
    assert flags == BUFFERS
    assert isinstance(body, list)
    assert body[2].obj is LARGE  # the caller's own object, not a copy
    assert len(body[1]) < 100  # the pickle only refers to it
    assert decode_body(b"".join(body), flags) == LARGE


def test_small_binaries_stay_in_band():
    body, flags = encode_body(b"x" * (OUT_OF_BAND - 1))
    assert flags == 0
    assert isinstance(body, bytes)


@pytest.mark.parametrize(
    "value",
    [
        LARGE,
        bytearray(LARGE),
        ("tests.remote.functions", None, "echo", (LARGE, 1), {"extra": bytearray(LARGE)}),
        [LARGE, b"small", LARGE],
        {"a": LARGE, "b": 2},
    ],
    ids=["bytes", "bytearray", "request", "list", "dict"],
)
def test_out_of_band_values_come_back_equal_and_of_their_type(value):
    body, flags = encode_body(value)
    assert flags == BUFFERS
    # as made (a node calling itself) and as received (one contiguous frame)
    for form in (body, b"".join(body)):
        got = decode_body(form, flags)
        assert got == value
        assert type(got) is type(value)
    if isinstance(value, tuple):
        got = decode_body(b"".join(body), flags)
        assert type(got[3][0]) is bytes
        assert type(got[4]["extra"]) is bytearray


def test_a_request_sends_binaries_in_its_arguments_and_one_level_inside_out_of_band():
    body, flags = encode_request("m", "f", (LARGE, [b"small", LARGE]), {"k": (LARGE,)})
    assert flags == BUFFERS
    assert len(body) == 2 + 3  # head, pickle, three buffers
    got = decode_body(b"".join(body), flags)
    assert got == ("m", None, "f", (LARGE, [b"small", LARGE]), {"k": (LARGE,)})
    body, flags = encode_request("m", "f", ([[LARGE]],), None)
    assert flags == 0  # two levels inside an argument: in band


def test_binaries_deeper_than_two_levels_stay_in_band():
    body, flags = encode_body((((LARGE,),),))
    assert flags == 0
    assert decode_body(body, flags) == (((LARGE,),),)


def test_a_message_in_parts_is_the_message_whole():
    body, flags = encode_body(("m", None, "f", (LARGE,), {}))
    parts = message_parts(CALL, flags, 7, body)
    assert isinstance(parts, list)
    whole = message(CALL, flags, 7, body)
    assert b"".join(parts) == whole
    assert struct.unpack(">I", whole[:4])[0] == len(whole) - 4


@pytest.mark.parametrize("step", [1_000, 65_536, 65_536 + 3, 10 * 1024 * 1024])
def test_large_and_small_frames_in_any_chunks(step):
    body, flags = encode_body(LARGE)
    large = message(REPLY, flags, 1, body)
    small = message(REPLY, 0, 2, encode_body("small")[0])
    data = small + large + small + large + small
    payloads = _through_decoder(data, step)
    assert [parse_message(p)[2] for p in payloads] == [2, 1, 2, 1, 2]
    for payload in payloads[1::2]:
        _, got_flags, _, got_body = parse_message(payload)
        assert decode_body(got_body, got_flags) == LARGE


def test_a_large_frame_in_progress_gets_a_buffer_of_its_own():
    data = message(REPLY, 0, 1, b"z" * LARGE_FRAME)
    decoder = FrameDecoder(BIG)
    assert decoder.feed(data[:100]) == []
    target = decoder.into()
    assert target is not None
    assert len(target) == len(data) - 100
    target[:] = data[100:]
    (payload,) = decoder.received(len(target))
    assert bytes(payload) == data[4:]
    assert decoder.into() is None


@pytest.mark.parametrize(
    "body",
    [
        b"",
        b"\x00\x00",
        struct.pack(">I", 1),  # one buffer, no size
        struct.pack(">I", 1) + struct.pack(">Q", 10**9) + b"pickle",  # sizes over the body
        struct.pack(">I", 2**32 - 1),  # a count no body can hold
    ],
)
def test_a_broken_out_of_band_layout_is_a_value_error(body):
    with pytest.raises(ValueError, match="out-of-band"):
        decode_body(body, BUFFERS)


def test_a_large_frames_buffer_is_used_again_once_its_payload_is_gone():
    data = message(REPLY, 0, 1, b"z" * LARGE_FRAME)
    decoder = FrameDecoder(BIG)

    def receive() -> object:
        decoder.feed(data[:10])
        target = decoder.into()
        assert target is not None
        target[:] = data[10:]
        (payload,) = decoder.received(len(target))
        assert bytes(payload) == data[4:]
        return payload

    first = receive()
    second = receive()
    assert second is not first  # the first payload is still referred to: a new buffer
    del first
    buffer_id = id(second)
    del second
    third = receive()
    assert id(third) == buffer_id  # nothing refers to the second any more: used again

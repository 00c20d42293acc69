"""A frame's buffer grows as its bytes arrive: a length prefix alone commits no memory, whatever
it announces, and a large frame still arrives whole and exact, however it is cut."""

from __future__ import annotations

import os
import tracemalloc

from hypothesis import given, settings
from hypothesis import strategies as st

from genrpc_actors._protocol import FrameDecoder
from genrpc_actors._protocol._framing import FIRST_ROOM, LARGE_FRAME, LENGTH

MiB = 1024 * 1024


def test_a_bare_length_prefix_commits_no_more_than_the_first_room():
    decoder = FrameDecoder(limit=512 * MiB)
    tracemalloc.start()
    try:
        assert decoder.feed(LENGTH.pack(256 * MiB) + b"x" * 100) == []
        view = decoder.into()
        assert view is not None
        assert len(view) <= FIRST_ROOM
        _, peak = tracemalloc.get_traced_memory()
    finally:
        tracemalloc.stop()
    assert peak < 2 * FIRST_ROOM  # not 256 MiB
    assert decoder.wanted() == 256 * MiB - 100


def receive(decoder: FrameDecoder, data: bytes, cuts: list[int]) -> list[bytes]:
    """Hand ``data`` over as a driver would: into the large frame's buffer when there is one,
    through ``feed`` otherwise, in pieces of the sizes ``cuts`` gives (cycled)."""
    frames: list[bytes] = []
    at, turn = 0, 0
    while at < len(data):
        size = cuts[turn % len(cuts)]
        turn += 1
        target = decoder.into()
        if target is not None:
            count = min(size, len(target), len(data) - at)
            target[:count] = data[at : at + count]
            frames += [bytes(f) for f in decoder.received(count)]
        else:
            count = min(size, len(data) - at)
            frames += [bytes(f) for f in decoder.feed(data[at : at + count])]
        at += count
    return frames


@settings(max_examples=30, deadline=None)
@given(
    sizes=st.lists(st.integers(0, 3 * FIRST_ROOM), min_size=1, max_size=4),
    cuts=st.lists(st.integers(1, 2 * FIRST_ROOM), min_size=1, max_size=5),
)
def test_frames_of_any_size_arrive_whole_however_they_are_cut(sizes, cuts):
    payloads = [os.urandom(size) for size in sizes]
    stream = b"".join(LENGTH.pack(len(p)) + p for p in payloads)
    assert receive(FrameDecoder(limit=64 * MiB), stream, cuts) == payloads


def test_the_buffer_doubles_as_bytes_arrive_and_is_kept_for_the_next_frame():
    decoder = FrameDecoder(limit=64 * MiB)
    size = 3 * FIRST_ROOM
    payload = os.urandom(size)
    sizes_seen = []
    frames = decoder.feed(LENGTH.pack(size) + payload[:LARGE_FRAME])
    at = LARGE_FRAME
    while not frames:
        target = decoder.into()
        assert target is not None
        sizes_seen.append(at + len(target))  # how far the buffer reaches now
        count = min(len(target), 512 * 1024)
        target[:count] = payload[at : at + count]
        at += count
        frames = decoder.received(count)
    assert bytes(frames[0]) == payload
    assert sizes_seen[0] == FIRST_ROOM
    assert max(sizes_seen) == size
    del frames, target  # nothing refers to the payload any more
    decoder.feed(LENGTH.pack(size) + b"y" * 10)  # the next large frame reuses that buffer
    assert len(decoder.into() or b"") == size - 10

"""The benchmark floor's buffered frame reader, fed in pieces of chosen sizes; and its client."""

from __future__ import annotations

import pytest

from benchmarks import floor, targets


class Chunks:
    """A socket whose ``recv_into`` gives out ``data`` in pieces of at most ``sizes`` bytes."""

    def __init__(self, data: bytes, sizes: list[int]) -> None:
        self.data, self.sizes, self.reads = data, list(sizes), 0

    def recv_into(self, view: memoryview) -> int:
        size = min(len(view), self.sizes[self.reads % len(self.sizes)], len(self.data))
        view[:size] = self.data[:size]
        self.data = self.data[size:]
        self.reads += 1
        return size


def frame(body: bytes, kind: int = floor.CALL) -> bytes:
    return floor.HEADER.pack(len(body), kind) + body


def read_all(reader: floor.FrameReader, count: int) -> list[tuple[int, bytes]]:
    got: list[tuple[int, bytes]] = []
    while len(got) < count:
        got += [(kind, bytes(body)) for kind, body in reader.frames()]
    return got


def test_one_read_gives_every_frame_the_buffer_holds():
    bodies = [bytes([i]) * i for i in range(50)]
    sock = Chunks(b"".join(frame(b, i % 2) for i, b in enumerate(bodies)), [1 << 20])
    reader = floor.FrameReader(sock)  # type: ignore[arg-type]
    assert [bytes(body) for _, body in reader.frames()] == bodies
    assert sock.reads == 1


@pytest.mark.parametrize("sizes", [[1], [3, 7], [64], [5, 1000]])
def test_frames_split_anywhere_across_reads_and_past_the_buffer_end(sizes):
    bodies = [bytes([i % 256]) * (i * 7 % 150) for i in range(400)]
    sock = Chunks(b"".join(frame(b) for b in bodies), sizes)
    reader = floor.FrameReader(sock, size=200)  # type: ignore[arg-type]
    assert read_all(reader, len(bodies)) == [(floor.CALL, b) for b in bodies]


def test_a_frame_larger_than_the_buffer_is_read_whole_and_the_next_ones_follow():
    big = bytes(range(256)) * 40
    sock = Chunks(frame(b"a") + frame(big) + frame(b"b", floor.CAST), [100])
    reader = floor.FrameReader(sock, size=64)  # type: ignore[arg-type]
    assert read_all(reader, 3) == [(floor.CALL, b"a"), (floor.CALL, big), (floor.CAST, b"b")]


def test_a_closed_connection_ends_the_reader():
    reader = floor.FrameReader(Chunks(frame(b"abc")[:4], [100]))  # type: ignore[arg-type]
    with pytest.raises(ConnectionError):
        reader.frames()


@pytest.fixture
def client():
    listener, port = floor.start_server()
    conn = floor.FloorClient(port)
    yield conn
    conn.close()
    listener.close()


def test_the_client_calls_pipelines_and_casts(client):
    assert client.call(targets.add, 1, 2) == 3
    payload = bytes(floor.BUFFER_SIZE * 2)  # larger than either end's buffer
    assert client.call(targets.echo, payload) == payload
    assert client.pipeline(1000, targets.add, 2, 2) == 4
    assert client.call(targets.reset_ticks) == 0
    for _ in range(500):
        client.cast(targets.tick)
    assert client.call(targets.wait_ticks, 500, 5.0) == 500
    assert client.call(targets.echo, (1, "x")) == (1, "x")

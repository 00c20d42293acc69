"""What a script defines travels by value: its functions and classes exist in no other process.

A function or class of ``__main__`` pickles by name with the C pickle, and the receiving node,
another program, has no such attribute; such values go by value (dill). Everything else keeps
travelling by name, and a string that merely says ``__main__`` stays a plain pickle.
"""

from __future__ import annotations

import os
import signal
import socket
import subprocess
import sys
import textwrap
from pathlib import Path

import pytest

from genrpc_actors import _protocol
from genrpc_actors.testing import free_port
from tests.waiting import wait_for

COOKIE = "shipping-from-a-script-cookie"
GENRPC = str(Path(sys.executable).with_name("genrpc"))


def _decode(body, flags):
    return _protocol.decode_body(body, flags)


@pytest.fixture
def in_main(monkeypatch):
    """A function and a class that ``__main__`` holds, as a script's would."""
    main = sys.modules["__main__"]
    namespace: dict = {"__name__": "__main__"}
    exec(  # defines them as a script would
        "def top(x):\n    return x * 2\n\nclass Point:\n    def __init__(self, x):\n"
        "        self.x = x\n",
        namespace,
    )
    monkeypatch.setattr(main, "top", namespace["top"], raising=False)
    monkeypatch.setattr(main, "Point", namespace["Point"], raising=False)
    return namespace["top"], namespace["Point"]


def test_a_main_function_and_class_travel_by_value(in_main, monkeypatch):
    top, point = in_main
    body, flags = _protocol.encode_body(("__main__", None, None, (top, point(5)), {}))
    assert flags & _protocol.DILL
    monkeypatch.delattr(sys.modules["__main__"], "top")  # the receiver has no such thing
    monkeypatch.delattr(sys.modules["__main__"], "Point")
    _, _, _, (function, instance), _ = _decode(body, flags)
    assert function(21) == 42
    assert instance.x == 5


def test_with_large_binaries_too(in_main):
    top, _ = in_main
    body, flags = _protocol.encode_body((top, b"x" * (_protocol.OUT_OF_BAND + 1)))
    assert flags & _protocol.DILL
    function, data = _decode(body if isinstance(body, bytes) else b"".join(body), flags)
    assert function(1) == 2
    assert len(data) == _protocol.OUT_OF_BAND + 1


def test_importable_functions_and_plain_strings_keep_the_plain_pickle():
    for value in (os.path.join, ("__main__", "__mp_main__"), {"x": "__main__.top"}):
        body, flags = _protocol.encode_body(value)
        assert flags == 0
        assert _decode(body, flags) == value


SCRIPT = textwrap.dedent(
    """
    import os
    from dataclasses import dataclass

    import genrpc_actors as gen_rpc

    REMOTE = "remote@127.0.0.1"


    def top(x):
        return x * 2


    @dataclass
    class Point:
        x: int
        y: int


    def norm1(point):
        return abs(point.x) + abs(point.y)


    gen_rpc.start(
        "script@127.0.0.1",
        tcp_server_port=False,
        cookie=os.environ["COOKIE"],
        client_config_per_node={REMOTE: int(os.environ["PORT"])},
    )
    print(gen_rpc.call(REMOTE, top, args=(21,)))
    print(gen_rpc.call(REMOTE, norm1, args=(Point(3, -4),)))
    back = gen_rpc.call(REMOTE, lambda: Point(1, 2))
    print(type(back).__name__, back.x, back.y)
    print(gen_rpc.call(REMOTE, "os.path", "join", args=("a", "b")))
    gen_rpc.stop()
    """
)


@pytest.fixture
def remote_node():
    """``genrpc node`` in a process of its own: it knows nothing of the script."""
    port = free_port()
    process = subprocess.Popen(
        [GENRPC, "node", "remote@127.0.0.1", "--port", str(port), "--cookie", COOKIE],
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
    )
    try:
        wait_for(lambda: _accepts(port), timeout=30)
        yield port
    finally:
        os.kill(process.pid, signal.SIGTERM)
        try:
            process.wait(15)
        except subprocess.TimeoutExpired:
            os.kill(process.pid, signal.SIGKILL)
            process.wait(15)


def _accepts(port: int) -> bool:
    try:
        socket.create_connection(("127.0.0.1", port), timeout=1).close()
    except OSError:
        return False
    return True


def test_a_script_ships_its_own_functions_and_classes(remote_node, tmp_path):
    script = tmp_path / "mine.py"
    script.write_text(SCRIPT)
    done = subprocess.run(
        [sys.executable, str(script)],
        cwd=tmp_path,
        env={**os.environ, "COOKIE": COOKIE, "PORT": str(remote_node)},
        capture_output=True,
        text=True,
        timeout=60,
        check=False,
    )
    assert done.returncode == 0, done.stderr
    assert done.stdout.split("\n") == ["42", "7", "Point 1 2", os.path.join("a", "b"), ""]

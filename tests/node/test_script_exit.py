"""A script that starts a node ends when its code ends, stopped or not, raising or not."""

from __future__ import annotations

import os
import subprocess
import sys
import textwrap

import pytest

from genrpc_actors.testing import LocalNode

COOKIE = "a-script-that-forgets-stop-cookie"

SCRIPT = textwrap.dedent(
    """
    import os
    import genrpc_actors as gen_rpc

    gen_rpc.start(
        "forgetful@127.0.0.1",
        tcp_server_port=0,
        cookie=os.environ["COOKIE"],
        client_config_per_node={"peer@127.0.0.1": int(os.environ["PORT"])},
    )
    print(gen_rpc.call("peer@127.0.0.1", "operator", "add", args=(1, 2)))
    if os.environ["HOW"] == "raise":
        raise RuntimeError("the script failed")
    print("done")
    """
)


@pytest.fixture(scope="module")
def peer():
    with LocalNode("peer@127.0.0.1", cookie=COOKIE) as node:
        yield node


@pytest.mark.parametrize(
    ("how", "status", "printed"), [("end", 0, "3\ndone\n"), ("raise", 1, "3\n")]
)
def test_a_script_without_stop_exits(peer, tmp_path, how, status, printed):
    script = tmp_path / "forgetful.py"
    script.write_text(SCRIPT)
    done = subprocess.run(
        [sys.executable, str(script)],
        env={**os.environ, "COOKIE": COOKIE, "PORT": str(peer.port), "HOW": how},
        capture_output=True,
        text=True,
        timeout=30,
        check=False,
    )
    assert done.returncode == status, done.stderr
    assert done.stdout == printed
    if how == "raise":
        assert done.stderr.rstrip().endswith("RuntimeError: the script failed")

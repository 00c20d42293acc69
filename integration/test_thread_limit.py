"""A node under a real ``pids`` cgroup limit (needs root, as ``make integration`` runs): when the
system refuses it threads, requests wait for the threads it has or are refused with a reason,
never lost; first calls on new connections work once threads are free again, and the node stops
cleanly. A node used to keep a job queued with no thread and a thread object that never started
(so ``stop()`` failed), and 11 of 12 first calls on new connections timed out.

The node runs on loopback beside the runner, plain TCP only: what is under test is the thread
pool, not the driver.
"""

from __future__ import annotations

import contextlib
import os
import subprocess
import tempfile
import time
from collections.abc import Iterator
from pathlib import Path

import psutil
import pytest

from genrpc_actors import BadRpc, BadTcp, Node
from genrpc_actors.testing import LocalNode
from integration.nodes import COOKIE

LIMITED = "limited@127.0.0.1"
HEADROOM = 6  # threads (tasks) the node may start beyond those it has when it is limited
SLOW = 40  # slow calls at once, far past the headroom
AT_ONCE = 5.0  # seconds: a refusal, not a wait for the call's timeout (30 s)


@contextlib.contextmanager
def _pids_hierarchy() -> Iterator[Path | None]:
    """The pids controller's hierarchy. Under ``ip netns exec`` (as the lab runs this), /sys
    is the namespace's own, without cgroups: the hierarchy is then mounted for the test (in
    that command's own mount namespace) and unmounted after."""
    root = Path("/sys/fs/cgroup")
    if (root / "pids").is_dir():
        yield root / "pids"
        return
    controllers = root / "cgroup.controllers"
    if controllers.exists() and "pids" in controllers.read_text().split():
        yield root
        return
    with tempfile.TemporaryDirectory(prefix="genrpc-pids-") as mount_point:
        for kind, options in (("cgroup", ["-o", "pids"]), ("cgroup2", [])):
            mounted = subprocess.run(
                ["mount", "-t", kind, *options, kind, mount_point], capture_output=True, check=False
            )
            if mounted.returncode == 0:
                break
        else:
            yield None
            return
        try:
            yield Path(mount_point)
        finally:
            subprocess.run(["umount", mount_point], capture_output=True, check=False)


@contextlib.contextmanager
def pids_limited(pid: int, headroom: int) -> Iterator[int]:
    """Move process ``pid`` (all its threads) into a new cgroup whose ``pids.max`` allows
    ``headroom`` more tasks than it has now; yields the limit. The group is removed after."""
    if os.geteuid() != 0:
        pytest.skip("needs root")
    with _pids_hierarchy() as base:
        if base is None:
            pytest.skip("no pids cgroup controller on this machine")
        with _pids_group(base, pid, headroom) as limit:
            yield limit


@contextlib.contextmanager
def _pids_group(base: Path, pid: int, headroom: int) -> Iterator[int]:
    group = base / f"genrpc-pids-{os.getpid()}-{pid}"
    group.mkdir()
    try:
        limit = psutil.Process(pid).num_threads() + headroom
        (group / "pids.max").write_text(f"{limit}\n")
        (group / "cgroup.procs").write_text(f"{pid}\n")
        yield limit
    finally:
        for _ in range(200):  # the node's process has to be gone before its group can go
            with contextlib.suppress(OSError):
                group.rmdir()
                break
            time.sleep(0.05)


def test_a_node_short_of_threads_loses_no_request_and_stops_cleanly() -> None:
    node = LocalNode(LIMITED, cookie=COOKIE, tcp_server_port=0).start()
    assert node.pid is not None
    caller = Node.start(
        "pids-caller@127.0.0.1",
        cookie=COOKIE,
        tcp_server_port=False,
        client_config_per_node={LIMITED: node.port},
    )
    try:
        for key in range(4):  # connections made before the limit (each costs threads too)
            assert caller.call((LIMITED, key), "operator", "add", (key, 1), timeout=10.0) == key + 1
        with pids_limited(node.pid, HEADROOM) as limit:
            try:
                _flood_and_check(caller, node.pid, limit)
            finally:
                caller.stop()
                node.stop()  # a clean stop, under the limit still
            assert not node.is_alive()
    finally:
        caller.stop()
        if node.is_alive():
            node.kill()


def _flood_and_check(caller: Node, pid: int, limit: int) -> None:
    keys = [caller.async_call((LIMITED, i % 4), "time", "sleep", (1.0,)) for i in range(SLOW)]
    refused: list[object] = []
    for key in keys:  # each finishes, or is refused with a reason: none is lost
        try:
            value = caller.nb_yield(key, 60.0)
        except BadRpc as exc:
            refused.append(exc.reason)
        else:
            assert value is not None, "a request waited for nothing"
    assert all(r[0] == "not_running" for r in refused), refused  # type: ignore[index]
    assert len(refused) < SLOW  # the threads there were ran the others
    assert psutil.Process(pid).num_threads() <= limit
    # first calls on a dozen new connections: served, or refused at once (no thread for the
    # connection), never left to time out
    for i in range(12):
        begin = time.monotonic()
        try:
            answer = caller.call((LIMITED, f"new-{i}"), "operator", "add", (i, 1), timeout=30)
        except (BadRpc, BadTcp) as exc:
            answer = exc.reason
        assert answer != "timeout"
        assert answer == i + 1 or time.monotonic() - begin < AT_ONCE, answer
    assert caller.call((LIMITED, 0), "operator", "add", (1, 1), timeout=30.0) == 2

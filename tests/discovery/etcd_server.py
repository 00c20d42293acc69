"""A real etcd server on loopback ports, for the discovery tests (Debian's etcd-server)."""

from __future__ import annotations

import json
import os
import shutil
import signal
import subprocess
import urllib.request
from collections.abc import Iterator
from pathlib import Path

import pytest

from genrpc_actors.testing import free_port
from tests.waiting import wait_for


def _healthy(url: str) -> bool:
    try:
        with urllib.request.urlopen(url + "/health", timeout=1) as response:
            return json.loads(response.read()).get("health") == "true"
    except OSError:
        return False


@pytest.fixture(scope="session")
def etcd_url(tmp_path_factory: pytest.TempPathFactory) -> Iterator[str]:
    """The client URL of an etcd started for this session and stopped after it."""
    binary = shutil.which("etcd")
    if binary is None:
        pytest.fail("etcd is not installed: `make test` installs Debian's etcd-server")
    data: Path = tmp_path_factory.mktemp("etcd")
    client, peer = free_port(), free_port()
    url = f"http://127.0.0.1:{client}"
    log = (data / "etcd.log").open("wb")
    process = subprocess.Popen(
        [
            binary,
            "--name",
            "genrpc-test",
            "--data-dir",
            str(data / "data"),
            "--listen-client-urls",
            url,
            "--advertise-client-urls",
            url,
            "--listen-peer-urls",
            f"http://127.0.0.1:{peer}",
            "--initial-advertise-peer-urls",
            f"http://127.0.0.1:{peer}",
            "--initial-cluster",
            f"genrpc-test=http://127.0.0.1:{peer}",
        ],
        stdout=log,
        stderr=subprocess.STDOUT,
    )
    try:
        wait_for(lambda: _healthy(url) or process.poll() is not None, timeout=30, interval=0.05)
        if process.poll() is not None:
            pytest.fail(f"etcd exited at start: {(data / 'etcd.log').read_text()[-2000:]}")
        yield url
    finally:
        if process.poll() is None:
            os.kill(process.pid, signal.SIGTERM)
            try:
                process.wait(10)
            except subprocess.TimeoutExpired:
                os.kill(process.pid, signal.SIGKILL)
                process.wait(10)
        log.close()

"""The scripts in ``examples/`` run as a person would run them (a fresh interpreter, from
another directory) and print what they say they show."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

EXAMPLES = Path(__file__).resolve().parent.parent / "examples"


def test_remote_supervision(tmp_path):
    script = EXAMPLES / "remote_supervision.py"
    result = subprocess.run(
        [sys.executable, str(script)],
        cwd=tmp_path,
        capture_output=True,
        text=True,
        timeout=120,
        check=False,
    )
    assert result.returncode == 0, result.stderr[-3000:]
    assert result.stdout.splitlines() == [
        "started a worker on node2@127.0.0.1",
        "the worker answers from node2@127.0.0.1",
        "the worker crashed: RuntimeError('told to crash')",
        "started a worker on node2@127.0.0.1",
        "restarted; it answers from node2@127.0.0.1",
        "node2@127.0.0.1 was killed: ('noconnection', 'node2@127.0.0.1')",
        "started a worker on node3@127.0.0.1",
        "restarted; it answers from node3@127.0.0.1",
        "the worker crashed again: RuntimeError('told to crash')",
        "3 restarts within 30 s is more than 2: the supervisor exits with supervision.SHUTDOWN",
        "escalated: True",
    ]

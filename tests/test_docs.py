"""The README's Python examples run as written: in this process, and as a user runs them, each
as a script of its own in a fresh interpreter, which must end (within a bound) with status 0.
(The documentation site's examples and configurations: tests/test_site_docs.py.)"""

from __future__ import annotations

import os
import re
import subprocess
import sys
from pathlib import Path

import pytest

README = Path(__file__).resolve().parent.parent / "README.md"
# `print(...)  # expected`: what the line prints (the comment on its own line, never the next)
EXPECTED = re.compile(r"^[ \t]*print\(.*\)[ \t]+#[ \t]+(.*?)[ \t]*$", flags=re.MULTILINE)
BLOCKS = re.findall(r"```python\n(.*?)```", README.read_text(), flags=re.DOTALL)


@pytest.mark.parametrize("code", BLOCKS, ids=[f"block{i}" for i in range(len(BLOCKS))])
def test_readme_python_blocks_run(code, capsys, request):
    if "EtcdSource(" in code:  # the example's etcd is the one this suite runs
        code = code.replace("http://127.0.0.1:2379", request.getfixturevalue("etcd_url"))
    exec(compile(code, str(README), "exec"), {"__name__": "readme"})
    printed = capsys.readouterr().out
    # every `print(...)  # expected` line of the README says what it prints
    for expected in EXPECTED.findall(code):
        assert expected in printed


@pytest.mark.parametrize("code", BLOCKS, ids=[f"block{i}" for i in range(len(BLOCKS))])
def test_readme_python_blocks_run_as_scripts(code, tmp_path, request):
    if "EtcdSource(" in code:
        code = code.replace("http://127.0.0.1:2379", request.getfixturevalue("etcd_url"))
    script = tmp_path / "example.py"  # no __main__ guard, as in the README
    script.write_text(code)
    env = {**os.environ, "PYTHONPATH": str(README.parent)}
    done = subprocess.run(
        [sys.executable, str(script)],
        cwd=tmp_path,
        env=env,
        capture_output=True,
        text=True,
        timeout=60,
        check=False,
    )
    assert done.returncode == 0, done.stderr
    for expected in EXPECTED.findall(code):
        assert expected in done.stdout


def test_readme_starts_with_the_two_commands():
    head = README.read_text().split("\n## ")[0]
    assert "make demo" in head
    assert "make test" in head

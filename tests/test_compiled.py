"""The hot path compiled with mypyc (``genrpc_actors._compiled``): once ``make`` has built it,
every listed module runs compiled; ``GENRPC_PURE_PYTHON=1`` runs their sources instead, and so
does a source changed since its build."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import pytest

from genrpc_actors import Config, _compiled

ROOT = Path(__file__).resolve().parent.parent
BUILT = (ROOT / ".venv" / ".native").exists() and any((ROOT / "genrpc_actors").rglob("*.so"))
PURE = os.environ.get(_compiled.PURE_VARIABLE, "") not in ("", "0")


def _compiled_in_a_fresh_process(**env: str) -> list[str]:
    code = "from genrpc_actors import _compiled; print(','.join(_compiled.compiled()))"
    done = subprocess.run(
        [sys.executable, "-c", code],
        env={**os.environ, **env},
        capture_output=True,
        text=True,
        timeout=60,
        check=True,
    )
    return [name for name in done.stdout.strip().split(",") if name]


@pytest.mark.skipif(not BUILT, reason="not built: make install compiles the hot path")
def test_every_listed_module_runs_compiled_unless_told_otherwise():
    assert _compiled_in_a_fresh_process(GENRPC_PURE_PYTHON="0") == list(_compiled.COMPILED)
    assert _compiled_in_a_fresh_process(GENRPC_PURE_PYTHON="1") == []
    assert (_compiled.compiled() == []) is PURE  # this run's own mode


def test_a_source_newer_than_its_build_runs_as_a_source(tmp_path, monkeypatch):
    suffix = ".cpython-311-x86_64-linux-gnu.so"
    monkeypatch.setattr(_compiled.sysconfig, "get_config_var", lambda _name: suffix)
    monkeypatch.setattr(_compiled, "_ROOT", tmp_path)
    monkeypatch.setattr(_compiled, "COMPILED", ("pkg.mod",))
    (tmp_path / "pkg").mkdir()
    source, extension = tmp_path / "pkg" / "mod.py", tmp_path / "pkg" / f"mod{suffix}"
    source.write_text("")
    assert not _compiled._stale()  # not built
    extension.write_bytes(b"")
    os.utime(source, (1_000, 1_000))
    os.utime(extension, (2_000, 2_000))
    assert not _compiled._stale()  # built after the source
    os.utime(source, (3_000, 3_000))
    assert _compiled._stale()  # the source changed since


def test_the_switch_is_no_configuration_key_and_no_mistake():
    Config.from_env(environ={"GENRPC_PURE_PYTHON": "1"})  # no ConfigError: it is known

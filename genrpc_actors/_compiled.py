"""The hot path compiled with mypyc, and the switch back to pure Python.

``make install`` compiles the modules of ``COMPILED`` with mypyc (``python -m
genrpc_actors._tools._compile``) into extension modules beside their sources, which Python then
imports in their place: the same code, typed as mypy strict checks it, run as C. Without a C
compiler they are not built and the sources run as they are; a source changed since its module
was compiled runs as a source (all of them then do). With ``GENRPC_PURE_PYTHON=1`` in
the environment the sources run even where the extensions are built (``use_sources``, called
when this module is imported, which the package does before anything else): the test suite runs
both ways.
"""

from __future__ import annotations

import importlib.abc
import importlib.machinery
import importlib.util
import os
import sys
import sysconfig
from collections.abc import Sequence
from pathlib import Path
from types import ModuleType

__all__ = ["COMPILED", "PURE_VARIABLE", "compiled", "use_sources"]

# What every call, cast and reply goes through, on both sides: compiled when built.
COMPILED = (
    "genrpc_actors._protocol._framing",
    "genrpc_actors._protocol._messages",
    "genrpc_actors._client._reply",
    "genrpc_actors._client._pending",
    "genrpc_actors._client._connection",
    "genrpc_actors._transport._reader",
    "genrpc_actors._transport._outbox",
    "genrpc_actors._execution._request",
    "genrpc_actors._execution._thread_pool",
    "genrpc_actors._server._connection",
    "genrpc_actors._node._requests",
    "genrpc_actors._node._routing",
    "genrpc_actors._node._call_times",  # each call's outcome and latency, with metrics on
)
PURE_VARIABLE = "GENRPC_PURE_PYTHON"
_ROOT = Path(__file__).resolve().parent.parent


class _Sources(importlib.abc.MetaPathFinder):
    """Finds the compiled modules' sources, ahead of their extension modules."""

    def find_spec(
        self,
        fullname: str,
        path: Sequence[str] | None,  # noqa: ARG002 - the finder protocol's
        target: ModuleType | None = None,  # noqa: ARG002
    ) -> importlib.machinery.ModuleSpec | None:
        if fullname not in COMPILED:
            return None
        source = _ROOT.joinpath(*fullname.split(".")).with_suffix(".py")
        return importlib.util.spec_from_file_location(fullname, source)


def use_sources() -> None:
    """Run the compiled modules from their sources if ``GENRPC_PURE_PYTHON`` says so, or if a
    source has changed since it was compiled (the extension would run the old code)."""
    if any(isinstance(finder, _Sources) for finder in sys.meta_path):
        return
    if os.environ.get(PURE_VARIABLE, "") not in ("", "0") or _stale():
        sys.meta_path.insert(0, _Sources())


def _stale() -> bool:
    suffix = sysconfig.get_config_var("EXT_SUFFIX") or ".so"
    for name in COMPILED:
        source = _ROOT.joinpath(*name.split(".")).with_suffix(".py")
        extension = source.with_suffix(suffix)
        try:
            if extension.stat().st_mtime < source.stat().st_mtime:
                return True
        except OSError:  # not built (the sources run anyway), or a source not shipped
            continue
    return False


def compiled() -> list[str]:
    """The modules of ``COMPILED`` that run compiled in this process (imported or not)."""
    running = []
    for name in COMPILED:
        spec = importlib.util.find_spec(name)
        if spec is not None and isinstance(spec.loader, importlib.machinery.ExtensionFileLoader):
            running.append(name)
    return running


use_sources()

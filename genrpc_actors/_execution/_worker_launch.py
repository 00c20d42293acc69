"""Starting a process worker from the forkserver without running the node's ``__main__`` again.

``multiprocessing`` prepares every child by importing the parent's main module (the script) as
``__mp_main__``. A worker needs none of it: it runs ``genrpc_actors`` and its
``process_modules``. A script without an ``if __name__ == "__main__"`` guard would even start a
node in every worker, which then dies while starting. So a worker's preparation data leaves the
main module out. Every other process this program starts is prepared as ``multiprocessing``
always does: the change applies in the thread that starts a worker, while it does.
"""

from __future__ import annotations

import contextlib
import threading
from collections.abc import Iterator
from multiprocessing import context, popen_forkserver, spawn
from typing import Any

__all__ = ["WorkerProcess"]

_starting = threading.local()
_prepared = spawn.get_preparation_data


def _preparation_data(name: str) -> dict[str, Any]:
    data: dict[str, Any] = _prepared(name)
    if getattr(_starting, "worker", False):
        data.pop("init_main_from_path", None)
        data.pop("init_main_from_name", None)
    return data


spawn.get_preparation_data = _preparation_data  # the same for every process but workers


@contextlib.contextmanager
def _a_worker() -> Iterator[None]:
    _starting.worker = True
    try:
        yield
    finally:
        _starting.worker = False


class _Popen(popen_forkserver.Popen):
    def _launch(self, process_obj: Any) -> None:
        with _a_worker():
            super()._launch(process_obj)  # type: ignore[misc]  # private in the stubs


class WorkerProcess(context.ForkServerProcess):
    """A forkserver process prepared without the parent's ``__main__``."""

    @staticmethod
    def _Popen(process_obj: Any) -> _Popen:  # noqa: N802 - multiprocessing's name
        return _Popen(process_obj)

"""Functions that tests/node/test_multi.py calls on remote nodes (imported there by name, as RPC
targets).

Each runs in the remote node's process and uses that process's default node: named inboxes (the
targets of abcast/sbcast), pongs back to the caller, and broadcasts made from the remote side.

Every global of this module can be pickled by dill (``genrpc_actors`` is imported inside the
functions, the mutable state lives in a class): a test ships a callable that refers to this
module, to check that shipping it leaves the remote copy of the module alone (``MARK``).
"""

from __future__ import annotations

import importlib
import os
import threading
import time
from types import ModuleType
from typing import Any, ClassVar

import pykka

from genrpc_actors.testing import incoming

__version__ = "1.0.0"

MARK = "unset"  # set on a remote node by set_mark; read back by get_mark

_QUERY = ("__remote_helpers_multi_query__",)


def _gen_rpc() -> ModuleType:
    return importlib.import_module("genrpc_actors")


class _State:
    inboxes: ClassVar[dict[str, pykka.ActorRef[Any]]] = {}
    lock = threading.Lock()


def set_mark(value: str) -> None:
    global MARK  # noqa: PLW0603 - the module state the shipping test watches
    MARK = value


def get_mark() -> str:
    return MARK


class Inbox(pykka.ThreadingActor):
    """Keeps every message it is told; ``ask(_QUERY)`` returns them."""

    def __init__(self) -> None:
        super().__init__()
        self.received: list[Any] = []

    def on_receive(self, message: Any) -> Any:
        if message == _QUERY:
            return list(self.received)
        self.received.append(message)
        return None


def register_inbox(name: str) -> bool:
    """Start an ``Inbox`` and register it as ``name`` on this process's default node."""
    with _State.lock:
        old = _State.inboxes.pop(name, None)
        if old is not None:
            old.stop()
        ref = Inbox.start()
        _State.inboxes[name] = ref
    _gen_rpc().register(name, ref)
    return True


def received(name: str) -> list[Any]:
    """The messages the inbox ``name`` got so far."""
    ref = _State.inboxes[name]
    result: list[Any] = ref.ask(_QUERY, timeout=5.0)
    return result


def drop_inbox(name: str) -> None:
    """Unregister ``name`` and stop its inbox (cleanup after a test)."""
    _gen_rpc().unregister(name)
    with _State.lock:
        ref = _State.inboxes.pop(name, None)
    if ref is not None:
        ref.stop()


def stub_function() -> str:
    return "stub_function"


def whoami() -> tuple[str, int]:
    """This node's name and process id: a result that says where the call ran."""
    return _gen_rpc().node(), os.getpid()


def echo(value: Any) -> Any:
    return value


def sleep_then(seconds: float, value: Any) -> Any:
    time.sleep(seconds)
    return value


def sleep_on(slow_nodes: list[str], seconds: float) -> tuple[str, int]:
    """``whoami()``, after ``seconds`` if this node is one of ``slow_nodes``."""
    if _gen_rpc().node() in slow_nodes:
        time.sleep(seconds)
    return whoami()


def raise_on(failing_nodes: list[str]) -> tuple[str, int]:
    """``whoami()``, or ``ValueError`` if this node is one of ``failing_nodes``."""
    if _gen_rpc().node() in failing_nodes:
        raise ValueError(f"failing on {_gen_rpc().node()}")
    return whoami()


def ping(caller: str, name: str, msg: Any) -> bool:
    """gen_rpc_test_helper:ping: abcast ``("pong", (this node, name, msg))`` to ``name`` on
    ``caller``."""
    _gen_rpc().abcast([caller], name, ("pong", (_gen_rpc().node(), name, msg)))
    return True


def ping_then_raise(caller: str, name: str, msg: Any, kind: str) -> None:
    """``ping``, then end the way ``kind`` says: ``"exit"`` (SystemExit), ``"interrupt"``
    (KeyboardInterrupt) or ``"raise"`` (ValueError)."""
    ping(caller, name, msg)
    if kind == "exit":
        raise SystemExit("fatal")
    if kind == "interrupt":
        raise KeyboardInterrupt
    raise ValueError("throwXup")


def do_abcast(nodes: list[Any] | None, name: str, msg: Any) -> None:
    """``abcast`` made by this node."""
    _gen_rpc().abcast(nodes, name, msg)


def do_sbcast(
    nodes: list[Any] | None, name: str, msg: Any, timeout: float | None = None
) -> tuple[list[Any], list[Any]]:
    """``sbcast`` made by this node."""
    return _gen_rpc().sbcast(nodes, name, msg, timeout=timeout)


def nodes() -> list[str]:
    """This node's ``nodes()``."""
    return _gen_rpc().nodes()


def acceptor_peer_ports() -> list[int]:
    """The peer ports of this node's incoming connections."""
    from genrpc_actors._node._node import default_node

    return sorted(int(c.peer[1]) for c in incoming(default_node()))


def close_acceptor_from(port: int) -> int:
    """Close only the incoming connection(s) whose peer uses ``port``; returns how many."""
    from genrpc_actors._node._node import default_node

    closing = [c for c in incoming(default_node()) if int(c.peer[1]) == port]
    for connection in closing:
        connection.close()
    return len(closing)

"""Calls to many nodes at once: ``multicall``, ``eval_everywhere``, ``abcast``, ``sbcast``.

Every request goes out before any reply is awaited, and one deadline bounds the whole operation
(gen_rpc waits for each node in turn, each with the full timeout). Results come back in the order
of the ``nodes`` given (gen_rpc reverses them).
"""

from __future__ import annotations

import logging
import time
from collections.abc import Iterable, Iterator, Mapping, Sequence
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any

from genrpc_actors import _wire
from genrpc_actors._errors import BadRpc, RpcError
from genrpc_actors._requests import check_target, check_timeout, encode_request, node_name, resolve

if TYPE_CHECKING:
    from genrpc_actors._config import Config
    from genrpc_actors._connection import Connection
    from genrpc_actors._execute import ModuleControl
    from genrpc_actors._registry import Registry
    from genrpc_actors._reply import Reply

__all__ = ["MultiNodeCalls", "MultiResult"]

logger = logging.getLogger("genrpc_actors")


@dataclass(frozen=True)
class MultiResult:
    """What ``multicall`` returns: unpack it as ``results, bad_nodes = ...``.

    ``results`` holds the values of the nodes that answered, ``bad_nodes`` the nodes that did not
    (unreachable, timeout, remote exception, unauthorized, incompatible), both in the order of
    the nodes asked; ``errors`` maps each bad node to its exception.
    """

    results: list[Any]
    bad_nodes: list[Any]
    errors: dict[Any, RpcError] = field(default_factory=dict)

    def __iter__(self) -> Iterator[list[Any]]:
        return iter((self.results, self.bad_nodes))

    def __len__(self) -> int:
        return 2


class MultiNodeCalls:
    """The multi-node half of ``Node``'s API (a mixin: ``Node`` supplies the rest)."""

    name: str
    config: Config
    control: ModuleControl
    registry: Registry

    def nodes(self) -> list[str]:
        raise NotImplementedError

    def _submit(
        self,
        target: Any,
        kind: int,
        body: _wire.Body,
        flags: int,
        send_timeout: float | None,
        *,
        reply: bool,
    ) -> tuple[Connection | None, int, Reply | None]:
        raise NotImplementedError

    def _require_running(self) -> None:
        raise NotImplementedError

    def _targets(self, nodes: Iterable[Any] | None) -> list[Any]:
        self._require_running()
        if nodes is None:
            return [self.name, *self.nodes()]
        if isinstance(nodes, str | tuple) or not isinstance(nodes, Iterable):
            raise TypeError(f"nodes must be a list of nodes or None, not {nodes!r}")
        return [check_target(node) for node in nodes]

    def multicall(
        self,
        nodes: Iterable[Any] | None,
        module: Any,
        function: str | None = None,
        args: Sequence[Any] = (),
        kwargs: Mapping[str, Any] | None = None,
        *,
        timeout: float | None = None,
    ) -> MultiResult:
        """Call the function on every node at once; one deadline (``timeout``) for all."""
        targets = self._targets(nodes)
        wait = check_timeout("timeout", timeout, self.config.call_receive_timeout)
        body, flags = encode_request(module, function, args, kwargs)
        sent: list[tuple[Any, Connection | None, int, Reply | None, RpcError | None]] = []
        for target in targets:
            try:
                connection, request_id, slot = self._submit(
                    target, _wire.CALL, body, flags, None, reply=True
                )
                sent.append((target, connection, request_id, slot, None))
            except RpcError as exc:
                sent.append((target, None, 0, None, exc))
        deadline = None if wait is None else time.monotonic() + wait
        results: list[Any] = []
        bad: list[Any] = []
        errors: dict[Any, RpcError] = {}
        for target, connection, request_id, slot, refused in sent:
            failure = refused
            if failure is None and slot is not None:
                remaining = None if deadline is None else max(0.0, deadline - time.monotonic())
                if slot.wait(remaining):
                    try:
                        results.append(resolve(slot))
                        continue
                    except RpcError as exc:
                        failure = exc
                else:
                    if connection is not None:
                        connection.forget(request_id)
                    failure = BadRpc("timeout")
            bad.append(target)
            errors[target] = failure if failure is not None else BadRpc("timeout")
        return MultiResult(results, bad, errors)

    def eval_everywhere(
        self,
        nodes: Iterable[Any] | None,
        module: Any,
        function: str | None = None,
        args: Sequence[Any] = (),
        kwargs: Mapping[str, Any] | None = None,
        *,
        send_timeout: float | None = None,
    ) -> None:
        """Cast the function to every node (fire and forget)."""
        targets = self._targets(nodes)
        send_timeout = check_timeout("send_timeout", send_timeout, None)
        body, flags = encode_request(module, function, args, kwargs)
        for target in targets:
            try:
                self._submit(target, _wire.CAST, body, flags, send_timeout, reply=False)
            except RpcError as exc:
                logger.debug("event=cast_dropped node=%s reason=%r", node_name(target), exc.reason)

    def abcast(self, nodes: Iterable[Any] | None, name: str, msg: Any) -> None:
        """``tell(msg)`` to the actor registered as ``name`` on every node (where there is one)."""
        self._broadcast(_wire.ABCAST, self._targets(nodes), name, msg, None)

    def sbcast(
        self, nodes: Iterable[Any] | None, name: str, msg: Any, *, timeout: float | None = None
    ) -> tuple[list[Any], list[Any]]:
        """As ``abcast``, and wait: ``(good_nodes, bad_nodes)``; good ones had ``name`` and got
        ``msg``. A node that does not answer within ``timeout`` is bad."""
        wait = check_timeout("timeout", timeout, self.config.sbcast_receive_timeout)
        return self._broadcast(_wire.SBCAST, self._targets(nodes), name, msg, wait)

    def _broadcast(
        self, kind: int, targets: list[Any], name: str, msg: Any, wait: float | None
    ) -> tuple[list[Any], list[Any]]:
        if not isinstance(name, str) or not name:
            raise TypeError(f"name must be a non-empty str, not {name!r}")
        try:
            body, flags = _wire.encode_body((name, msg))
        except Exception as exc:
            raise BadRpc(("unpicklable_argument", f"{type(exc).__name__}: {exc}")) from exc
        pending: list[tuple[Any, Connection | None, int, Reply | None, bool]] = []
        for target in targets:
            if node_name(target) == self.name:
                delivered = self.control.allows("pykka") and self.registry.deliver(name, msg)
                pending.append((target, None, 0, None, delivered))
                continue
            try:
                remote = self._connection_for(target)
                request_id, slot = remote.request(
                    kind, flags, body, None, reply=kind == _wire.SBCAST
                )
                pending.append((target, remote, request_id, slot, False))
            except RpcError:
                pending.append((target, None, 0, None, False))
        good: list[Any] = []
        bad: list[Any] = []
        deadline = None if wait is None else time.monotonic() + wait
        for target, connection, request_id, slot, delivered_here in pending:
            delivered = delivered_here
            if slot is not None:
                remaining = None if deadline is None else max(0.0, deadline - time.monotonic())
                delivered = slot.wait(remaining) and _delivered(slot)
                if not slot.done and connection is not None:
                    connection.forget(request_id)
            (good if delivered else bad).append(target)
        return good, bad

    def _connection_for(self, target: Any) -> Connection:
        raise NotImplementedError


def _delivered(slot: Reply) -> bool:
    try:
        return resolve(slot) is True
    except RpcError:
        return False

"""Node discovery: where a node listens, from a static map or from an external source.

``client_config_per_node`` is a ``{node: port}`` / ``{node: (driver, port)}`` map, or any object
with ``get_config(node) -> (driver, port)`` (gen_rpc's external source; whatever it raises
becomes ``BadRpc(("external_source_error", ...))``). If that object also has ``publish`` and
``withdraw``, a node that uses it announces itself there while it runs; a node that cannot
announce itself does not start (``BadRpc(("external_source_error", ...))`` from ``start()``).

:class:`EtcdSource` is such a source, backed by etcd (v3, through its JSON gateway, with nothing
but the standard library): a node publishes ``name -> {"tcp": port, "ssl": port}`` under a lease
it keeps alive; when the node dies, the lease expires and the entry disappears.

::

    source = EtcdSource("http://127.0.0.1:2379", ttl=10)
    node = genrpc_actors.start("a@10.0.0.5", client_config_per_node=source)
"""

from __future__ import annotations

import base64
import json
import logging
import threading
import urllib.error
import urllib.request
from typing import Any

__all__ = ["EtcdSource"]

logger = logging.getLogger("genrpc_actors.discovery")


def _b64(text: str) -> str:
    return base64.b64encode(text.encode()).decode()


class EtcdSource:
    """Publish and resolve nodes in etcd; ``prefer`` is the driver to use when both are listed."""

    def __init__(
        self,
        url: str = "http://127.0.0.1:2379",
        *,
        prefix: str = "/genrpc/nodes/",
        ttl: int = 10,
        prefer: str = "tcp",
        timeout: float = 2.0,
    ) -> None:
        if not url.startswith(("http://", "https://")):
            raise ValueError(f"url must be an http(s) URL of etcd's client port, not {url!r}")
        if isinstance(ttl, bool) or not isinstance(ttl, int) or ttl < 2:  # noqa: PLR2004
            raise ValueError(f"ttl must be an int >= 2 seconds, not {ttl!r}")
        if prefer not in ("tcp", "ssl"):
            raise ValueError("prefer must be 'tcp' or 'ssl'")
        self.url, self.prefix, self.ttl = url.rstrip("/"), prefix, ttl
        self.prefer, self.timeout = prefer, timeout
        self._leases: dict[str, tuple[str, threading.Event, threading.Thread]] = {}
        self._lock = threading.Lock()

    def __repr__(self) -> str:
        return f"<EtcdSource {self.url} prefix={self.prefix!r} ttl={self.ttl}>"

    def __getstate__(self) -> dict[str, Any]:  # a config travels to LocalNode processes
        return {k: getattr(self, k) for k in ("url", "prefix", "ttl", "prefer", "timeout")}

    def __setstate__(self, state: dict[str, Any]) -> None:
        self.__init__(state.pop("url"), **state)  # type: ignore[misc]

    # -- the external-source protocol ----------------------------------------------------------

    def get_config(self, node: str) -> tuple[str, int]:
        """``(driver, port)`` of ``node``; ``LookupError`` if it is not (or no longer) there."""
        reply = self._post("/v3/kv/range", {"key": _b64(self.prefix + node)})
        kvs = reply.get("kvs") or []
        if not kvs:
            raise LookupError(f"{node} is not registered in {self.url}")
        ports = json.loads(base64.b64decode(kvs[0]["value"]))
        for driver in (self.prefer, "ssl" if self.prefer == "tcp" else "tcp"):
            if ports.get(driver):
                return driver, int(ports[driver])
        raise LookupError(f"{node} publishes no port")

    def publish(self, node: str, ports: dict[str, int]) -> None:
        """Announce ``node`` under a lease kept alive by a thread until :meth:`withdraw`."""
        lease = self._post("/v3/lease/grant", {"TTL": self.ttl})["ID"]
        value = _b64(json.dumps(ports))
        self._post("/v3/kv/put", {"key": _b64(self.prefix + node), "value": value, "lease": lease})
        stop = threading.Event()
        thread = threading.Thread(
            target=self._keep_alive,
            args=(node, lease, stop),
            name=f"genrpc-etcd-{node}",
            daemon=True,
        )
        with self._lock:
            self._leases[node] = (lease, stop, thread)
        thread.start()
        logger.info("event=published node=%s ports=%s url=%s", node, ports, self.url)

    def withdraw(self, node: str) -> None:
        """Remove ``node`` at once (its lease is revoked) and stop keeping it alive."""
        with self._lock:
            entry = self._leases.pop(node, None)
        if entry is None:
            return
        lease, stop, thread = entry
        stop.set()
        thread.join()
        try:
            self._post("/v3/lease/revoke", {"ID": lease})
        except OSError as exc:
            logger.warning("event=withdraw_failed node=%s reason=%r", node, exc)

    # -- plumbing --------------------------------------------------------------------------------

    def _keep_alive(self, node: str, lease: str, stop: threading.Event) -> None:
        while not stop.wait(self.ttl / 3):
            try:
                self._post("/v3/lease/keepalive", {"ID": lease})
            except OSError as exc:
                logger.warning("event=keepalive_failed node=%s reason=%r", node, exc)

    def _post(self, path: str, body: dict[str, Any]) -> dict[str, Any]:
        """etcd's JSON answer; an ``OSError`` that names etcd's URL and the cause if there is
        none (the node that cannot publish itself fails ``start()`` with it)."""
        request = urllib.request.Request(  # noqa: S310 - the URL scheme is checked in __init__
            self.url + path,
            data=json.dumps(body).encode(),
            headers={"Content-Type": "application/json"},
            method="POST",
        )
        try:
            with urllib.request.urlopen(request, timeout=self.timeout) as response:  # noqa: S310
                result: dict[str, Any] = json.loads(response.read() or b"{}")
        except urllib.error.HTTPError as exc:
            raise OSError(f"etcd at {self.url} answered {path} with HTTP {exc.code}") from exc
        except OSError as exc:  # URLError included: it carries the socket's error as .reason
            raise OSError(f"cannot reach etcd at {self.url}: {_why(exc)}") from exc
        return result


def _why(exc: OSError) -> str:
    """The bottom of an ``OSError`` (``connection refused``, ``timed out``), not its wrapping."""
    reason = exc.reason if isinstance(exc, urllib.error.URLError) else exc
    if isinstance(reason, OSError) and reason.strerror:
        return reason.strerror.lower()
    return str(reason) or type(reason).__name__

"""Where and how a node reaches another: the configuration's map (or external source) and the
node's own settings, as the ``Endpoint`` of one outgoing connection."""

from __future__ import annotations

import ssl
from collections.abc import Mapping
from typing import Any

from genrpc_actors._client._connecting import Endpoint
from genrpc_actors._config import Config
from genrpc_actors._errors import BadRpc
from genrpc_actors._node._requests import node_name

__all__ = ["endpoint_for", "keepalive_of"]


def keepalive_of(config: Config) -> tuple[int, int, int]:
    """``(idle, interval, count)`` of TCP keepalive."""
    c = config
    return c.socket_keepalive_idle, c.socket_keepalive_interval, c.socket_keepalive_count


def endpoint_for(
    config: Config,
    local_name: str,
    cookie: bytes,
    client_tls: ssl.SSLContext | None,
    target: Any,
) -> Endpoint:
    """The endpoint of ``target`` (``node`` or ``(node, key)``): its driver and port from
    ``client_config_per_node`` (a map, or an external source whose failure is
    ``BadRpc(("external_source_error", ...))``), its host from its name."""
    name = node_name(target)
    per_node = config.client_config_per_node
    if isinstance(per_node, Mapping):
        driver, port = config.client_target(name)
    else:
        try:
            driver, port = per_node.get_config(name)
        except Exception as exc:  # noqa: BLE001 - the source's failure, reported as such
            raise BadRpc(("external_source_error", repr(exc))) from None
    tls = None
    if driver == "ssl":
        if client_tls is None:
            raise BadRpc(("tls", "ssl_client_options has no certificates"))
        tls = client_tls
    elif driver != "tcp":
        raise BadRpc(("unsupported_driver", driver))
    c = config
    return Endpoint(
        target=name,
        host=name.partition("@")[2],
        port=port,
        local_name=local_name,
        cookie=cookie,
        connect_timeout=c.connect_timeout,
        auth_timeout=c.authentication_timeout,
        send_timeout=c.send_timeout,
        inactivity=c.client_inactivity_timeout,
        keepalive=keepalive_of(c),
        max_frame=c.max_frame_size,
        tls=tls,
    )

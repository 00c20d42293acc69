"""Observability: a node's figures as Prometheus metrics, served over HTTP.

``_collector`` turns what a node keeps (``genrpc_actors._node._counters.MetricsSource``) into
metric families when a scrape asks; ``_serving`` serves them at ``/metrics`` on
``listen_address:metrics_port``, one registry per node, so that several nodes in one process
never share one. The package plugs ``serve`` into the node layer
(``genrpc_actors._node._counters.install``): the node layer never imports this one.
``prometheus_client`` (the ``metrics`` extra) is imported only by a node that serves metrics.
"""

from __future__ import annotations

from genrpc_actors._errors import ConfigError
from genrpc_actors._node._counters import MetricsServer, MetricsSource

__all__ = ["serve"]


def serve(source: MetricsSource, host: str, port: int) -> MetricsServer:
    """Serve ``source``'s metrics on ``host:port`` (0: a free port) until stopped;
    ``ConfigError`` naming ``metrics_port`` if that cannot be done."""
    try:
        from genrpc_actors._observability import _serving  # noqa: PLC0415 - the optional extra
    except ModuleNotFoundError as exc:
        if exc.name is None or not exc.name.startswith("prometheus_client"):
            raise
        raise ConfigError(
            "metrics_port",
            "serving metrics needs prometheus_client: pip install 'genrpc-actors[metrics]'",
        ) from None
    return _serving.MetricsEndpoint.start(source, host, port)

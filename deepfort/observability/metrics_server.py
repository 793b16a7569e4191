"""The metrics registry on a port of its own, without auth, for a Prometheus that has no API key
(``observability.metrics_port``)."""

from __future__ import annotations

import threading
from wsgiref.simple_server import WSGIServer

from prometheus_client import start_http_server

from deepfort.observability.metrics import Metrics


class MetricsServer:
    """prometheus_client's HTTP server on a daemon thread; :meth:`close` stops it and frees the port."""

    def __init__(self, server: WSGIServer, thread: threading.Thread) -> None:
        self._server = server
        self._thread = thread

    @property
    def port(self) -> int:
        """The bound port (the one the OS chose when asked for port 0)."""
        return int(self._server.server_address[1])

    def close(self) -> None:
        self._server.shutdown()
        self._server.server_close()
        self._thread.join()


def start_metrics_server(metrics: Metrics, port: int, host: str = "0.0.0.0") -> MetricsServer:
    """Serve ``metrics`` at ``http://host:port/metrics`` (any path answers), without auth."""
    server, thread = start_http_server(port, addr=host, registry=metrics.registry)
    return MetricsServer(server, thread)

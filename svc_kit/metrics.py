"""Prometheus metrics for RPCs and database pools, and the HTTP endpoint that serves them.

Every metric is defined once, at import, in the default registry: tests start many servers in
one process, and prometheus_client refuses to register a name twice. Per-server values are told
apart by the ``service`` label, not by separate metric objects.
"""

from __future__ import annotations

import socket
import threading
import weakref
from collections.abc import Iterable
from socketserver import ThreadingMixIn
from typing import Any
from wsgiref.simple_server import WSGIRequestHandler, WSGIServer, make_server

from prometheus_client import REGISTRY, Counter, Histogram, make_wsgi_app
from prometheus_client.core import GaugeMetricFamily, Metric
from prometheus_client.registry import Collector
from sqlalchemy.ext.asyncio import AsyncEngine
from sqlalchemy.pool import QueuePool

RPC_REQUESTS = Counter(
    "rpc_requests_total",
    "RPCs served, by final gRPC status code.",
    ["service", "method", "code"],
)
RPC_LATENCY = Histogram(
    "rpc_latency_seconds",
    "Time from the handler's start to its last response, in seconds.",
    ["service", "method"],
    # A ledger write on SQLite takes about a millisecond; a provider call can take seconds.
    buckets=(0.0005, 0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5, 5.0),
)


class _PoolCollector(Collector):
    """Reads pool gauges from registered engines at scrape time."""

    def __init__(self) -> None:
        self._lock = threading.Lock()
        # Weak references: a test's disposed engine must not be kept alive by the metrics.
        self._engines: dict[str, weakref.ref[AsyncEngine]] = {}

    def bind(self, name: str, engine: AsyncEngine) -> None:
        with self._lock:
            self._engines[name] = weakref.ref(engine)

    def collect(self) -> Iterable[Metric]:
        size = GaugeMetricFamily("db_pool_size", "Connections the pool keeps.", labels=["pool"])
        out = GaugeMetricFamily(
            "db_pool_checked_out", "Connections in use right now.", labels=["pool"]
        )
        overflow = GaugeMetricFamily(
            "db_pool_overflow", "Connections open beyond the pool size.", labels=["pool"]
        )
        with self._lock:
            engines = [(name, ref()) for name, ref in self._engines.items()]
        for name, engine in engines:
            pool = engine.pool if engine is not None else None
            # Only QueuePool and its async variant have sizes; StaticPool (in-memory SQLite)
            # holds one connection forever.
            if not isinstance(pool, QueuePool):
                continue
            size.add_metric([name], float(pool.size()))
            out.add_metric([name], float(pool.checkedout()))
            # QueuePool reports negative overflow while the pool is not yet full.
            overflow.add_metric([name], float(max(pool.overflow(), 0)))
        return [size, out, overflow]


_POOLS = _PoolCollector()
REGISTRY.register(_POOLS)


class _MetricsServer(ThreadingMixIn, WSGIServer):
    """prometheus_client's own server polls every 0.5 s on shutdown; this one is ours to tune."""

    daemon_threads = True


class _MetricsServer6(_MetricsServer):
    address_family = socket.AF_INET6


class _QuietHandler(WSGIRequestHandler):
    def log_message(self, format: str, *args: Any) -> None:
        """Scrapes every few seconds would flood stderr with non-JSON lines."""


_servers_lock = threading.Lock()
_servers: dict[int, WSGIServer] = {}


def register_pool(name: str, engine: AsyncEngine) -> None:
    """Expose ``engine``'s pool as ``db_pool_*{pool=name}``; a second call re-binds the name."""
    _POOLS.bind(name, engine)


def start_metrics_server(addr: str) -> int | None:
    """Serve /metrics over plain HTTP on "host:port" ("" disables). Returns the bound port."""
    if not addr:
        return None
    host, sep, port_text = addr.rpartition(":")
    if not sep or not port_text.isdigit():
        raise ValueError(f"metrics address {addr!r} is not host:port")
    # ":9090" means every interface, as for any listener; the operator wrote it explicitly.
    bind_host = host.strip("[]") or "0.0.0.0"  # noqa: S104
    server_class = _MetricsServer6 if ":" in bind_host else _MetricsServer
    server = make_server(
        bind_host, int(port_text), make_wsgi_app(), server_class, handler_class=_QuietHandler
    )
    port = int(server.server_port)
    # serve_forever's default 0.5 s poll would make every stop (and test) wait that long.
    thread = threading.Thread(
        target=server.serve_forever,
        kwargs={"poll_interval": 0.05},
        name=f"metrics-{port}",
        daemon=True,
    )
    thread.start()
    with _servers_lock:
        _servers[port] = server
    return port


def stop_metrics_server(port: int) -> None:
    """Stop the server ``start_metrics_server`` returned ``port`` for; unknown ports are ignored."""
    with _servers_lock:
        server = _servers.pop(port, None)
    if server is not None:
        server.shutdown()
        server.server_close()

"""grpc.aio bootstrap shared by every service: interceptors, TLS, health, reflection, shutdown.

A service's ``__main__`` builds its settings, engine and servicers, then hands them to
``ServiceHost`` as ``ServiceBinding``s and calls ``run_until_signalled``. Everything the three
services would otherwise copy lives here once.

Health: the overall service ("") and every bound service follow one readiness probe (the
service's database ping). Envoy's ``grpc_health_check`` reads it, so a replica whose database
is gone stops receiving traffic instead of failing every call.

Side listeners: a service may serve something that is not gRPC from the same process and loop
(identity answers Envoy's ext_authz over HTTP/1.1). ``ServiceHost(side_listeners=[...])`` starts
each with the servers, hands it the host's readiness (``is_serving``, what the gRPC health service
reports) for health checks of its own, publishes its port in the ports file under its ``name``
(null when it is configured off), and stops it after the gRPC servers have drained.

Callers: over mTLS, only the SPIFFE ids in ``settings.allowed_peers`` may call anything on any
port, health and reflection included (``svc_kit.peers``). Certificate files are re-read for new
connections when they change (``svc_kit.tls``), so a rotation needs no restart.
"""

from __future__ import annotations

import asyncio
import gc
import json
import logging
import os
import signal
from collections.abc import Awaitable, Callable, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Protocol

import grpc
import grpc.aio
from grpc_health.v1 import health, health_pb2, health_pb2_grpc
from grpc_reflection.v1alpha import reflection, reflection_pb2_grpc

from svc_kit.grpc_errors import ErrorMapper, ErrorMappingInterceptor
from svc_kit.metrics import start_metrics_server, stop_metrics_server
from svc_kit.observability import ObservabilityInterceptor
from svc_kit.peers import PeerAllowList, PeerCheckedRegistrar, peer_allow_list
from svc_kit.settings import ServiceSettings
from svc_kit.tls import server_credentials

_log = logging.getLogger(__name__)
_MAX_MESSAGE_BYTES = 16 * 1024 * 1024
_SERVING = health_pb2.HealthCheckResponse.SERVING
_NOT_SERVING = health_pb2.HealthCheckResponse.NOT_SERVING
_SERVER_OPTIONS = [
    # grpc sets SO_REUSEPORT by default, so a stray process bound to the same port
    # would silently take part of the traffic (edge.md). Fail to bind instead.
    ("grpc.so_reuseport", 0),
    ("grpc.max_send_message_length", _MAX_MESSAGE_BYTES),
    ("grpc.max_receive_message_length", _MAX_MESSAGE_BYTES),
]


@dataclass(frozen=True)
class ServiceBinding:
    """One gRPC service to serve: its full proto name and how to add its servicer."""

    full_name: str
    add_to_server: Callable[[grpc.aio.Server], None]
    intercepted: bool = True
    """False for a hot-path service that maps its own errors and keeps its own metrics
    (identity's ext_authz Check): the shared interceptors wrap every call in two
    handlers and an async context manager, which cost as much as the Check itself.
    With ``ServiceHost(hot_listen_addr=...)`` such services get a listener of their
    own, a grpc.aio server with no interceptors at all; otherwise they share the
    main server and the interceptors let them through untouched. Either way such a
    service checks its callers itself, against ``ServiceHost.peers``-equivalent
    ``svc_kit.peers.peer_allow_list(settings, domain)``: nothing else does it for them."""


class SideListener(Protocol):
    """A listener that is not gRPC, run by ``ServiceHost`` alongside its servers."""

    @property
    def name(self) -> str:
        """Its key in the ports file (``authz_http``); unique within the host."""
        ...

    async def start(self, serving: Callable[[], bool]) -> int | None:
        """Bind and serve; the bound port, or None when configured off.

        ``serving()`` is the host's readiness right now: False before the first probe
        passes, while the probe fails, and from the moment ``stop`` begins.
        """
        ...

    async def stop(self) -> None:
        """Stop accepting and close every connection; called once, after ``start``."""
        ...


_RESERVED_PORT_KEYS = frozenset({"grpc", "hot", "metrics", "pid"})


class ServiceHost:
    """Owns one grpc.aio server for a service, from ``start`` to ``stop``."""

    def __init__(
        self,
        *,
        name: str,
        settings: ServiceSettings,
        bindings: Sequence[ServiceBinding],
        error_mapper: ErrorMapper,
        health_probe: Callable[[], Awaitable[bool]] | None = None,
        on_start: Sequence[Callable[[], Awaitable[None]]] = (),
        on_stop: Sequence[Callable[[], Awaitable[None]]] = (),
        hot_listen_addr: str = "",
        side_listeners: Sequence[SideListener] = (),
    ) -> None:
        names = [listener.name for listener in side_listeners]
        clash = _RESERVED_PORT_KEYS.intersection(names) or len(set(names)) != len(names)
        if clash:
            raise ValueError(f"{name}: side listener names must be unique and new: {names}")
        self.name = name
        self._side_listeners = tuple(side_listeners)
        self._side_ports: dict[str, int | None] = {}
        self._side_started: list[SideListener] = []  # to stop, each once
        self._hot_listen_addr = hot_listen_addr
        self._hot_server: grpc.aio.Server | None = None
        self._hot_port = 0
        self._settings = settings
        self._bindings = tuple(bindings)
        self._error_mapper = error_mapper
        self._health_probe = health_probe
        self._on_start = tuple(on_start)
        self._on_stop = tuple(on_stop)
        self._server: grpc.aio.Server | None = None
        self._peers = peer_allow_list(settings, error_mapper.domain)
        self._health = health.aio.HealthServicer()
        self._probe_task: asyncio.Task[None] | None = None
        self._healthy: bool | None = None
        self._port = 0
        self._metrics_port: int | None = None
        self._stopped = False

    @property
    def port(self) -> int:
        """The bound gRPC port; valid after ``start``."""
        if self._server is None:
            raise RuntimeError(f"{self.name}: the server is not started")
        return self._port

    @property
    def hot_port(self) -> int | None:
        """The bound port of the hot-path listener; None when there is none."""
        return self._hot_port if self._hot_server is not None else None

    @property
    def side_ports(self) -> dict[str, int | None]:
        """Each side listener's bound port (None: configured off); valid after ``start``."""
        return dict(self._side_ports)

    def is_serving(self) -> bool:
        """True while the health service reports SERVING (the probe passes, no stop yet)."""
        return self._healthy is True and not self._stopped

    @property
    def peers(self) -> PeerAllowList | None:
        """Who may call; None when anyone may (plaintext, or ``allowed_peers=["*"]``)."""
        return self._peers

    @property
    def metrics_port(self) -> int | None:
        """The bound /metrics port, or None when metrics are disabled."""
        return self._metrics_port

    async def start(self) -> int:
        """Build, bind and start the server(s). Returns the main server's bound port."""
        if self._server is not None:
            raise RuntimeError(f"{self.name}: already started")
        hot = [b for b in self._bindings if not b.intercepted]
        separate = bool(self._hot_listen_addr and hot)
        main = [b for b in self._bindings if b.intercepted] if separate else list(self._bindings)
        bypass = () if separate else tuple(f"/{b.full_name}/" for b in hot)
        server = grpc.aio.server(
            interceptors=[
                # Order matters: observability must see the status the error mapper chose.
                ObservabilityInterceptor(self.name, bypass=bypass),
                # It also refuses callers not on the allow-list, before any handler runs.
                ErrorMappingInterceptor(
                    self._error_mapper,
                    bypass=bypass,
                    refuse=self._peers.refusal if self._peers is not None else None,
                ),
            ],
            options=_SERVER_OPTIONS,
        )
        for binding in main:
            binding.add_to_server(server)
        health_pb2_grpc.add_HealthServicer_to_server(self._health, server)
        names = [b.full_name for b in main]
        reflection.enable_server_reflection(
            [*names, health.SERVICE_NAME, reflection.SERVICE_NAME], server
        )
        self._port = self._bind(server, self._settings.listen_addr)
        self._server = server
        if separate:
            self._hot_server = self._hot(hot)
        # Background work (writers, sweepers) starts on the serving loop, before traffic.
        for hook in self._on_start:
            await hook()
        # Probe once before serving so the first health check already tells the truth.
        await self._apply_health(await self._probe())
        await server.start()
        if self._hot_server is not None:
            await self._hot_server.start()
        try:
            for listener in self._side_listeners:
                self._side_ports[listener.name] = await listener.start(self.is_serving)
                self._side_started.append(listener)
            self._metrics_port = start_metrics_server(self._settings.metrics_addr)
        except Exception:
            await self._stop_servers(None)
            await self._stop_side_listeners()
            raise
        if self._settings.ports_file:
            self._write_ports_file(Path(self._settings.ports_file))
        if self._health_probe is not None:
            self._probe_task = asyncio.create_task(
                self._probe_loop(), name=f"{self.name}-health-probe"
            )
        return self._port

    def _write_ports_file(self, path: Path) -> None:
        """Publish the bound ports, atomically: a reader sees the whole file or none.

        A supervisor (scripts/run_stack.py, tests) starts services on port 0 and
        learns where they listen from here, so nothing races for a fixed port.
        """
        ports = {
            "grpc": self._port,
            "hot": self.hot_port,
            "metrics": self._metrics_port,
            **self._side_ports,
            "pid": os.getpid(),
        }
        path.parent.mkdir(parents=True, exist_ok=True)
        tmp = path.with_name(f".{path.name}.{os.getpid()}.tmp")
        tmp.write_text(json.dumps(ports) + "\n", encoding="utf-8")
        tmp.replace(path)

    def _hot(self, bindings: Sequence[ServiceBinding]) -> grpc.aio.Server:
        """The hot-path listener: those services and health, and nothing per call."""
        server = grpc.aio.server(options=_SERVER_OPTIONS)
        for binding in bindings:
            binding.add_to_server(server)  # checks its own callers (ServiceBinding.intercepted)
        # Envoy health-checks this cluster too; same servicer, same truth. Reflection
        # costs nothing per call and lets buf curl and grpcurl talk to it. Both are
        # wrapped at registration, so the hot services pay nothing for their check.
        # Any: the registrar stands in for the server, which the stubs cannot express.
        checked: Any = server if self._peers is None else PeerCheckedRegistrar(server, self._peers)
        health_pb2_grpc.add_HealthServicer_to_server(self._health, checked)
        # Not enable_server_reflection: it picks the sync servicer for anything that is
        # not a grpc.aio.Server, and the registrar is not one.
        names = [*(b.full_name for b in bindings), health.SERVICE_NAME, reflection.SERVICE_NAME]
        reflection_pb2_grpc.add_ServerReflectionServicer_to_server(  # type: ignore[no-untyped-call]
            reflection.aio.ReflectionServicer(names), checked
        )
        self._hot_port = self._bind(server, self._hot_listen_addr)
        return server

    async def _stop_servers(self, grace_s: float | None) -> None:
        servers = [s for s in (self._server, self._hot_server) if s is not None]
        await asyncio.gather(*(s.stop(grace_s) for s in servers))

    async def _stop_side_listeners(self) -> None:
        """Stop those that started; one failing must not leave the others listening."""
        started, self._side_started = self._side_started, []
        results = await asyncio.gather(*(x.stop() for x in started), return_exceptions=True)
        for listener, result in zip(started, results, strict=True):
            if isinstance(result, Exception):
                _log.error("side listener %s failed to stop", listener.name, exc_info=result)

    def _bind(self, server: grpc.aio.Server, addr: str) -> int:
        s = self._settings
        try:
            if s.plaintext:
                port = server.add_insecure_port(addr)
            else:
                creds = server_credentials(s.tls_cert_file, s.tls_key_file, s.tls_ca_file)
                port = server.add_secure_port(addr, creds)
        except RuntimeError as exc:
            raise RuntimeError(f"{self.name}: cannot listen on {addr}: {exc}") from exc
        if port == 0 and not addr.startswith("unix"):
            raise RuntimeError(f"{self.name}: cannot listen on {addr}")
        return port

    async def _probe(self) -> bool:
        if self._health_probe is None:
            return True
        try:
            async with asyncio.timeout(self._settings.health_probe_interval_s):
                return await self._health_probe()
        except Exception:  # noqa: BLE001 - a failing probe means "not ready", not a crash
            _log.warning("health probe failed", exc_info=True)
            return False

    async def _probe_loop(self) -> None:
        while True:
            await asyncio.sleep(self._settings.health_probe_interval_s)
            await self._apply_health(await self._probe())

    async def _apply_health(self, healthy: bool) -> None:
        if healthy == self._healthy:
            return
        if self._healthy is not None or not healthy:
            _log.log(
                logging.INFO if healthy else logging.WARNING,
                "health is now %s",
                "SERVING" if healthy else "NOT_SERVING",
            )
        self._healthy = healthy
        status = _SERVING if healthy else _NOT_SERVING
        for service in ("", *(b.full_name for b in self._bindings)):
            await self._health.set(service, status)

    async def stop(self, grace_s: float | None = None) -> None:
        """Report NOT_SERVING, let in-flight RPCs finish within the grace, run on_stop hooks."""
        if self._stopped:
            return
        self._stopped = True
        if self._probe_task is not None:
            self._probe_task.cancel()
            await asyncio.gather(self._probe_task, return_exceptions=True)
        # Marks every service NOT_SERVING and ignores later set() calls.
        await self._health.enter_graceful_shutdown()
        grace = self._settings.shutdown_grace_s if grace_s is None else grace_s
        await self._stop_servers(grace)
        # After the drain: Envoy's in-flight requests still need their checks answered, and
        # side listeners' health checks already say NOT_SERVING (is_serving).
        await self._stop_side_listeners()
        if self._metrics_port is not None:
            # Joins the server thread: keep that off the event loop.
            await asyncio.to_thread(stop_metrics_server, self._metrics_port)
        for hook in self._on_stop:
            try:
                await hook()
            except Exception:  # noqa: BLE001 - one failing hook must not skip the others
                _log.exception("on_stop hook failed")

    async def wait(self) -> None:
        """Return when the server has terminated."""
        if self._server is None:
            raise RuntimeError(f"{self.name}: the server is not started")
        # grpc.aio shares one future between wait_for_termination and stop: cancelling a
        # waiter would cancel it, and a later stop() then fails with CancelledError.
        await asyncio.shield(self._server.wait_for_termination())


async def run_until_signalled(host: ServiceHost) -> None:
    """Start ``host``, serve until SIGTERM or SIGINT, then stop it gracefully."""
    # Everything loaded so far (modules, protobuf descriptors, the schema, the pool) lives as
    # long as the process: move it out of the collector's reach, so the collections that
    # each request's short-lived objects set off do not walk it every time (about a tenth of
    # a batched posting's CPU in the ledger, measured with bench/ledger_batch.py).
    gc.collect()
    gc.freeze()
    port = await host.start()
    _log.info("listening", extra={"port": port, "metrics_port": host.metrics_port})
    loop = asyncio.get_running_loop()
    stop_requested = asyncio.Event()
    signals = (signal.SIGTERM, signal.SIGINT)
    for sig in signals:
        loop.add_signal_handler(sig, stop_requested.set)
    try:
        signalled = asyncio.create_task(stop_requested.wait())
        terminated = asyncio.create_task(host.wait())
        await asyncio.wait((signalled, terminated), return_when=asyncio.FIRST_COMPLETED)
        signalled.cancel()
        _log.info("stopping")
        await host.stop()
        await terminated
    finally:
        for sig in signals:
            loop.remove_signal_handler(sig)
    _log.info("stopped")

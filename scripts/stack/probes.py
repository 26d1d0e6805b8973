"""Is it up yet? Ports files, gRPC health over mTLS, Envoy's admin API.

Health is asked of each replica directly, presenting Envoy's certificate from
the dev PKI, rather than only read from Envoy's /clusters:

- the services accept only Envoy's SPIFFE id by default (<PREFIX>_ALLOWED_PEERS),
  and the supervisor, which generated that PKI, is the one local tool already
  holding every key of it, so borrowing Envoy's certificate grants nothing new;
- Envoy's configuration lists the replicas' ports, so they must be known
  and serving before Envoy starts, and a replica that never gets ready is then
  named with its own last lines instead of appearing as "no healthy upstream";
- asked directly, a service failing at start-up is seen in its own output.

Envoy's own view is checked after it starts (``envoy_upstreams``): every host of
every cluster must pass Envoy's active health check, which proves the path
Envoy -> service (its certificate, SAN checks, the allow-list) before the stack
is declared ready.
"""

from __future__ import annotations

import asyncio
import json
from collections.abc import Mapping
from pathlib import Path
from typing import Any

import grpc
import grpc.aio
import httpx
from grpc_health.v1 import health_pb2

from scripts.stack.children import Child, describe_exit

_POLL_S = 0.05
_RPC_TIMEOUT_S = 1.0
_Request = health_pb2.HealthCheckRequest
_Response = health_pb2.HealthCheckResponse
_SERVING = _Response.SERVING


class ChildExited(RuntimeError):
    """A process the supervisor was waiting for ended instead."""

    def __init__(self, child: Child, returncode: int) -> None:
        super().__init__(f"{child.name} exited ({describe_exit(returncode)}) before it was ready")
        self.child = child


def check_alive(child: Child) -> None:
    """Raise ``ChildExited`` when ``child`` has already ended."""
    if child.returncode is not None:
        raise ChildExited(child, child.returncode)


async def ports_file(path: Path, child: Child) -> dict[str, Any]:
    """The ports ``child`` published to ``path`` (written atomically by svc_kit.server)."""
    while True:
        check_alive(child)
        try:
            ports: dict[str, Any] = json.loads(path.read_text(encoding="utf-8"))  # noqa: ASYNC240 - a small local file, polled
        except (FileNotFoundError, ValueError):  # not written yet
            await asyncio.sleep(_POLL_S)
            continue
        return ports


def mtls(pki: Path, workload: str) -> grpc.ChannelCredentials:
    """Client credentials presenting ``workload``'s certificate and trusting the dev CA."""
    return grpc.ssl_channel_credentials(
        root_certificates=(pki / "ca.pem").read_bytes(),
        private_key=(pki / f"{workload}-key.pem").read_bytes(),
        certificate_chain=(pki / f"{workload}.pem").read_bytes(),
    )


async def serving(port: int, creds: grpc.ChannelCredentials, child: Child) -> None:
    """Return once grpc.health.v1 reports SERVING for the whole server on ``port``."""
    async with grpc.aio.secure_channel(f"127.0.0.1:{port}", creds) as channel:
        # The stubs type HealthStub for the sync API only; the raw method is typed.
        check: grpc.aio.UnaryUnaryMultiCallable[_Request, _Response]
        check = channel.unary_unary(
            "/grpc.health.v1.Health/Check",
            request_serializer=_Request.SerializeToString,
            response_deserializer=_Response.FromString,
        )
        while True:
            check_alive(child)
            try:
                reply = await check(_Request(), timeout=_RPC_TIMEOUT_S)
            except grpc.aio.AioRpcError:
                reply = None
            if reply is not None and reply.status == _SERVING:
                return
            await asyncio.sleep(_POLL_S * 2)


async def envoy_admin_url(path: Path, child: Child) -> str:
    """http://host:port of Envoy's admin API, from --admin-address-path."""
    while True:
        check_alive(child)
        text = path.read_text().strip() if path.exists() else ""  # noqa: ASYNC240 - polled
        if text:
            return f"http://{text}"
        await asyncio.sleep(_POLL_S)


async def envoy_listeners(
    client: httpx.AsyncClient, names: tuple[str, ...], child: Child
) -> dict[str, int]:
    """The bound port of each listener in ``names``, once all are bound and Envoy is LIVE."""
    while True:
        check_alive(child)
        try:
            ready = await client.get("/ready")
            reply = (await client.get("/listeners", params={"format": "json"})).json()
        except (httpx.HTTPError, ValueError):
            await asyncio.sleep(_POLL_S)
            continue
        ports = {
            one["name"]: int(one["local_address"]["socket_address"]["port_value"])
            for one in reply.get("listener_statuses", [])
        }
        if ready.status_code == 200 and all(ports.get(n) for n in names):
            return {n: ports[n] for n in names}
        await asyncio.sleep(_POLL_S)


def _healthy(host: Mapping[str, Any]) -> bool:
    # health_status holds eds_health_status plus a true flag per failure
    # (failed_active_health_check, pending_active_hc, failed_outlier_check, ...).
    status = host.get("health_status", {})
    flags = [v for k, v in status.items() if k != "eds_health_status" and v is True]
    return status.get("eds_health_status", "HEALTHY") == "HEALTHY" and not flags


async def envoy_upstreams(
    client: httpx.AsyncClient, expected: Mapping[str, int], child: Child
) -> None:
    """Return once each cluster in ``expected`` has that many healthy hosts in Envoy's view."""
    while True:
        check_alive(child)
        try:
            reply = (await client.get("/clusters", params={"format": "json"})).json()
        except (httpx.HTTPError, ValueError):
            reply = {}
        healthy = {
            cluster["name"]: sum(1 for h in cluster.get("host_statuses", []) if _healthy(h))
            for cluster in reply.get("cluster_statuses", [])
        }
        if all(healthy.get(name, 0) >= count for name, count in expected.items()):
            return
        await asyncio.sleep(_POLL_S * 2)

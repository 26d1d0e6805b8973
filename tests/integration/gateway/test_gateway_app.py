"""The gateway as ``python -m gateway_svc`` assembles it: a host Envoy health-checks over
mTLS, that only Envoy may call, and clients built from settings that reach the ledger and
identity through Envoy's internal listener with the gateway's certificate."""

from __future__ import annotations

import asyncio
import time
from datetime import UTC, datetime
from typing import Any

import grpc
import grpc.aio
import httpx
import pytest
from grpc_health.v1 import health_pb2

from gateway_svc.adapters.audit_client import AuditActor, AuditEvent, derive_event_id
from gateway_svc.app import build_parts
from tests.integration.gateway.support import GatewayStack, chart, new_merchant
from tests.integration.svc_kit.tls_support import health_status

pytestmark = pytest.mark.asyncio(loop_scope="package")


async def _gateway_health(stack: GatewayStack) -> str:
    """Envoy's view of the gateway cluster's one host, once its first check has run."""
    deadline = time.monotonic() + 5
    async with httpx.AsyncClient(base_url=stack.edge.envoy.admin_url, timeout=2) as admin:
        while True:
            reply = (await admin.get("/clusters?format=json")).json()
            [gateway] = [c for c in reply["cluster_statuses"] if c["name"] == "gateway"]
            status: dict[str, Any] = gateway["host_statuses"][0]["health_status"]
            if status.get("eds_health_status") == "HEALTHY" and len(status) == 1:
                return "HEALTHY"
            if time.monotonic() > deadline:
                return str(status)
            await asyncio.sleep(0.1)


async def test_envoy_sees_the_gateway_host_healthy(stack: GatewayStack) -> None:
    assert await _gateway_health(stack) == "HEALTHY"


async def _health(stack: GatewayStack, workload: str) -> int:
    credentials = stack.pki.tls(workload).credentials()
    async with grpc.aio.secure_channel(f"localhost:{stack.gateway.port}", credentials) as channel:
        return await health_status(channel)


async def test_only_envoy_may_call_the_gateway_directly(stack: GatewayStack) -> None:
    served = await _health(stack, "envoy")
    with pytest.raises(grpc.aio.AioRpcError) as refused:
        await _health(stack, "client")

    assert served == health_pb2.HealthCheckResponse.SERVING
    assert refused.value.code() == grpc.StatusCode.PERMISSION_DENIED


async def test_the_clients_built_from_settings_reach_the_ledger_and_identity_via_envoy(
    stack: GatewayStack,
) -> None:
    parts = await build_parts(stack.gateway_settings())
    merchant = new_merchant()
    event = AuditEvent(
        event_id=derive_event_id(merchant, "wiring"),
        event_time=datetime.now(UTC),
        actor=AuditActor.api_key("KeyId0123456789a", merchant),
        action="gateway.payment.create",
        target="payments/pay_wiring",
        merchant_id=merchant,
    )
    try:
        ids = await parts.ledger.ensure_accounts(chart(merchant))
        [recorded] = await parts.audit.record([event])
    finally:
        await parts.close()

    assert len(ids) == 3
    assert recorded.event_id == event.event_id
    assert parts.provider_configs == {}  # no provider URL configured

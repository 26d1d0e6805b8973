"""The gateway's audit client against the real identity, through a real Envoy: the gateway's
certificate appends to identity's hash chain, once per event id; every other workload, and
every API key at the REST edge, is refused."""

from __future__ import annotations

import uuid
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from dataclasses import replace
from datetime import UTC, datetime

import pytest

from gateway_svc.adapters.audit_client import (
    AuditActor,
    AuditClient,
    AuditEvent,
    AuditOutcome,
    AuditRefused,
    derive_event_id,
)
from identity_svc.service_layer.context import CallContext
from tests.integration.gateway.support import GatewayStack

pytestmark = pytest.mark.asyncio(loop_scope="package")


@asynccontextmanager
async def _audit(stack: GatewayStack, workload: str = "gateway") -> AsyncIterator[AuditClient]:
    client = stack.audit(workload)
    try:
        yield client
    finally:
        await client.close()


def _event(merchant: str = "mer_audit", **overrides: object) -> AuditEvent:
    payment = f"pay_{uuid.uuid4().hex[:12]}"
    event = AuditEvent(
        event_id=derive_event_id(merchant, payment, "gateway.payment.create"),
        event_time=datetime.now(UTC),
        actor=AuditActor.api_key("KeyId0123456789a", merchant),
        action="gateway.payment.create",
        target=f"payments/{payment}",
        merchant_id=merchant,
        request_id="req-123",
        source_address="203.0.113.7",
        details={"amount_minor": "1050", "currency": "EUR"},
    )
    return replace(event, **overrides)  # type: ignore[arg-type]


async def test_the_gateway_appends_through_envoy_and_the_chain_verifies(
    stack: GatewayStack,
) -> None:
    merchant = f"mer_{uuid.uuid4().hex[:10]}"
    events = [
        _event(merchant),
        _event(merchant, outcome=AuditOutcome.FAILURE, reason="PAYMENT_NOT_CAPTURABLE"),
    ]

    async with _audit(stack) as audit:
        recorded = await audit.record(events)

    identity = stack.services.identity
    page = await identity.list_audit_events(
        CallContext.system("test"), merchant_id=merchant, page_size=10, page_token=""
    )
    _, problems = await identity.verify_audit_log()
    assert [r.event_id for r in recorded] == [e.event_id for e in events]
    assert recorded[1].sequence == recorded[0].sequence + 1
    assert len(recorded[0].hash) == 64
    stored = {r.entry.event_id: r.entry for r in page.items}
    assert stored[events[1].event_id].reason == "PAYMENT_NOT_CAPTURABLE"
    assert stored[events[0].event_id].actor.id == "KeyId0123456789a"
    assert problems == []


async def test_a_retry_of_the_same_events_records_nothing_twice(stack: GatewayStack) -> None:
    event = _event()

    async with _audit(stack) as audit:
        first = await audit.record([event])
        second = await audit.record([event])

    assert first == second


async def test_the_gateway_recording_its_own_work_is_a_service_actor(stack: GatewayStack) -> None:
    event = _event(actor=AuditActor.service(), action="gateway.payment.reconcile")

    async with _audit(stack) as audit:
        [recorded] = await audit.record([event])

    assert recorded.event_id == event.event_id


async def test_an_event_id_reused_with_other_content_is_refused(stack: GatewayStack) -> None:
    event = _event()

    async with _audit(stack) as audit:
        await audit.record([event])
        with pytest.raises(AuditRefused) as refused:
            await audit.record([replace(event, target="payments/pay_other")])

    assert refused.value.reason == "EVENT_ID_REUSED"


async def test_an_action_named_for_another_service_is_refused(stack: GatewayStack) -> None:
    async with _audit(stack) as audit:
        with pytest.raises(AuditRefused) as refused:
            await audit.record([_event(action="identity.api_key.revoke")])

    assert refused.value.reason == "VALIDATION_FAILED"


@pytest.mark.parametrize("workload", ["client", "identity", "ledger"])
async def test_envoy_refuses_every_other_workloads_certificate(
    stack: GatewayStack, workload: str
) -> None:
    async with _audit(stack, workload) as audit:
        with pytest.raises(AuditRefused) as refused:
            await audit.record([_event()])

    assert refused.value.reason == "PERMISSION_DENIED"  # Envoy's RBAC, before identity


async def test_the_rest_edge_refuses_even_an_admin_key(stack: GatewayStack) -> None:
    edge = stack.edge
    async with edge.rest_client() as client:
        reply = await client.post(
            "/v1/audit-events:record", json={"events": []}, headers=edge.auth()
        )

    assert reply.status_code == 403
    assert reply.json()["details"][0]["reason"] == "PERMISSION_MISSING"

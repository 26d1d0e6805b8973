"""A create whose caller goes away mid-flow (the gRPC client disconnected, so the handler is
cancelled) still runs to the end: the payment settles, the response is stored with the key,
and the client's retry replays it instead of waiting out the 90 s lock."""

from __future__ import annotations

import asyncio

import pytest

from gateway_svc.domain.idempotency import RecoveryPoint
from gateway_svc.domain.payments import PaymentStatus
from gateway_svc.service_layer.unit_of_work import GatewayUnitOfWork
from tests.integration.gateway_store.conftest import Gateway
from tests.integration.gateway_store.gateway_support import render_payment
from tests.integration.gateway_store.test_service_create import create

CMD = create("cancelled-1")


async def key_point(gateway: Gateway) -> RecoveryPoint | None:
    async with GatewayUnitOfWork(gateway.runtime.engine) as uow:
        row = await uow.keys.get("m_1", CMD.request_id)
    return None if row is None else row.record.recovery_point


async def until_finished(gateway: Gateway) -> None:
    for _ in range(200):
        if await key_point(gateway) is RecoveryPoint.FINISHED:
            return
        await asyncio.sleep(0.01)
    raise AssertionError(f"the key never finished: {await key_point(gateway)}")


async def test_a_create_cancelled_during_the_provider_call_completes_and_the_retry_replays(
    gateway: Gateway,
) -> None:
    await gateway.sandbox.control.add_fault(
        provider="stripe", kind="latency", latency_ms=300, count=1, method="POST"
    )
    call = asyncio.create_task(gateway.service.create_payment(CMD, render_payment))
    for _ in range(100):  # until the payment is committed and the provider call is out
        if await key_point(gateway) is RecoveryPoint.PAYMENT_CREATED:
            break
        await asyncio.sleep(0.01)
    assert await key_point(gateway) is RecoveryPoint.PAYMENT_CREATED
    call.cancel()
    with pytest.raises(asyncio.CancelledError):
        await call

    await until_finished(gateway)
    retried = await gateway.service.create_payment(CMD, render_payment)
    assert retried.replayed and retried.response.status_code == 0
    payments = (await gateway.sandbox.control.state("stripe"))["payments"]
    assert len(payments) == 1  # one charge: the retry did not reach the provider
    async with GatewayUnitOfWork(gateway.runtime.engine) as uow:
        row = await uow.keys.get("m_1", CMD.request_id)
        assert row is not None and row.record.payment_id is not None
        payment = await uow.payments.get_any(row.record.payment_id)
        assert payment is not None and payment.status is PaymentStatus.CAPTURED
        holder, _ = await uow.payments.lease_of(payment.id)
    assert holder is None  # the lease was released: captures and refunds may proceed


async def test_a_create_cancelled_before_the_key_is_opened_still_stores_its_response(
    gateway: Gateway,
) -> None:
    call = asyncio.create_task(gateway.service.create_payment(CMD, render_payment))
    await asyncio.sleep(0)  # the flow's task has started, its first query not answered yet
    call.cancel()
    with pytest.raises(asyncio.CancelledError):
        await call
    await until_finished(gateway)
    retried = await gateway.service.create_payment(CMD, render_payment)
    assert retried.replayed and retried.response.status_code == 0

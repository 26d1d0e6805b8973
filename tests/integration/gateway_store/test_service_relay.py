"""The outbox relay: order within a payment, retries after a ledger outage, parking refusals,
and the ledger's balances after a mixed workload equal the payments' and the sandbox's."""

from __future__ import annotations

import logging

import pytest

from gateway_svc.domain.ledger_expected import (
    AccountTotals,
    RefundFacts,
    expected_balances,
)
from gateway_svc.domain.payments import CaptureMethod, PaymentStatus
from gateway_svc.domain.postings import FeeSchedule
from gateway_svc.domain.providers import RefundStatus as ViewRefundStatus
from gateway_svc.domain.refunds import Refund
from gateway_svc.service_layer.commands import CancelPayment, ListPayments
from gateway_svc.service_layer.unit_of_work import GatewayUnitOfWork
from tests.integration.gateway_store.conftest import Gateway, GatewayFactory
from tests.integration.gateway_store.gateway_support import render_payment, render_refund
from tests.integration.gateway_store.provider_callbacks_support import payment_facts
from tests.integration.gateway_store.test_service_create import card, create
from tests.integration.gateway_store.test_service_mutations import authorized, capture, refund


async def test_a_payments_postings_reach_the_ledger_in_the_order_they_were_written(
    gateway: Gateway,
) -> None:
    pid = await authorized(gateway)
    await gateway.service.capture_payment(capture(pid, 800), render_payment)
    await gateway.service.create_refund(refund(pid, 300, "r-1"), render_refund)
    await gateway.relay.drain()
    order = [rid.removeprefix(pid) for op, rid in gateway.ledger.calls if op != "ensure"]
    refund_id = next(r for r in gateway.ledger.by_request if r.startswith("re_")).split(":")[0]
    assert [r.replace(refund_id, "R") for r in order] == [
        ":authorize:hold",
        ":capture",
        ":provider_fee",
        "R:refund:hold",
        "R:refund:post",
        "R:refund:settle",
    ]


async def test_the_relay_retries_after_a_ledger_outage(gateway: Gateway) -> None:
    gateway.ledger.fail_next = 3
    pid = await authorized(gateway)
    await gateway.relay.drain()
    hold = f"{pid}:authorize:hold"
    assert hold in gateway.ledger.by_request
    tries = [op for op, _ in gateway.ledger.calls if op == "ensure"]
    assert len(tries) >= 5 + 1  # the chart of accounts, after the outage's failed tries
    async with GatewayUnitOfWork(gateway.runtime.engine) as uow:
        assert await uow.outbox.pending_count() == 0


async def test_a_refused_posting_is_parked_logged_and_blocks_its_payment_only(
    gateway: Gateway, caplog: pytest.LogCaptureFixture
) -> None:
    pid = await authorized(gateway, "a-1")
    gateway.ledger.refuse[f"{pid}:authorize:hold"] = "LIMIT_EXCEEDED"
    await gateway.service.capture_payment(capture(pid), render_payment)
    other = await authorized(gateway, "a-2")
    with caplog.at_level(logging.ERROR, logger="gateway_svc.service_layer.relay"):
        await gateway.relay.drain()
    assert f"{other}:authorize:hold" in gateway.ledger.by_request
    assert f"{pid}:capture" not in gateway.ledger.by_request  # waits behind its hold
    async with GatewayUnitOfWork(gateway.runtime.engine) as uow:
        [parked] = await uow.outbox.parked()
        assert parked.dedupe_key == f"{pid}:authorize:hold"
        assert "LIMIT_EXCEEDED" in parked.last_error
        assert await uow.outbox.pending_count(pid) == 3  # the hold, the capture, the fee
    assert any("parked" in r.getMessage() for r in caplog.records)


def _refund_facts(r: Refund) -> RefundFacts:
    return RefundFacts(r.id, r.merchant_id, r.currency, r.amount_minor,
                       ViewRefundStatus(r.status.value))  # fmt: skip


async def test_after_a_mixed_workload_the_ledger_equals_the_payments_and_the_sandbox(
    make_gateway: GatewayFactory,
) -> None:
    fees = FeeSchedule(bps=250, fixed_minor=30)
    gateway = make_gateway(fees=fees)
    service = gateway.service
    await service.create_payment(create("auto"), render_payment)
    await service.create_payment(
        create("declined", method=card("4000000000000002")), render_payment
    )
    await authorized(gateway, "held", 700)
    partial = await authorized(gateway, "partial", 2000)
    await service.capture_payment(capture(partial, 1500), render_payment)
    await service.create_refund(refund(partial, 400, "r-1"), render_refund)
    await service.create_refund(refund(partial, 100, "r-2"), render_refund)
    voided = await authorized(gateway, "voided", 900)
    await service.cancel_payment(CancelPayment("m_1", "key_1", voided), render_payment)
    await service.create_payment(create("other", merchant="m_2", currency="EUR"), render_payment)
    await gateway.relay.drain()

    payments = [
        v.payment
        for m in ("m_1", "m_2")
        for v in (await service.list_payments(ListPayments(m))).items
    ]
    refunds = [r for p in payments for r in (await service.list_refunds(p.merchant_id, p.id)).items]
    expected = expected_balances(
        [payment_facts(p) for p in payments],
        [_refund_facts(r) for r in refunds],
        {"m_1": fees, "m_2": fees},
    )
    actual = {code: gateway.ledger.totals.get(code, AccountTotals()) for code in expected}
    assert actual == expected
    assert set(gateway.ledger.totals) <= set(expected)
    assert len(expected) == 10  # five accounts for m_1/USD and five for m_2/EUR

    state = (await gateway.sandbox.control.state("stripe"))["payments"]
    by_ref = {p.provider_ref: p for p in payments if p.provider_ref}
    for ref, intent in state.items():
        p = by_ref[ref]
        assert (intent["captured"], intent["refunded"]) == (p.captured_minor, p.refunded_minor)
    assert {p.status for p in payments} == {
        PaymentStatus.CAPTURED, PaymentStatus.FAILED, PaymentStatus.AUTHORIZED,
        PaymentStatus.PARTIALLY_CAPTURED, PaymentStatus.CANCELED,
    }  # fmt: skip
    assert CaptureMethod.MANUAL in {p.capture_method for p in payments}

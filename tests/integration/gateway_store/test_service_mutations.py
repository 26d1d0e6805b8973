"""Capture, cancel and refunds: the state machine's refusals, the ledger's postings, and one
mutation of a payment at a time."""

from __future__ import annotations

import asyncio

import pytest

from gateway_svc.domain.attempts import Operation, Outcome
from gateway_svc.domain.errors import (
    IdempotencyKeyReused,
    PaymentAlreadyCaptured,
    PaymentNotCancelable,
    PaymentNotCapturable,
    PaymentNotFound,
    RefundExceedsCaptured,
)
from gateway_svc.domain.payments import CaptureMethod, PaymentStatus
from gateway_svc.domain.refunds import RefundStatus
from gateway_svc.service_layer.commands import CancelPayment, CapturePayment, CreateRefund
from tests.integration.gateway_store.conftest import Gateway
from tests.integration.gateway_store.gateway_support import render_payment, render_refund
from tests.integration.gateway_store.test_service_create import card, create


async def authorized(gateway: Gateway, key: str = "req-auth", amount: int = 1000) -> str:
    answer = await gateway.service.create_payment(
        create(key, amount=amount, capture=CaptureMethod.MANUAL), render_payment
    )
    assert answer.result is not None
    assert answer.result.payment.status is PaymentStatus.AUTHORIZED
    return answer.result.payment.id


def capture(
    pid: str, amount: int | None = None, key: str = "", merchant: str = "m_1"
) -> CapturePayment:
    return CapturePayment(merchant, "key_1", pid, amount, key)


def refund(pid: str, amount: int | None, key: str = "", merchant: str = "m_1") -> CreateRefund:
    return CreateRefund(merchant, "key_1", pid, amount, "requested_by_customer", key)


async def test_a_partial_capture_posts_the_captured_part_and_releases_the_rest(
    gateway: Gateway,
) -> None:
    pid = await authorized(gateway)
    answer = await gateway.service.capture_payment(capture(pid, 600, "cap-1"), render_payment)
    assert answer.result is not None
    p = answer.result.payment
    assert (p.status, p.captured_minor) == (PaymentStatus.PARTIALLY_CAPTURED, 600)
    assert [a.operation for a in answer.result.attempts] == [Operation.AUTHORIZE, Operation.CAPTURE]
    await gateway.relay.drain()
    clearing = gateway.ledger.totals["gw/m_1/USD/clearing"]
    assert (clearing.debits_posted, clearing.debits_pending) == (600, 0)
    state = await gateway.sandbox.control.state("stripe")
    [intent] = state["payments"].values()
    assert (intent["captured"], intent["released"]) == (600, 400)


async def test_a_second_capture_is_refused_before_any_provider_call(gateway: Gateway) -> None:
    pid = await authorized(gateway)
    await gateway.service.capture_payment(capture(pid), render_payment)
    stats_before = await gateway.sandbox.control.stats()
    with pytest.raises(PaymentAlreadyCaptured):
        await gateway.service.capture_payment(capture(pid), render_payment)
    assert await gateway.sandbox.control.stats() == stats_before
    view = await gateway.service.get_payment("m_1", pid)
    assert [a.operation for a in view.attempts].count(Operation.CAPTURE) == 1


async def test_capturing_a_failed_payment_is_refused(gateway: Gateway) -> None:
    declined = await gateway.service.create_payment(
        create(method=card("4000000000000002"), capture=CaptureMethod.MANUAL), render_payment
    )
    assert declined.result is not None
    with pytest.raises(PaymentNotCapturable):
        await gateway.service.capture_payment(capture(declined.result.payment.id), render_payment)


async def test_cancel_voids_the_hold_and_cancel_after_capture_is_refused(gateway: Gateway) -> None:
    pid = await authorized(gateway, "a-1")
    canceled = await gateway.service.cancel_payment(
        CancelPayment("m_1", "key_1", pid), render_payment
    )
    assert canceled.result is not None
    assert canceled.result.payment.status is PaymentStatus.CANCELED
    captured = await authorized(gateway, "a-2")
    await gateway.service.capture_payment(capture(captured), render_payment)
    with pytest.raises(PaymentNotCancelable):
        await gateway.service.cancel_payment(
            CancelPayment("m_1", "key_1", captured), render_payment
        )
    await gateway.relay.drain()
    voided = [tx for tx in gateway.ledger.holds() if tx.request_id.startswith(pid)]
    assert [tx.status for tx in voided] == ["VOIDED"]
    assert gateway.ledger.totals["gw/m_1/USD/clearing"].debits_pending == 0


async def test_two_concurrent_captures_reach_the_provider_once(gateway: Gateway) -> None:
    pid = await authorized(gateway)
    results = await asyncio.gather(
        gateway.service.capture_payment(capture(pid, 700, "cap-a"), render_payment),
        gateway.service.capture_payment(capture(pid, 300, "cap-b"), render_payment),
        return_exceptions=True,
    )
    captured = [r for r in results if not isinstance(r, BaseException)]
    refused = [r for r in results if isinstance(r, BaseException)]
    assert len(captured) == 1 and len(refused) == 1, results
    assert isinstance(refused[0], PaymentAlreadyCaptured)
    stats = await gateway.sandbox.control.stats()
    paths = stats["requests"]["stripe"]["paths"]
    capture_calls = sum(n for path, n in paths.items() if path.endswith("/capture"))
    assert capture_calls == 1, stats


async def test_multiple_partial_refunds_up_to_the_capture_then_over_refund_is_refused(
    gateway: Gateway,
) -> None:
    pid = await authorized(gateway)
    await gateway.service.capture_payment(capture(pid), render_payment)
    first = await gateway.service.create_refund(refund(pid, 300, "r-1"), render_refund)
    second = await gateway.service.create_refund(refund(pid, 500, "r-2"), render_refund)
    assert first.result is not None and second.result is not None
    assert [first.result.status, second.result.status] == [RefundStatus.SUCCEEDED] * 2
    with pytest.raises(RefundExceedsCaptured):
        await gateway.service.create_refund(refund(pid, 201, "r-3"), render_refund)
    last = await gateway.service.create_refund(refund(pid, None, "r-4"), render_refund)
    assert last.result is not None and last.result.amount_minor == 200
    view = await gateway.service.get_payment("m_1", pid)
    assert view.payment.refunded_minor == 1000
    page = await gateway.service.list_refunds("m_1", pid)
    assert [r.amount_minor for r in page.items] == [300, 500, 200]
    await gateway.relay.drain()
    refunds = gateway.ledger.totals["gw/m_1/USD/refunds"]
    assert (refunds.debits_posted, refunds.credits_posted, refunds.credits_pending) == (
        1000,
        1000,
        0,
    )
    assert gateway.ledger.totals["gw/m_1/USD/payable"].debits_posted == 1000
    assert sorted(set(gateway.audit.actions())) == [
        "gateway.payment.capture",
        "gateway.payment.create",
        "gateway.refund.create",
    ]


async def test_a_refund_replays_and_its_key_cannot_be_reused(gateway: Gateway) -> None:
    pid = await authorized(gateway)
    await gateway.service.capture_payment(capture(pid), render_payment)
    first = await gateway.service.create_refund(refund(pid, 100, "r-1"), render_refund)
    again = await gateway.service.create_refund(refund(pid, 100, "r-1"), render_refund)
    assert again.replayed and again.response == first.response
    with pytest.raises(IdempotencyKeyReused):
        await gateway.service.create_refund(refund(pid, 200, "r-1"), render_refund)
    assert len((await gateway.service.list_refunds("m_1", pid)).items) == 1


async def test_every_mutation_of_another_merchants_payment_is_not_found(gateway: Gateway) -> None:
    pid = await authorized(gateway)
    with pytest.raises(PaymentNotFound):
        await gateway.service.capture_payment(capture(pid, merchant="m_2"), render_payment)
    with pytest.raises(PaymentNotFound):
        await gateway.service.cancel_payment(CancelPayment("m_2", "k", pid), render_payment)
    with pytest.raises(PaymentNotFound):
        await gateway.service.create_refund(refund(pid, 1, merchant="m_2"), render_refund)
    with pytest.raises(PaymentNotFound):
        await gateway.service.list_refunds("m_2", pid)
    view = await gateway.service.get_payment("m_1", pid)
    assert view.payment.status is PaymentStatus.AUTHORIZED
    assert [a.outcome for a in view.attempts] == [Outcome.SUCCEEDED]

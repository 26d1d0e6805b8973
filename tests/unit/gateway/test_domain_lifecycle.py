"""The merchant's order status, one row per payment status, as the README quotes it."""

from __future__ import annotations

import pytest

from gateway_svc.domain import lifecycle
from gateway_svc.domain.lifecycle import OrderStatus, order_status
from gateway_svc.domain.payments import PaymentStatus
from tests.unit.gateway.domain_support import payment

S = PaymentStatus
EXPECTED = {
    S.CREATED: OrderStatus.NEW,
    S.REQUIRES_ACTION: OrderStatus.PROCESSING,
    S.AUTHORIZED: OrderStatus.PROCESSING,
    S.UNKNOWN: OrderStatus.PROCESSING,
    S.CAPTURED: OrderStatus.SUCCESS,
    S.PARTIALLY_CAPTURED: OrderStatus.SUCCESS,
    S.CANCELED: OrderStatus.FAILED,
    S.FAILED: OrderStatus.FAILED,
}


@pytest.mark.parametrize("status", list(S))
def test_each_payment_status_maps_to_one_order_status(status):
    assert order_status(payment(status)) is EXPECTED[status]


def test_the_docstring_table_says_what_the_function_does():
    doc = lifecycle.order_status.__doc__ or ""
    rows = {
        line.split()[0]: line.split()[1]
        for line in doc.splitlines()
        if line.strip() and line.split()[0] in {s.name for s in S}
    }
    assert rows == {s.name: o.value for s, o in EXPECTED.items()}


def test_a_refund_does_not_change_the_order_status():
    p = payment(S.CAPTURED)
    p.refunded_minor = p.captured_minor
    assert order_status(p) is OrderStatus.SUCCESS

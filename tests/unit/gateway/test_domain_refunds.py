"""Refund arithmetic: partial and several refunds, never more than was captured."""

from __future__ import annotations

import pytest

from gateway_svc.domain import errors
from gateway_svc.domain.events import RefundFailed, RefundSucceeded
from gateway_svc.domain.payments import Payment, PaymentStatus
from gateway_svc.domain.providers import Decline, DeclineCode, ProviderRefund
from gateway_svc.domain.providers import RefundStatus as ViewStatus
from gateway_svc.domain.refunds import (
    Refund,
    RefundStatus,
    apply_refund_view,
    fail,
    open_refund,
    refundable_minor,
    succeed,
)
from tests.unit.gateway.domain_support import AMOUNT, T1, payment

S = PaymentStatus
NO_FUNDS = Decline(DeclineCode.PROCESSING_ERROR, "refund failed", "charge_expired_for_refund")


def refund(p: Payment, existing: list[Refund], amount: int | None) -> Refund:
    return open_refund(p, existing, f"ref_{len(existing) + 1}", amount, T1)


def test_several_partial_refunds_add_up_to_the_captured_amount():
    p = payment(S.CAPTURED)
    done: list[Refund] = []
    for amount in (1_000, 2_500, None):
        r = refund(p, done, amount)
        succeed(p, r, T1, f"re_{r.id}")
        done.append(r)
    assert [r.amount_minor for r in done] == [1_000, 2_500, AMOUNT - 3_500]
    assert p.refunded_minor == AMOUNT and refundable_minor(p, done) == 0


def test_a_pending_refund_holds_its_amount_against_a_second_one():
    p = payment(S.CAPTURED)
    first = refund(p, [], AMOUNT - 100)
    assert first.status is RefundStatus.PENDING and p.refunded_minor == 0
    with pytest.raises(errors.RefundExceedsCaptured) as info:
        refund(p, [first], 101)
    assert info.value.metadata["refundable_minor"] == "100"
    assert refund(p, [first], 100).amount_minor == 100


def test_a_failed_refund_releases_its_amount():
    p = payment(S.CAPTURED)
    first = refund(p, [], AMOUNT)
    [event] = fail(first, NO_FUNDS, T1)
    assert isinstance(event, RefundFailed) and first.decline == NO_FUNDS
    assert refundable_minor(p, [first]) == AMOUNT and p.refunded_minor == 0


def test_a_partial_capture_is_refundable_only_up_to_what_was_captured():
    p = payment(S.PARTIALLY_CAPTURED)
    with pytest.raises(errors.RefundExceedsCaptured):
        refund(p, [], p.captured_minor + 1)
    assert refund(p, [], None).amount_minor == p.captured_minor


def test_a_fully_refunded_payment_refuses_another_refund():
    p = payment(S.CAPTURED)
    r = refund(p, [], None)
    succeed(p, r, T1)
    with pytest.raises(errors.RefundExceedsCaptured):
        refund(p, [r], None)


def test_a_refund_of_nothing_is_a_field_violation():
    with pytest.raises(errors.ValidationFailed) as info:
        refund(payment(S.CAPTURED), [], 0)
    assert [v.field for v in info.value.violations] == ["amount.minor_units"]


@pytest.mark.parametrize(
    ("status", "error"),
    [
        (S.CREATED, errors.PaymentNotRefundable),
        (S.REQUIRES_ACTION, errors.PaymentNotRefundable),
        (S.AUTHORIZED, errors.PaymentNotRefundable),
        (S.CANCELED, errors.PaymentNotRefundable),
        (S.FAILED, errors.PaymentNotRefundable),
        (S.UNKNOWN, errors.PaymentOutcomeUnknown),
    ],
)
def test_only_a_captured_payment_is_refundable(status, error):
    with pytest.raises(error) as info:
        refund(payment(status), [], None)
    assert info.value.metadata["status"] == status.value


def test_a_settled_refund_cannot_be_settled_again():
    p = payment(S.CAPTURED)
    r = refund(p, [], 500)
    succeed(p, r, T1)
    with pytest.raises(errors.IllegalTransition):
        succeed(p, r, T1)
    with pytest.raises(errors.IllegalTransition):
        fail(r, NO_FUNDS, T1)
    assert p.refunded_minor == 500


def test_a_refund_view_settles_once_and_the_same_view_again_emits_nothing():
    p = payment(S.CAPTURED)
    r = refund(p, [], 500)
    seen = ProviderRefund("re_1", ViewStatus.SUCCEEDED, 500)
    [event] = apply_refund_view(p, r, seen, T1)
    assert isinstance(event, RefundSucceeded) and r.provider_ref == "re_1"
    assert apply_refund_view(p, r, seen, T1) == []
    assert p.refunded_minor == 500


def test_a_pending_refund_view_changes_nothing_but_a_first_reference():
    p = payment(S.CAPTURED)
    r = refund(p, [], 500)
    assert apply_refund_view(p, r, ProviderRefund("re_1", ViewStatus.PENDING, 500), T1) == []
    assert r.status is RefundStatus.PENDING and r.provider_ref == "re_1"


@pytest.mark.parametrize(
    "seen",
    [
        ProviderRefund("re_1", ViewStatus.SUCCEEDED, 499),
        ProviderRefund("re_1", ViewStatus.FAILED, 500),
        ProviderRefund("re_1", ViewStatus.PENDING, 500),
        ProviderRefund("re_2", ViewStatus.SUCCEEDED, 500),
    ],
)
def test_a_refund_view_contradicting_a_settled_refund_conflicts(seen):
    p = payment(S.CAPTURED)
    r = refund(p, [], 500)
    succeed(p, r, T1, "re_1")
    with pytest.raises(errors.ProviderViewConflict):
        apply_refund_view(p, r, seen, T1)
    assert r.status is RefundStatus.SUCCEEDED and p.refunded_minor == 500


def test_a_failed_refund_view_without_a_reason_still_explains_itself():
    p = payment(S.CAPTURED)
    r = refund(p, [], 500)
    [event] = apply_refund_view(p, r, ProviderRefund("re_1", ViewStatus.FAILED, 500), T1)
    assert isinstance(event, RefundFailed) and r.decline is not None
    assert r.decline.code is DeclineCode.PROCESSING_ERROR

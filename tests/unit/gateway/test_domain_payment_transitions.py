"""Every transition of the payment state machine, legal and illegal, from every status.

The expected table is written out here rather than read from ``payments.TRANSITIONS``, so a
change to the machine has to change this test too.
"""

from __future__ import annotations

import copy
from collections.abc import Callable

import pytest

from gateway_svc.domain import errors
from gateway_svc.domain.events import (
    PaymentAuthorized,
    PaymentCanceled,
    PaymentCaptured,
    PaymentEvent,
    PaymentFailed,
    PaymentRequiresAction,
    PaymentUnknown,
)
from gateway_svc.domain.payments import Payment, PaymentStatus
from gateway_svc.domain.providers import Decline, DeclineCode
from tests.unit.gateway.domain_support import AMOUNT, T1, payment

S = PaymentStatus
DECLINE = Decline(DeclineCode.INSUFFICIENT_FUNDS, "insufficient funds", "insufficient_funds")

Op = Callable[[Payment], list[PaymentEvent]]
OPS: dict[str, tuple[Op, S]] = {
    "require_action": (lambda p: p.require_action("https://3ds.example/x", T1), S.REQUIRES_ACTION),
    "authorize": (lambda p: p.authorize(T1), S.AUTHORIZED),
    "capture_all": (lambda p: p.capture(AMOUNT, T1), S.CAPTURED),
    "capture_part": (lambda p: p.capture(AMOUNT // 2, T1), S.PARTIALLY_CAPTURED),
    "cancel": (lambda p: p.cancel(T1), S.CANCELED),
    "fail": (lambda p: p.fail(DECLINE, T1), S.FAILED),
    "mark_unknown": (lambda p: p.mark_unknown(T1), S.UNKNOWN),
}

PRE_AUTH = {S.CREATED, S.REQUIRES_ACTION, S.UNKNOWN}
LEGAL_FROM: dict[str, set[S]] = {
    "require_action": {S.CREATED, S.UNKNOWN},
    "authorize": PRE_AUTH,
    "capture_all": PRE_AUTH | {S.AUTHORIZED},
    "capture_part": PRE_AUTH | {S.AUTHORIZED},
    "cancel": PRE_AUTH | {S.AUTHORIZED},
    "fail": PRE_AUTH,
    "mark_unknown": {S.CREATED, S.REQUIRES_ACTION, S.AUTHORIZED},
}

CASES = [(op, status) for op in OPS for status in S]


@pytest.mark.parametrize(("op", "status"), CASES, ids=[f"{o}-from-{s}" for o, s in CASES])
def test_a_transition_is_applied_only_from_the_statuses_the_table_allows(op: str, status: S):
    p = payment(status)
    before = copy.deepcopy(p)
    apply, target = OPS[op]
    if status in LEGAL_FROM[op]:
        events = apply(p)
        assert p.status is target
        assert p.version == before.version + 1 and p.update_time == T1
        assert events, "every legal transition reports itself"
    else:
        with pytest.raises(errors.IllegalTransition) as info:
            apply(p)
        assert p == before, "a refused transition changes nothing"
        assert info.value.metadata["status"] == status.value
        assert info.value.metadata["to_status"] == target.value


def kinds(events: list[PaymentEvent]) -> list[type[PaymentEvent]]:
    return [type(e) for e in events]


def test_a_final_status_is_left_by_no_transition():
    for status in (S.CAPTURED, S.PARTIALLY_CAPTURED, S.CANCELED, S.FAILED):
        assert payment(status).is_final
        assert not any(status in legal for legal in LEGAL_FROM.values())


def test_an_automatic_capture_reports_the_hold_and_its_capture():
    p = payment(S.CREATED)
    events = p.capture(AMOUNT, T1)
    assert kinds(events) == [PaymentAuthorized, PaymentCaptured]
    assert (p.authorized_minor, p.captured_minor) == (AMOUNT, AMOUNT)
    captured = events[1]
    assert isinstance(captured, PaymentCaptured) and captured.released_minor == 0


def test_capturing_part_of_an_authorization_releases_the_rest():
    p = payment(S.AUTHORIZED)
    [event] = p.capture(3_000, T1)
    assert isinstance(event, PaymentCaptured)
    assert (event.amount_minor, event.released_minor) == (3_000, AMOUNT - 3_000)
    assert p.status is S.PARTIALLY_CAPTURED


def test_an_authorization_after_an_unknown_capture_is_not_reported_again():
    p = payment(S.AUTHORIZED)
    assert kinds(p.mark_unknown(T1)) == [PaymentUnknown]
    assert p.authorize(T1) == []
    assert p.status is S.AUTHORIZED and p.authorized_minor == AMOUNT


def test_canceling_an_authorization_releases_the_whole_hold():
    p = payment(S.AUTHORIZED)
    [event] = p.cancel(T1)
    assert isinstance(event, PaymentCanceled) and event.released_minor == AMOUNT


def test_a_decline_keeps_the_normalized_code_and_the_providers_raw_code():
    p = payment(S.REQUIRES_ACTION)
    [event] = p.fail(DECLINE, T1)
    assert isinstance(event, PaymentFailed)
    assert p.decline == DECLINE and p.decline.raw_code == "insufficient_funds"


def test_3ds_records_where_the_payer_authenticates():
    p = payment(S.CREATED)
    [event] = p.require_action("https://3ds.example/x", T1)
    assert isinstance(event, PaymentRequiresAction)
    assert p.action_url == event.action_url == "https://3ds.example/x"


CAPTURE_REFUSALS = {
    S.CREATED: errors.PaymentNotCapturable,
    S.REQUIRES_ACTION: errors.PaymentNotCapturable,
    S.CANCELED: errors.PaymentNotCapturable,
    S.FAILED: errors.PaymentNotCapturable,
    S.CAPTURED: errors.PaymentAlreadyCaptured,
    S.PARTIALLY_CAPTURED: errors.PaymentAlreadyCaptured,
    S.UNKNOWN: errors.PaymentOutcomeUnknown,
}


@pytest.mark.parametrize("status", list(CAPTURE_REFUSALS))
def test_a_capture_request_is_refused_with_the_reason_of_the_status(status: S):
    with pytest.raises(CAPTURE_REFUSALS[status]) as info:
        payment(status).ensure_capturable(None)
    assert info.value.metadata["payment_id"] == "pay_1"
    assert info.value.metadata["status"] == status.value


def test_a_capture_request_defaults_to_the_whole_authorization():
    assert payment(S.AUTHORIZED).ensure_capturable(None) == AMOUNT
    assert payment(S.AUTHORIZED).ensure_capturable(1) == 1


def test_a_capture_request_over_the_authorized_amount_is_refused():
    with pytest.raises(errors.CaptureExceedsAuthorized) as info:
        payment(S.AUTHORIZED).ensure_capturable(AMOUNT + 1)
    assert info.value.reason == "CAPTURE_EXCEEDS_AUTHORIZED"
    assert info.value.metadata["authorized_minor"] == str(AMOUNT)
    assert info.value.metadata["requested_minor"] == str(AMOUNT + 1)


def test_a_capture_request_of_nothing_is_a_field_violation():
    with pytest.raises(errors.ValidationFailed) as info:
        payment(S.AUTHORIZED).ensure_capturable(0)
    assert [v.field for v in info.value.violations] == ["amount.minor_units"]


CANCEL_REFUSALS = {
    S.CAPTURED: errors.PaymentNotCancelable,
    S.PARTIALLY_CAPTURED: errors.PaymentNotCancelable,
    S.CANCELED: errors.PaymentNotCancelable,
    S.FAILED: errors.PaymentNotCancelable,
    S.UNKNOWN: errors.PaymentOutcomeUnknown,
}


@pytest.mark.parametrize("status", list(S))
def test_a_cancel_request_is_allowed_only_before_money_moved(status: S):
    if status in CANCEL_REFUSALS:
        with pytest.raises(CANCEL_REFUSALS[status]):
            payment(status).ensure_cancelable()
    else:
        payment(status).ensure_cancelable()

"""Settling a payment from the provider's view: after each call, and by the reconciler."""

from __future__ import annotations

import copy

import pytest

from gateway_svc.domain import errors
from gateway_svc.domain.events import (
    PaymentAuthorized,
    PaymentCaptured,
    PaymentEvent,
    PaymentFailed,
    PaymentRequiresAction,
    PaymentUnknown,
    ProviderFeeReported,
)
from gateway_svc.domain.payments import PaymentStatus
from gateway_svc.domain.providers import ChargeStatus, Decline, DeclineCode, Provider
from tests.unit.gateway.domain_support import AMOUNT, T1, payment, view

S = PaymentStatus
C = ChargeStatus


def kinds(events: list[PaymentEvent]) -> list[type[PaymentEvent]]:
    return [type(e) for e in events]


def test_the_first_view_binds_the_provider_and_its_reference():
    p = payment(S.CREATED)
    events = p.apply_provider_view(
        view(C.AUTHORIZED, authorized_minor=AMOUNT, refs={"charge": "ch_1"}),
        T1,
        provider=Provider.STRIPE,
    )
    assert kinds(events) == [PaymentAuthorized]
    assert (p.provider, p.provider_ref, p.provider_refs) == (
        Provider.STRIPE,
        "pi_1",
        {"charge": "ch_1"},
    )


def test_the_first_view_must_name_its_provider():
    with pytest.raises(ValueError, match="provider"):
        payment(S.CREATED).apply_provider_view(view(C.AUTHORIZED), T1)


def test_an_unknown_payment_the_provider_captured_reports_hold_and_capture_once():
    p = payment(S.UNKNOWN)
    charge = view(C.CAPTURED, authorized_minor=AMOUNT, captured_minor=AMOUNT, fee_minor=320)
    events = p.apply_provider_view(charge, T1)
    assert kinds(events) == [PaymentAuthorized, PaymentCaptured, ProviderFeeReported]
    assert p.status is S.CAPTURED and p.fee_minor == 320
    settled = copy.deepcopy(p)
    assert p.apply_provider_view(charge, T1) == []
    assert p == settled, "the same view twice changes nothing, not even the version"


def test_an_unknown_capture_settles_to_a_partial_capture_without_a_second_hold():
    p = payment(S.AUTHORIZED)
    p.mark_unknown(T1)
    events = p.apply_provider_view(view(C.CAPTURED, captured_minor=2_500), T1)
    assert kinds(events) == [PaymentCaptured]
    assert p.status is S.PARTIALLY_CAPTURED
    captured = events[0]
    assert isinstance(captured, PaymentCaptured) and captured.released_minor == AMOUNT - 2_500


def test_a_pending_view_is_unknown_to_us_until_the_provider_decides():
    p = payment(S.CREATED)
    assert kinds(p.apply_provider_view(view(C.PENDING), T1, Provider.STRIPE)) == [PaymentUnknown]
    assert p.status is S.UNKNOWN
    assert p.apply_provider_view(view(C.PENDING), T1) == []


def test_a_declined_view_fails_the_payment_with_the_providers_words():
    decline = Decline(DeclineCode.LOST_CARD, "the card was reported lost", "lost_card")
    p = payment(S.UNKNOWN)
    [event] = p.apply_provider_view(view(C.DECLINED, decline=decline), T1)
    assert isinstance(event, PaymentFailed) and p.decline == decline


def test_a_declined_view_without_a_reason_keeps_the_raw_status():
    p = payment(S.UNKNOWN)
    p.apply_provider_view(view(C.DECLINED, raw_status="requires_payment_method"), T1)
    assert p.decline is not None
    assert (p.decline.code, p.decline.raw_code) == (
        DeclineCode.GENERIC_DECLINE,
        "requires_payment_method",
    )


def test_a_3ds_view_records_its_url_and_a_new_url_is_kept_without_an_event():
    p = payment(S.UNKNOWN)
    events = p.apply_provider_view(view(C.REQUIRES_ACTION, action_url="https://a/1"), T1)
    assert kinds(events) == [PaymentRequiresAction]
    version = p.version
    assert p.apply_provider_view(view(C.REQUIRES_ACTION, action_url="https://a/2"), T1) == []
    assert p.action_url == "https://a/2" and p.version == version + 1


def test_a_changed_fee_is_reported_again_and_an_unchanged_one_is_not():
    p = payment(S.AUTHORIZED)
    assert kinds(p.apply_provider_view(view(C.AUTHORIZED, fee_minor=10), T1)) == [
        ProviderFeeReported
    ]
    assert p.apply_provider_view(view(C.AUTHORIZED, fee_minor=10), T1) == []
    [event] = p.apply_provider_view(view(C.AUTHORIZED, fee_minor=12), T1)
    assert isinstance(event, ProviderFeeReported) and event.fee_minor == 12


@pytest.mark.parametrize(
    ("status", "charge"),
    [
        (S.CANCELED, view(C.CAPTURED)),
        (S.FAILED, view(C.AUTHORIZED)),
        (S.CAPTURED, view(C.CANCELED)),
        (S.CAPTURED, view(C.CAPTURED, captured_minor=AMOUNT // 2)),
        (S.PARTIALLY_CAPTURED, view(C.CAPTURED, captured_minor=AMOUNT)),
        (S.AUTHORIZED, view(C.REQUIRES_ACTION)),
        (S.AUTHORIZED, view(C.DECLINED)),
        (S.AUTHORIZED, view(C.AUTHORIZED, authorized_minor=AMOUNT - 1)),
        (S.AUTHORIZED, view(C.CAPTURED, captured_minor=AMOUNT + 1)),
        (S.UNKNOWN, view(C.AUTHORIZED, authorized_minor=AMOUNT + 1)),
    ],
    ids=lambda x: str(x.value) if isinstance(x, S) else "",
)
def test_a_view_that_cannot_follow_from_the_state_conflicts_and_changes_nothing(status, charge):
    p = payment(status)
    before = copy.deepcopy(p)
    with pytest.raises(errors.ProviderViewConflict) as info:
        p.apply_provider_view(charge, T1)
    assert p == before
    assert info.value.metadata["status"] == status.value


def test_a_view_of_another_provider_or_reference_conflicts():
    p = payment(S.AUTHORIZED)
    with pytest.raises(errors.ProviderViewConflict):
        p.apply_provider_view(view(C.AUTHORIZED), T1, provider=Provider.PAYPAL)
    other = view(C.AUTHORIZED)
    other = type(other)("pi_2", C.AUTHORIZED)
    with pytest.raises(errors.ProviderViewConflict) as info:
        p.apply_provider_view(other, T1)
    assert info.value.metadata["view_provider_ref"] == "pi_2"


def test_a_final_payment_agreeing_with_the_provider_stays_as_it_is():
    for status, charge in [
        (S.CAPTURED, view(C.CAPTURED)),
        (S.PARTIALLY_CAPTURED, view(C.CAPTURED, captured_minor=AMOUNT // 4)),
        (S.CANCELED, view(C.CANCELED)),
        (S.FAILED, view(C.DECLINED)),
    ]:
        p = payment(status)
        before = copy.deepcopy(p)
        assert p.apply_provider_view(charge, T1) == []
        assert p == before

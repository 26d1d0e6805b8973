"""Payouts: checks against the beneficiary, the status table, transitions, cancel and fees."""

from __future__ import annotations

from dataclasses import replace
from datetime import UTC, datetime, timedelta

import pytest

from gateway_svc.adapters.providers.currencycloud_wire import PAYOUT_STATUSES
from gateway_svc.domain import errors
from gateway_svc.domain.bank_details import BankDetailsInput
from gateway_svc.domain.beneficiaries import Beneficiary, NewBeneficiary, open_beneficiary
from gateway_svc.domain.fx_provider import PaymentType, PayoutStatus, PayoutView
from gateway_svc.domain.payouts import (
    PROVIDER_STATES,
    NewPayout,
    Payout,
    PayoutState,
    PayoutTransition,
    check_new_payout,
    open_payout,
)

T0 = datetime(2025, 3, 1, 12, 0, tzinfo=UTC)
P = PayoutState
REQUEST = NewPayout(
    merchant_id="mer_1",
    beneficiary_id="ben_1",
    amount_minor=50_000,
    currency="EUR",
    reason="invoice 42",
    reference="INV-42",
)


def at(seconds: int) -> datetime:
    return T0 + timedelta(seconds=seconds)


def beneficiary(bound: bool = True) -> Beneficiary:
    b = open_beneficiary(
        NewBeneficiary(
            merchant_id="mer_1",
            name="Lieferant",
            bank_account_holder_name="Lieferant GmbH",
            bank_country="DE",
            currency="EUR",
            bank_details=BankDetailsInput(iban="DE89370400440532013000"),
        ),
        "ben_1",
        T0,
    )
    if bound:
        b.bind("cc_ben_1")
    return b


def payout() -> Payout:
    return open_payout(REQUEST, beneficiary(), "po_1", T0)


def view(raw_status: str, status: PayoutStatus, **changes: object) -> PayoutView:
    base = PayoutView(
        provider_ref="cc_pay_1",
        status=status,
        raw_status=raw_status,
        currency="EUR",
        amount_minor=50_000,
        beneficiary_id="cc_ben_1",
        reference="INV-42",
        reason="invoice 42",
        payment_type=PaymentType.REGULAR,
    )
    return replace(base, **changes)  # type: ignore[arg-type]


def fields(request: NewPayout, target: Beneficiary | None = None) -> list[str]:
    with pytest.raises(errors.ValidationFailed) as info:
        check_new_payout(request, target or beneficiary())
    return [v.field for v in info.value.violations]


# -- the status table ---------------------------------------------------------------------------

CURRENCYCLOUD_TO_OURS = {
    "new": P.PENDING,
    "awaiting_authorisation": P.PENDING,
    "authorised": P.PENDING,
    "ready_to_send": P.PENDING,
    "suspended": P.PENDING,
    "submitted": P.SUBMITTED,
    "released": P.SUBMITTED,
    "completed": P.COMPLETED,
    "failed": P.FAILED,
    "deleted": P.CANCELED,
}


@pytest.mark.parametrize(("raw", "ours"), sorted(CURRENCYCLOUD_TO_OURS.items()))
def test_each_currencycloud_payment_status_maps_to_ours(raw, ours):
    assert PROVIDER_STATES[PAYOUT_STATUSES[raw]] is ours


def test_the_table_covers_every_provider_status_and_every_word_the_adapter_reads():
    assert set(PROVIDER_STATES) == set(PayoutStatus)
    assert set(PAYOUT_STATUSES) == set(CURRENCYCLOUD_TO_OURS)


# -- checks before anything moves ------------------------------------------------------------------


def test_a_good_payout_opens_pending_with_its_hold_in_history():
    p = payout()
    assert (p.status, p.beneficiary_id, p.provider_beneficiary_id) == (
        P.PENDING,
        "ben_1",
        "cc_ben_1",
    )
    assert p.history == [PayoutTransition(None, P.PENDING, T0, "created")]
    sent = p.request()
    assert (sent.beneficiary_id, sent.amount_minor, sent.payment_type) == (
        "cc_ben_1",
        50_000,
        PaymentType.REGULAR,
    )


@pytest.mark.parametrize(
    ("changes", "expected"),
    [
        ({"amount_minor": 0}, ["amount.minor_units"]),
        ({"currency": "GBP"}, ["amount.currency_code"]),
        ({"currency": "EURO"}, ["amount.currency_code"]),
        ({"payment_type": "wire"}, ["payment_type"]),
        ({"payment_type": "priority"}, ["payment_type"]),
        ({"reason": ""}, ["reason"]),
        ({"reference": " "}, ["reference"]),
        ({"reference": "x" * 256}, ["reference"]),
        ({"reason": "a\x00b"}, ["reason"]),
        (
            {"reason": "", "reference": "", "amount_minor": -1},
            ["amount.minor_units", "reason", "reference"],
        ),
    ],
)
def test_each_bad_field_of_a_payout_is_named(changes, expected):
    assert fields(replace(REQUEST, **changes)) == expected


def test_a_beneficiary_not_yet_at_the_provider_cannot_be_paid():
    assert fields(REQUEST, beneficiary(bound=False)) == ["beneficiary_id"]


def test_another_merchants_or_a_deleted_beneficiary_cannot_be_paid():
    with pytest.raises(errors.BeneficiaryNotFound):
        check_new_payout(replace(REQUEST, merchant_id="mer_2"), beneficiary())
    gone = beneficiary()
    gone.delete(T0)
    with pytest.raises(errors.BeneficiaryNotFound):
        check_new_payout(REQUEST, gone)


# -- following the provider -----------------------------------------------------------------------


def test_every_transition_is_kept_with_its_time_and_the_fee_recorded():
    p = payout()
    assert p.apply_provider_view(view("ready_to_send", PayoutStatus.PENDING), at(1)) == []
    p.apply_provider_view(view("released", PayoutStatus.SUBMITTED), at(2))
    completed = view("completed", PayoutStatus.COMPLETED, fee_amount_minor=150, fee_currency="EUR")
    p.apply_provider_view(completed, at(3))
    assert [(t.from_status, t.to_status, t.at, t.reason) for t in p.history] == [
        (None, P.PENDING, T0, "created"),
        (P.PENDING, P.SUBMITTED, at(2), "released"),
        (P.SUBMITTED, P.COMPLETED, at(3), "completed"),
    ]
    assert (p.fee_minor, p.fee_currency, p.provider_ref, p.is_final) == (
        150,
        "EUR",
        "cc_pay_1",
        True,
    )


def test_a_fee_without_a_currency_is_in_the_payouts_currency():
    p = payout()
    p.apply_provider_view(view("completed", PayoutStatus.COMPLETED, fee_amount_minor=90), at(1))
    assert (p.fee_minor, p.fee_currency) == (90, "EUR")


def test_a_failed_payout_keeps_the_providers_reason():
    p = payout()
    failed = view("failed", PayoutStatus.FAILED, failure_reason="account closed")
    assert p.apply_provider_view(failed, at(1))[0].to_status is P.FAILED
    assert p.failure_reason == "account closed"


def test_late_views_change_nothing_and_contradictions_need_a_human():
    p = payout()
    p.apply_provider_view(view("completed", PayoutStatus.COMPLETED), at(1))
    assert p.apply_provider_view(view("submitted", PayoutStatus.SUBMITTED), at(2)) == []
    with pytest.raises(errors.ProviderViewConflict):
        p.apply_provider_view(view("failed", PayoutStatus.FAILED), at(3))


def test_a_payout_ended_before_the_provider_saw_it_cannot_quietly_reappear():
    refused = payout()
    refused.fail("beneficiary rejected", at(1))
    with pytest.raises(errors.ProviderViewConflict):
        refused.apply_provider_view(view("ready_to_send", PayoutStatus.PENDING), at(2))
    canceled = payout()
    canceled.cancel(at(1))
    with pytest.raises(errors.ProviderViewConflict):
        canceled.apply_provider_view(view("ready_to_send", PayoutStatus.PENDING), at(2))


@pytest.mark.parametrize(
    "changes", [{"amount_minor": 49_999}, {"currency": "USD"}, {"beneficiary_id": "cc_ben_2"}]
)
def test_a_view_with_other_terms_is_refused(changes):
    with pytest.raises(errors.ProviderViewConflict):
        payout().apply_provider_view(view("new", PayoutStatus.PENDING, **changes), at(1))


# -- cancel -------------------------------------------------------------------------------------


def test_a_pending_payout_can_be_canceled():
    p = payout()
    p.ensure_cancelable(view("ready_to_send", PayoutStatus.PENDING))
    assert p.cancel(at(1)) == [
        PayoutTransition(P.PENDING, P.CANCELED, at(1), "canceled by the merchant")
    ]


def test_a_submitted_or_final_payout_cannot_be_canceled():
    p = payout()
    with pytest.raises(errors.PayoutNotCancelable) as info:
        p.ensure_cancelable(view("released", PayoutStatus.SUBMITTED))
    assert info.value.reason == "PAYOUT_NOT_CANCELABLE"
    p.apply_provider_view(view("submitted", PayoutStatus.SUBMITTED), at(1))
    with pytest.raises(errors.PayoutNotCancelable):
        p.cancel(at(2))
    p.apply_provider_view(view("completed", PayoutStatus.COMPLETED), at(3))
    with pytest.raises(errors.PayoutNotCancelable):
        p.ensure_cancelable()


def test_only_a_pending_payout_can_be_refused_by_the_provider():
    p = payout()
    p.apply_provider_view(view("submitted", PayoutStatus.SUBMITTED), at(1))
    with pytest.raises(errors.ProviderViewConflict):
        p.fail("too late", at(2))

"""Create-payment validation: one violation per bad field, named as the proto names it."""

from __future__ import annotations

from dataclasses import replace

import pytest

from gateway_svc.domain import errors
from gateway_svc.domain.cards import CardBrand, CardSummary
from gateway_svc.domain.payments import CaptureMethod, MethodSummary, PaymentStatus
from gateway_svc.domain.providers import Card, PaymentMethod
from gateway_svc.domain.validation import NewPayment, check_new_payment, open_payment
from tests.unit.gateway.domain_support import T0

CARD = Card("4242424242424242", 12, 2030, "123")
GOOD = NewPayment(
    merchant_id="mer_1",
    amount_minor=1_050,
    currency="USD",
    method=PaymentMethod(token="pm_card_visa"),
    merchant_reference="order-42",
    description="two books",
    metadata={"order": "42"},
)


def fields(request: NewPayment) -> list[str]:
    with pytest.raises(errors.ValidationFailed) as info:
        check_new_payment(request, T0.date())
    return [v.field for v in info.value.violations]


def test_a_good_request_passes():
    for request in (GOOD, replace(GOOD, method=PaymentMethod(card=CARD))):
        check_new_payment(request, T0.date())  # raises ValidationFailed if refused
        assert open_payment(request, "pay_1", T0).status is PaymentStatus.CREATED


@pytest.mark.parametrize(
    ("change", "field"),
    [
        ({"amount_minor": 0}, "amount.minor_units"),
        ({"amount_minor": -5}, "amount.minor_units"),
        ({"amount_minor": 10**11 + 1}, "amount.minor_units"),
        ({"currency": "usd"}, "amount.currency_code"),
        ({"currency": "ABC"}, "amount.currency_code"),
        ({"currency": "CLF"}, "amount.currency_code"),
        ({"method": PaymentMethod()}, "payment_method"),
        ({"method": PaymentMethod(token="pm_x", card=CARD)}, "payment_method"),
        ({"method": PaymentMethod(token="pm x")}, "payment_method.token"),
        (
            {"method": PaymentMethod(card=replace(CARD, number="4242"))},
            "payment_method.card.number",
        ),
        ({"capture_method": None}, "capture_method"),
        ({"merchant_reference": "r" * 41}, "merchant_reference"),
        ({"description": "d" * 256}, "description"),
        ({"description": "line\nbreak"}, "description"),
        ({"metadata": {"k[0]": "v"}}, "metadata['k[0]']"),
        ({"metadata": {"k": "v" * 501}}, "metadata['k']"),
        ({"metadata": {f"k{i}": "v" for i in range(51)}}, "metadata"),
    ],
)
def test_each_bad_field_is_named_once(change, field):
    assert fields(replace(GOOD, **change)) == [field]


def test_the_amount_limit_follows_the_currency_exponent():
    check_new_payment(replace(GOOD, currency="JPY", amount_minor=10**9), T0.date())
    assert fields(replace(GOOD, currency="JPY", amount_minor=10**9 + 1)) == ["amount.minor_units"]
    check_new_payment(replace(GOOD, currency="KWD", amount_minor=10**12), T0.date())


def test_every_bad_field_is_reported_in_one_error():
    bad = NewPayment(
        merchant_id="mer_1",
        amount_minor=0,
        currency="ZZZ",
        method=PaymentMethod(card=Card("4242424242424241", 13, 2030, "1")),
        capture_method=None,
        merchant_reference="r" * 41,
    )
    assert fields(bad) == [
        "amount.currency_code",
        "amount.minor_units",
        "payment_method.card.number",
        "payment_method.card.exp_month",
        "payment_method.card.cvc",
        "capture_method",
        "merchant_reference",
    ]


def test_open_payment_builds_a_created_payment_that_keeps_no_card_number():
    p = open_payment(
        replace(GOOD, method=PaymentMethod(card=CARD), capture_method=CaptureMethod.MANUAL),
        "pay_1",
        T0,
    )
    assert p.status is PaymentStatus.CREATED and p.version == 0
    assert p.method == MethodSummary(card=CardSummary(CardBrand.VISA, "4242", 12, 2030))
    assert "4242424242424242" not in repr(p) and "'123'" not in repr(p)
    assert (p.amount_minor, p.currency, p.metadata) == (1_050, "USD", {"order": "42"})


def test_a_token_payment_keeps_only_the_kind_of_token():
    p = open_payment(GOOD, "pay_1", T0)
    assert p.method == MethodSummary(token_kind="pm")
    assert open_payment(replace(GOOD, method=PaymentMethod(token="B-1X2")), "p", T0).method == (
        MethodSummary(token_kind="token")
    )


def test_open_payment_refuses_a_bad_request():
    with pytest.raises(errors.ValidationFailed):
        open_payment(replace(GOOD, amount_minor=0), "pay_1", T0)

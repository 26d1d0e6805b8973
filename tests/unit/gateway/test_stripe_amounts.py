"""Stripe's amount units: conversions, the per-currency overrides and the refused amounts."""

from __future__ import annotations

import pytest

from gateway_svc.adapters.providers.stripe_amounts import (
    STRIPE_ZERO_DECIMAL,
    from_stripe,
    stripe_exponent,
    to_stripe,
)
from gateway_svc.domain.providers import DeclineCode, ErrorKind, ProviderError


@pytest.mark.parametrize(
    ("currency", "minor", "stripe"),
    [
        ("USD", 1050, 1050),
        ("JPY", 500, 500),
        ("KRW", 1000, 1000),
        ("KWD", 1230, 1230),
        ("ISK", 500, 50_000),
        ("MGA", 150_000, 1500),
        ("HUF", 12_345, 12_345),
        ("TWD", 12_345, 12_345),
        ("UGX", 5000, 5000),
    ],
)
def test_minor_units_become_stripes_integers_and_back(
    currency: str, minor: int, stripe: int
) -> None:
    assert to_stripe(minor, currency) == stripe
    assert from_stripe(stripe, currency) == minor


def test_stripes_zero_decimal_list_is_what_the_table_gives() -> None:
    for currency in STRIPE_ZERO_DECIMAL:
        assert stripe_exponent(currency) == 0, currency
    assert stripe_exponent("ISK") == 2 and stripe_exponent("USD") == 2


@pytest.mark.parametrize(
    ("currency", "minor"),
    [("KWD", 1235), ("BHD", 1), ("MGA", 150_050), ("TND", 9)],
)
def test_an_amount_stripe_cannot_take_is_refused_before_sending(currency: str, minor: int) -> None:
    with pytest.raises(ProviderError) as caught:
        to_stripe(minor, currency)
    assert (caught.value.kind, caught.value.code) == (ErrorKind.INVALID, DeclineCode.AMOUNT_INVALID)
    assert caught.value.sent is False


def test_an_unknown_currency_is_refused_before_sending() -> None:
    with pytest.raises(ProviderError) as caught:
        to_stripe(100, "XYZ")
    assert caught.value.code is DeclineCode.CURRENCY_NOT_SUPPORTED
    assert caught.value.sent is False


def test_a_fee_in_a_finer_stripe_unit_rounds_half_up() -> None:
    assert from_stripe(1450, "ISK") == 15
    assert from_stripe(1449, "ISK") == 14

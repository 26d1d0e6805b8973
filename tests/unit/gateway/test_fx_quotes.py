"""Quotes: exponents, rounding in the platform's favour, markup, expiry and the rate lock."""

from __future__ import annotations

import math
from datetime import UTC, datetime, timedelta
from decimal import ROUND_HALF_UP, Decimal
from fractions import Fraction

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from gateway_svc.domain import errors
from gateway_svc.domain.fx import (
    DEFAULT_QUOTE_TTL,
    Quote,
    QuotePolicy,
    QuoteRequest,
    buy_per_sell,
    check_quote_request,
    decimal_from_minor,
    marked_up_rate,
    minor_from_decimal,
    quote_from_rate,
)
from gateway_svc.domain.fx_provider import FixedSide, RateQuote
from svc_kit.currencies import exponent

T0 = datetime(2025, 3, 1, 12, 0, tzinfo=UTC)
SELL, BUY = FixedSide.SELL, FixedSide.BUY


def provider_amount(amount: Fraction, currency: str) -> int:
    """What a provider might quote: half-up to the currency's exponent (not our rule)."""
    scaled = Decimal(amount.numerator) / Decimal(amount.denominator) * 10 ** exponent(currency)
    return int(scaled.quantize(Decimal(1), rounding=ROUND_HALF_UP))


def rate_for(
    buy: str,
    sell: str,
    side: FixedSide,
    amount: int,
    rate: str,
    pair: str,
    provider_buy: int | None = None,
    provider_sell: int | None = None,
) -> tuple[QuoteRequest, RateQuote]:
    """A request and the provider's answer to it, its other side rounded half-up."""
    price = buy_per_sell(rate, pair, buy, sell)
    major = Fraction(amount, 10 ** exponent(buy if side is BUY else sell))
    if side is SELL:
        sell_minor, buy_minor = amount, provider_amount(major * price, buy)
    else:
        buy_minor, sell_minor = amount, provider_amount(major / price, sell)
    quoted = RateQuote(
        buy_currency=buy,
        sell_currency=sell,
        fixed_side=side,
        buy_amount_minor=buy_minor if provider_buy is None else provider_buy,
        sell_amount_minor=sell_minor if provider_sell is None else provider_sell,
        client_rate=rate,
        core_rate=rate,
        mid_market_rate=rate,
        currency_pair=pair,
        settlement_cut_off=None,
    )
    return QuoteRequest("mer_1", buy, sell, side, amount), quoted


def quote(
    buy: str, sell: str, side: FixedSide, amount: int, rate: str, pair: str, bps: int = 0
) -> Quote:
    request, quoted = rate_for(buy, sell, side, amount, rate, pair)
    return quote_from_rate(quoted, request, "quo_1", T0, QuotePolicy(markup_bps=bps))


# -- exponents and the direction of rounding ------------------------------------------------------


@pytest.mark.parametrize(
    ("buy", "sell", "side", "amount", "rate", "pair", "buy_minor", "sell_minor"),
    [
        ("USD", "GBP", SELL, 10_000, "1.2345", "GBPUSD", 12_345, 10_000),
        ("USD", "GBP", SELL, 100, "1.23456", "GBPUSD", 123, 100),
        ("USD", "GBP", BUY, 10_000, "1.2345", "GBPUSD", 10_000, 8_101),
        ("USD", "JPY", SELL, 10_000, "149.5", "USDJPY", 6_688, 10_000),
        ("JPY", "USD", BUY, 14_954, "149.537", "USDJPY", 14_954, 10_001),
        ("JPY", "USD", SELL, 10_000, "149.537", "USDJPY", 14_953, 10_000),
        ("USD", "JPY", BUY, 10_000, "149.537", "USDJPY", 10_000, 14_954),
        ("USD", "KWD", SELL, 1_000, "3.2543", "KWDUSD", 325, 1_000),
        ("KWD", "USD", BUY, 1_000, "3.2543", "KWDUSD", 1_000, 326),
        ("KWD", "USD", SELL, 1_000, "3.2543", "KWDUSD", 3_072, 1_000),
        ("KWD", "JPY", BUY, 1, "491.23", "KWDJPY", 1, 1),
    ],
)
def test_amounts_use_each_currencys_exponent_and_round_for_the_platform(
    buy, sell, side, amount, rate, pair, buy_minor, sell_minor
):
    q = quote(buy, sell, side, amount, rate, pair)
    assert (q.buy_amount_minor, q.sell_amount_minor) == (buy_minor, sell_minor)


def test_a_fixed_sell_rounds_the_bought_amount_down_and_a_fixed_buy_the_sold_amount_up():
    # 1.00 GBP at 1.23456 is 123.456 cents: the merchant gets 123, not 124.
    assert quote("USD", "GBP", SELL, 100, "1.23456", "GBPUSD").buy_amount_minor == 123
    # 1.00 USD costs 0.81004... GBP: the merchant pays 82 pence, not 81.
    assert quote("USD", "GBP", BUY, 100, "1.2345", "GBPUSD").sell_amount_minor == 82


def test_the_provider_bounds_what_the_merchant_gets_and_gives():
    request, quoted = rate_for("USD", "GBP", SELL, 10_000, "1.2345", "GBPUSD", provider_buy=12_344)
    assert quote_from_rate(quoted, request, "quo_1", T0).buy_amount_minor == 12_344
    request, quoted = rate_for("USD", "GBP", BUY, 10_000, "1.2345", "GBPUSD", provider_sell=8_102)
    assert quote_from_rate(quoted, request, "quo_1", T0).sell_amount_minor == 8_102


def test_a_sell_too_small_to_buy_one_minor_unit_is_refused():
    with pytest.raises(errors.ValidationFailed) as info:
        quote("USD", "JPY", SELL, 1, "150", "USDJPY")
    assert [v.field for v in info.value.violations] == ["amount.minor_units"]


# -- markup -------------------------------------------------------------------------------------


def test_no_markup_keeps_the_providers_rate_string_exactly():
    q = quote("USD", "GBP", SELL, 10_000, "1.2500", "GBPUSD")
    assert (q.client_rate, q.provider_rate, q.markup_bps) == ("1.2500", "1.2500", 0)


def test_markup_moves_the_rate_against_the_merchant_in_either_direction():
    assert marked_up_rate("1.2500", "GBPUSD", "USD", "GBP", 50) == "1.24375"  # sells GBP
    assert marked_up_rate("1.2500", "GBPUSD", "GBP", "USD", 50) == "1.25625"  # buys GBP
    selling = quote("USD", "GBP", SELL, 10_000, "1.2500", "GBPUSD", bps=50)
    assert (selling.client_rate, selling.buy_amount_minor) == ("1.24375", 12_437)
    buying = quote("GBP", "USD", BUY, 10_000, "1.2500", "GBPUSD", bps=50)
    assert (buying.client_rate, buying.sell_amount_minor) == ("1.25625", 12_563)


def test_the_policy_refuses_a_markup_or_window_out_of_range():
    with pytest.raises(ValueError, match="markup"):
        QuotePolicy(markup_bps=1_001)
    with pytest.raises(ValueError, match="ttl"):
        QuotePolicy(ttl=timedelta(minutes=6))
    with pytest.raises(ValueError, match="ttl"):
        QuotePolicy(ttl=timedelta(0))


# -- the platform never loses a minor unit (any amount, any rate) ----------------------------------

CODES = ["JPY", "KRW", "USD", "EUR", "GBP", "KWD", "BHD"]


@st.composite
def scenarios(draw: st.DrawFn) -> tuple[str, str, FixedSide, int, str, str, int]:
    buy = draw(st.sampled_from(CODES))
    sell = draw(st.sampled_from([c for c in CODES if c != buy]))
    digits = draw(st.integers(1, 10**9))
    rate = str(Decimal(digits).scaleb(-draw(st.integers(0, 9))))
    pair = draw(st.sampled_from([sell + buy, buy + sell]))
    side = draw(st.sampled_from([SELL, BUY]))
    # Up to 10^9 minor units stays inside the amount limit (10^9 major units) at any exponent.
    amount = draw(st.integers(1, 10**9))
    return buy, sell, side, amount, rate, pair, draw(st.integers(0, 300))


@settings(max_examples=200, deadline=None)
@given(scenarios())
def test_the_platform_never_loses_a_minor_unit(scenario):
    buy, sell, side, amount, rate, pair, bps = scenario
    request, quoted = rate_for(buy, sell, side, amount, rate, pair)
    scale = Fraction(10 ** exponent(buy), 10 ** exponent(sell))
    at_provider = buy_per_sell(rate, pair, buy, sell) * scale  # buy minor units per sell minor
    refused: errors.ValidationFailed | None = None
    try:
        q = quote_from_rate(quoted, request, "quo_1", T0, QuotePolicy(markup_bps=bps))
    except errors.ValidationFailed as error:
        refused = error
    if refused is not None:
        # Only a sell too small to buy one minor unit, even before the markup, is refused.
        assert [v.field for v in refused.violations] == ["amount.minor_units"]
        assert side is SELL and amount * at_provider * (1 - Fraction(bps, 10_000)) < 1
        return
    if side is SELL:
        exact = q.sell_amount_minor * at_provider  # what the provider's rate delivers
        assert q.buy_amount_minor <= exact and q.buy_amount_minor <= quoted.buy_amount_minor
        if bps == 0:
            assert q.buy_amount_minor == math.floor(exact)
    else:
        exact = q.buy_amount_minor / at_provider  # what the provider's rate costs
        assert q.sell_amount_minor >= exact and q.sell_amount_minor >= quoted.sell_amount_minor
        if bps == 0:
            assert q.sell_amount_minor == math.ceil(exact)


# -- the request --------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("request_", "fields"),
    [
        (QuoteRequest("m", "USD", "GBP", SELL, 1), []),
        (QuoteRequest("m", "usd", "GBP", SELL, 1), ["buy_currency"]),
        (QuoteRequest("m", "USD", "XYZ", SELL, 1), ["sell_currency"]),
        (QuoteRequest("m", "USD", "USD", SELL, 1), ["sell_currency"]),
        (QuoteRequest("m", "CLF", "USD", SELL, 1), ["buy_currency"]),
        (QuoteRequest("m", "USD", "GBP", None, 1), ["fixed_side"]),
        (QuoteRequest("m", "USD", "GBP", BUY, 0), ["amount.minor_units"]),
        (QuoteRequest("m", "USD", "JPY", SELL, 10**9 + 1), ["amount.minor_units"]),
        (
            QuoteRequest("m", "ABC", "ABC", None, -1),
            ["buy_currency", "sell_currency", "fixed_side"],
        ),
    ],
)
def test_a_quote_request_gets_one_violation_per_bad_field(request_, fields):
    if not fields:
        assert check_quote_request(request_).amount_currency == "GBP"
        return
    with pytest.raises(errors.ValidationFailed) as info:
        check_quote_request(request_)
    assert [v.field for v in info.value.violations] == fields


def test_a_rate_that_does_not_answer_the_request_is_a_provider_fault():
    _, quoted = rate_for("USD", "GBP", SELL, 10_000, "1.2345", "GBPUSD")
    with pytest.raises(ValueError, match="does not answer"):
        quote_from_rate(quoted, QuoteRequest("m", "USD", "GBP", SELL, 9_999), "q", T0)
    with pytest.raises(ValueError, match="pair"):
        buy_per_sell("1.2", "EURUSD", "USD", "GBP")


# -- expiry and the lock --------------------------------------------------------------------------


def test_a_quote_lives_thirty_seconds_by_default_and_the_window_is_configurable():
    q = quote("USD", "GBP", SELL, 10_000, "1.2345", "GBPUSD")
    assert q.expires_at - q.created_at == DEFAULT_QUOTE_TTL == timedelta(seconds=30)
    request, quoted = rate_for("USD", "GBP", SELL, 10_000, "1.2345", "GBPUSD")
    short = quote_from_rate(quoted, request, "q", T0, QuotePolicy(ttl=timedelta(seconds=5)))
    assert short.expires_at == T0 + timedelta(seconds=5)


def test_converting_on_an_expired_quote_is_refused_with_a_clear_reason():
    q = quote("USD", "GBP", SELL, 10_000, "1.2345", "GBPUSD")
    assert q.redeem("mer_1", "conv_1", T0 + timedelta(seconds=29.999)).used_by == "conv_1"
    with pytest.raises(errors.QuoteExpired) as info:
        q.redeem("mer_1", "conv_1", T0 + timedelta(seconds=30))
    assert info.value.reason == "QUOTE_EXPIRED"
    assert isinstance(info.value, errors.PreconditionFailed)
    assert "ask for a new quote" in info.value.message
    assert info.value.metadata["quote_id"] == "quo_1"


def test_a_quote_is_redeemed_once_by_its_own_merchant():
    q = quote("USD", "GBP", SELL, 10_000, "1.2345", "GBPUSD").redeem("mer_1", "conv_1", T0)
    assert q.redeem("mer_1", "conv_1", T0 + timedelta(minutes=5)) is q  # a resumed request
    with pytest.raises(errors.QuoteAlreadyUsed):
        q.redeem("mer_1", "conv_2", T0)
    with pytest.raises(errors.QuoteNotFound):
        q.redeem("mer_2", "conv_1", T0)


def test_a_quotes_terms_are_its_fixed_side_and_amount():
    q = quote("USD", "GBP", BUY, 10_000, "1.2345", "GBPUSD")
    terms = q.terms()
    assert (terms.fixed_side, terms.amount_minor, terms.amount_currency) == (BUY, 10_000, "USD")


# -- decimal strings from providers: precision per exponent ----------------------------------


@pytest.mark.parametrize(
    ("text", "currency", "minor"),
    [
        ("1000", "JPY", 1000),
        ("1000.00", "JPY", 1000),
        ("1000.5", "JPY", None),
        ("10.5", "USD", 1050),
        ("10.50", "USD", 1050),
        ("10.505", "USD", None),
        ("0.01", "USD", 1),
        ("1.234", "KWD", 1234),
        ("1.2340", "KWD", 1234),
        ("1.2345", "KWD", None),
        ("-1.00", "USD", None),
        ("1e3", "USD", None),
        ("1,000.00", "USD", None),
        ("10.00", "XYZ", None),
    ],
)
def test_a_decimal_amount_has_at_most_its_currencys_precision(text, currency, minor):
    if minor is None:
        with pytest.raises(ValueError):  # noqa: PT011 - each case fails for its own reason
            minor_from_decimal(text, currency)
    else:
        assert minor_from_decimal(text, currency) == minor


@given(st.integers(0, 10**15), st.sampled_from(["JPY", "USD", "KWD", "CLF"]))
def test_decimal_strings_round_trip(amount, currency):
    text = decimal_from_minor(amount, currency)
    assert minor_from_decimal(text, currency) == amount
    assert len(text.partition(".")[2]) == exponent(currency)

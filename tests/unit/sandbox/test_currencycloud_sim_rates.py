"""The Currencycloud simulator's rates: the table, the spread, rounding per exponent, refusals."""

from __future__ import annotations

from datetime import UTC, date, datetime
from decimal import Decimal

import pytest

from sandbox.currencycloud.rates import cut_off, pair, quote
from tests.unit.sandbox.test_currencycloud_sim_support import Driver, body_of, codes_of


@pytest.fixture
def cc() -> Driver:
    return Driver()


async def rate(cc: Driver, buy: str, sell: str, side: str, amount: str) -> dict[str, object]:
    query = {"buy_currency": buy, "sell_currency": sell, "fixed_side": side, "amount": amount}
    reply = await cc.get("/v2/rates/detailed", query)
    assert reply.status == 200, reply.body
    found: dict[str, object] = body_of(reply)
    return found


async def test_a_detailed_rate_has_currencycloud_s_fields_and_types(cc: Driver) -> None:
    body = await rate(cc, "GBP", "USD", "buy", "10000")
    assert {k: v for k, v in body.items() if k != "settlement_cut_off_time"} == {
        "currency_pair": "GBPUSD",
        "client_buy_currency": "GBP",
        "client_sell_currency": "USD",
        "client_buy_amount": "10000.00",
        "client_sell_amount": "12722.00",
        "fixed_side": "buy",
        "mid_market_rate": "1.2658",
        "client_rate": "1.2722",
        "partner_rate": None,
        "core_rate": "1.2722",
        "deposit_required": False,
        "deposit_amount": "0.0",
        "deposit_currency": "USD",
    }
    cut = datetime.fromisoformat(str(body["settlement_cut_off_time"]).replace("Z", "+00:00"))
    assert (cut.hour, cut.minute, cut.weekday() < 5) == (13, 0, True)


@pytest.mark.parametrize(
    ("buy", "sell", "side", "amount", "buy_amount", "sell_amount", "client_rate"),
    [
        # The client buys the quote currency: the rate moves down, the sold side rounds up.
        ("JPY", "USD", "buy", "10000", "10000", "66.47", "150.4440"),
        ("JPY", "USD", "sell", "100.00", "15044", "100.00", "150.4440"),
        ("KWD", "USD", "buy", "100.000", "100.000", "326.91", "0.3059"),
        ("KWD", "USD", "sell", "1000", "305.900", "1000.00", "0.3059"),
        # Two currencies outside the ranked list: the stronger one is the base (KWDJPY).
        ("JPY", "KWD", "sell", "100.5", "49169", "100.500", "489.2487"),
        # The client buys the base currency: the rate moves up.
        ("EUR", "GBP", "buy", "1000", "1000.00", "863.00", "0.8630"),
        ("EUR", "GBP", "sell", "863", "1000.00", "863.00", "0.8630"),
    ],
)
async def test_amounts_use_each_currency_s_exponent_and_round_against_the_client(
    cc: Driver,
    buy: str,
    sell: str,
    side: str,
    amount: str,
    buy_amount: str,
    sell_amount: str,
    client_rate: str,
) -> None:
    body = await rate(cc, buy, sell, side, amount)
    found = (body["client_buy_amount"], body["client_sell_amount"], body["client_rate"])
    assert found == (buy_amount, sell_amount, client_rate)


def test_the_spread_is_half_a_percent_against_the_client() -> None:
    buying_base = quote("GBP", "USD", "buy", Decimal(100))
    selling_base = quote("USD", "GBP", "buy", Decimal(100))
    assert buying_base.mid_market_rate == selling_base.mid_market_rate == Decimal("1.2658")
    assert buying_base.client_rate == Decimal("1.2722")  # 1.2658 * 1.005 = 1.27213 -> up
    assert selling_base.client_rate == Decimal("1.2594")  # 1.2658 * 0.995 = 1.25947 -> down


def test_the_computed_side_rounds_up_when_sold_and_down_when_bought() -> None:
    sold = quote("JPY", "USD", "buy", Decimal(1))  # 1 / 150.444 USD = 0.00664...
    bought = quote("USD", "JPY", "sell", Decimal(1))  # 1 / 151.9560 USD, fixed sell of 1 yen
    assert sold.sell_amount == Decimal("0.01")
    assert bought.buy_amount == Decimal("0.00")


@pytest.mark.parametrize(
    ("currencies", "expected"),
    [
        (("USD", "EUR"), ("EUR", "USD")),
        (("JPY", "GBP"), ("GBP", "JPY")),
        (("USD", "JPY"), ("USD", "JPY")),
        (("CHF", "CAD"), ("CAD", "CHF")),
        (("JPY", "KWD"), ("KWD", "JPY")),
        (("SEK", "NOK"), ("SEK", "NOK")),
    ],
)
def test_pairs_are_named_in_market_convention(
    currencies: tuple[str, str], expected: tuple[str, str]
) -> None:
    assert pair(*currencies) == expected


@pytest.mark.parametrize(
    ("today", "expected"),
    [
        (date(2024, 5, 10), datetime(2024, 5, 14, 13, tzinfo=UTC)),  # Friday -> Tuesday
        (date(2024, 5, 13), datetime(2024, 5, 15, 13, tzinfo=UTC)),  # Monday -> Wednesday
        (date(2024, 5, 11), datetime(2024, 5, 14, 13, tzinfo=UTC)),  # Saturday -> Tuesday
    ],
)
def test_the_cut_off_is_1300_utc_two_weekdays_later(today: date, expected: datetime) -> None:
    assert cut_off(today) == expected


@pytest.mark.parametrize(
    ("query", "expected"),
    [
        (
            {},
            {
                "buy_currency": ["buy_currency_is_required"],
                "sell_currency": ["sell_currency_is_required"],
                "fixed_side": ["fixed_side_is_required"],
                "amount": ["amount_is_required"],
            },
        ),
        (
            {"buy_currency": "USD", "sell_currency": "USD", "fixed_side": "buy", "amount": "5"},
            {"base": ["unique_value_parameters"]},
        ),
        (
            {"buy_currency": "XAF", "sell_currency": "USD", "fixed_side": "buy", "amount": "5"},
            {"base": ["ccy_pair_is_not_tradeable"]},
        ),
        (
            {"buy_currency": "usd", "sell_currency": "EUR", "fixed_side": "both", "amount": "5"},
            {
                "buy_currency": ["buy_currency_is_in_invalid_format"],
                "fixed_side": ["fixed_side_not_in_range"],
            },
        ),
        (
            {"buy_currency": "USD", "sell_currency": "EUR", "fixed_side": "buy", "amount": "1.234"},
            {"amount": ["amount_is_in_invalid_format"]},
        ),
        (
            {"buy_currency": "JPY", "sell_currency": "EUR", "fixed_side": "buy", "amount": "10.5"},
            {"amount": ["amount_is_in_invalid_format"]},
        ),
        (
            {"buy_currency": "USD", "sell_currency": "EUR", "fixed_side": "buy", "amount": "ten"},
            {"amount": ["amount_type_is_wrong"]},
        ),
        (
            {"buy_currency": "USD", "sell_currency": "EUR", "fixed_side": "buy", "amount": "0.50"},
            {"amount": ["amount_is_too_small"]},
        ),
    ],
)
async def test_a_bad_rate_request_names_every_bad_field(
    cc: Driver, query: dict[str, str], expected: dict[str, list[str]]
) -> None:
    reply = await cc.get("/v2/rates/detailed", query)
    assert (reply.status, body_of(reply)["error_code"]) == (400, "rate_detailed_failed")
    assert codes_of(reply) == expected

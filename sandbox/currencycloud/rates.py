"""Deterministic FX rates: a fixed mid-market table, a documented spread, exact rounding.

``GET /v2/rates/detailed?buy_currency=&sell_currency=&fixed_side=buy|sell&amount=`` answers
Currencycloud's ``RateDetailed`` object. Every amount and rate is a decimal string;
``deposit_required`` is a JSON boolean and ``partner_rate`` null, as the SDKs' recorded
replies show (the guide says "every field a string"; the recordings win)::

    {"settlement_cut_off_time": "2017-05-16T13:00:00Z", "currency_pair": "GBPUSD",
     "client_buy_currency": "GBP", "client_sell_currency": "USD",
     "client_buy_amount": "10000.00", "client_sell_amount": "14089.00", "fixed_side": "buy",
     "mid_market_rate": "1.4086", "client_rate": "1.4089", "partner_rate": null,
     "core_rate": "1.4089", "deposit_required": false, "deposit_amount": "0.0",
     "deposit_currency": "USD"}

How the numbers are made (the same for conversions):

- ``MID_PER_USD`` holds how many units of each currency one US dollar buys. A pair is named
  in market convention (``currency_pair`` = base then quote, ranked EUR, GBP, AUD, NZD, USD,
  CAD, CHF, then the rest, the stronger of two first: KWDJPY), and its mid rate is quote
  units per base unit, rounded half-even to ``RATE_PLACES`` decimals (6 below 0.1, so small
  rates keep their digits).
- The client rate is the mid rate moved ``SPREAD`` (0.50 %) against the client: up when the
  client buys the base currency, down when it sells it, rounded further against the client
  at the same precision. ``core_rate`` equals ``client_rate`` (no partner mark-up).
- The side that is not fixed is computed from the client rate and rounded to its currency's
  ISO 4217 exponent against the client: what the client sells is rounded up, what it buys is
  rounded down (JPY to whole yen, KWD to fils). So the provider never loses a minor unit.
- ``settlement_cut_off_time`` is 13:00 UTC two weekdays after today (a T+2 settlement).

A currency outside the table is "not tradeable" (``ccy_pair_is_not_tradeable``).
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from datetime import UTC, date, datetime, time, timedelta
from decimal import ROUND_CEILING, ROUND_FLOOR, ROUND_HALF_EVEN, Decimal

from sandbox.currencycloud.wire import (
    CcError,
    Problems,
    add,
    amount_problems,
    amount_text,
    currency_problems,
    money,
)

SPREAD = Decimal("0.0050")
RATE_PLACES = 4
SMALL_RATE_PLACES = 6
RATES_ERROR = "rate_detailed_failed"
"""Currencycloud's top-level ``error_code`` for a refused rate request is not documented;
this one follows the ``<thing>_<action>_failed`` pattern of its other endpoints."""

MID_PER_USD: dict[str, Decimal] = {
    code: Decimal(units)
    for code, units in (
        ("USD", "1"), ("EUR", "0.92"), ("GBP", "0.79"), ("AUD", "1.52"), ("NZD", "1.66"),
        ("CAD", "1.36"), ("CHF", "0.88"), ("JPY", "151.2"), ("SEK", "10.5"), ("NOK", "10.7"),
        ("DKK", "6.86"), ("PLN", "3.95"), ("CZK", "23.1"), ("HUF", "360"), ("RON", "4.58"),
        ("INR", "83.3"), ("MXN", "17.1"), ("SGD", "1.34"), ("HKD", "7.82"), ("CNY", "7.23"),
        ("ZAR", "18.6"), ("KWD", "0.3075"), ("BHD", "0.376"), ("JOD", "0.709"),
        ("OMR", "0.385"), ("KRW", "1350"), ("ILS", "3.7"), ("AED", "3.6725"), ("SAR", "3.75"),
        ("TRY", "32"), ("THB", "36.5"), ("PHP", "56.5"), ("MYR", "4.7"), ("CLP", "940"),
    )
}  # fmt: skip
_RANK = {code: rank for rank, code in enumerate(("EUR", "GBP", "AUD", "NZD", "USD", "CAD", "CHF"))}


@dataclass(frozen=True, slots=True)
class Quote:
    """One priced request: everything a rate reply or a conversion needs."""

    buy_currency: str
    sell_currency: str
    fixed_side: str
    buy_amount: Decimal
    sell_amount: Decimal
    currency_pair: str
    mid_market_rate: Decimal
    client_rate: Decimal
    settlement_cut_off: datetime

    def rate_fields(self) -> dict[str, object]:
        """The RateDetailed JSON."""
        return {
            "settlement_cut_off_time": self.settlement_cut_off.strftime("%Y-%m-%dT%H:%M:%SZ"),
            "currency_pair": self.currency_pair,
            "client_buy_currency": self.buy_currency,
            "client_sell_currency": self.sell_currency,
            "client_buy_amount": amount_text(self.buy_amount, self.buy_currency),
            "client_sell_amount": amount_text(self.sell_amount, self.sell_currency),
            "fixed_side": self.fixed_side,
            "mid_market_rate": str(self.mid_market_rate),
            "client_rate": str(self.client_rate),
            "partner_rate": None,
            "core_rate": str(self.client_rate),
            "deposit_required": False,
            "deposit_amount": "0.0",
            "deposit_currency": self.sell_currency,
        }


def pair(buy: str, sell: str) -> tuple[str, str]:
    """(base, quote) of the market-convention pair of two currencies."""
    # Ranked currencies lead; between two others the stronger one is the base (KWDJPY).
    first, second = sorted((buy, sell), key=lambda c: (_RANK.get(c, len(_RANK)), MID_PER_USD[c]))
    return first, second


def quote(
    buy: str, sell: str, fixed_side: str, amount: Decimal, today: date | None = None
) -> Quote:
    """Price ``amount`` of the fixed side (see the module docstring for every rounding)."""
    base, quote_ccy = pair(buy, sell)
    raw_mid = MID_PER_USD[quote_ccy] / MID_PER_USD[base]
    places = RATE_PLACES if raw_mid >= Decimal("0.1") else SMALL_RATE_PLACES
    step = Decimal(1).scaleb(-places)
    mid = raw_mid.quantize(step, rounding=ROUND_HALF_EVEN)
    buys_base = buy == base
    moved = mid * (1 + SPREAD) if buys_base else mid * (1 - SPREAD)
    client_rate = moved.quantize(step, rounding=ROUND_CEILING if buys_base else ROUND_FLOOR)
    if fixed_side == "buy":
        buy_amount = amount
        sell_raw = amount * client_rate if buys_base else amount / client_rate
        sell_amount = money(sell_raw, sell, up=True)
    else:
        sell_amount = amount
        buy_raw = amount / client_rate if buys_base else amount * client_rate
        buy_amount = money(buy_raw, buy)
    return Quote(
        buy,
        sell,
        fixed_side,
        buy_amount,
        sell_amount,
        base + quote_ccy,
        mid,
        client_rate,
        cut_off(today or datetime.now(UTC).date()),
    )


def cut_off(today: date) -> datetime:
    """13:00 UTC on the second weekday after ``today``."""
    day, left = today, 2
    while left:
        day += timedelta(days=1)
        if day.weekday() < 5:
            left -= 1
    return datetime.combine(day, time(13), tzinfo=UTC)


def priced(fields: Mapping[str, str], problems: Problems) -> Quote | None:
    """A Quote for the request's buy/sell/fixed_side/amount, or None with ``problems`` filled.

    Shared by ``rates/detailed`` and ``conversions/create``, which validate the same fields.
    """
    buy = currency_problems(fields, "buy_currency", problems)
    sell = currency_problems(fields, "sell_currency", problems)
    fixed_side = fields.get("fixed_side", "")
    if not fixed_side:
        add(problems, "fixed_side", "fixed_side_is_required", "fixed_side is required")
    elif fixed_side not in ("buy", "sell"):
        add(
            problems,
            "fixed_side",
            "fixed_side_not_in_range",
            "fixed_side should be in range: buy, sell",
            range="buy, sell",
        )
    amount_currency = buy if fixed_side == "buy" else sell if fixed_side == "sell" else ""
    amount = amount_problems(fields, amount_currency, problems)
    if buy and sell:
        if buy == sell:
            add(
                problems,
                "base",
                "unique_value_parameters",
                "Following parameters should not have same values: sell_currency, buy_currency",
                parameters="sell_currency, buy_currency",
            )
        elif buy not in MID_PER_USD or sell not in MID_PER_USD:
            add(
                problems,
                "base",
                "ccy_pair_is_not_tradeable",
                "Given currency pair is not tradeable",
            )
    if problems or amount is None:
        return None
    return quote(buy, sell, fixed_side, amount)


def detailed(fields: Mapping[str, str]) -> dict[str, object]:
    """The ``rates/detailed`` reply body, or CcError 400 naming every bad field."""
    problems: Problems = {}
    result = priced(fields, problems)
    if result is None:
        raise CcError(400, RATES_ERROR, problems)
    return result.rate_fields()

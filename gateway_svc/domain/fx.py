"""FX quotes: a rate locked for a short window, with amounts rounded in the platform's favour.

A quote answers "what would I get?" for one merchant: the provider's rate for the pair, plus
the platform's markup, turned into exact minor units of both currencies. It lives ``ttl``
(30 s by default, configurable from 1 s to 5 min) and can be redeemed by one conversion; after
``expires_at`` a conversion on it is refused with ``QuoteExpired`` (QUOTE_EXPIRED,
FAILED_PRECONDITION) and the merchant asks again. Within the window the rate is locked: the
conversion debits and credits exactly the quoted amounts, whatever the provider's next price.

Rounding is always in the platform's favour, so the platform never pays out a fraction it did
not receive:

- the merchant SELLS a fixed amount: the amount it buys is rounded DOWN to the buy currency's
  exponent (and never more than the provider itself delivers);
- the merchant BUYS a fixed amount: the amount it sells is rounded UP to the sell currency's
  exponent (and never less than the provider itself takes).

Exponents come from ``svc_kit.currencies`` (JPY 0, USD 2, KWD 3). The arithmetic is exact:
rates are parsed into ``Fraction``s from their decimal strings, never floats, and rounding
happens once, at the end. A fixed sell so small that it buys less than one minor unit is
refused (``amount.minor_units``) rather than quoted as zero.

The markup (``QuotePolicy.markup_bps``, default 0) moves the rate against the merchant by that
many basis points in the pair's own quoting: times (1 - m) when the merchant sells the pair's
base currency, times (1 + m) when it buys it. Both products are exact decimals, so the
``client_rate`` we show is the rate we computed with, digit for digit; with no markup it is
the provider's string unchanged.
"""

from __future__ import annotations

import math
import re
from dataclasses import dataclass, replace
from datetime import datetime, timedelta
from decimal import Decimal, Inexact, InvalidOperation, localcontext
from fractions import Fraction

from svc_kit.currencies import exponent, is_currency
from svc_kit.faults import FieldViolation

from . import errors
from .bank_details import invalid
from .fx_provider import ConversionTerms, FixedSide, RateQuote
from .validation import FUND_CODES, amount_violations

__all__ = [
    "DEFAULT_QUOTE_TTL",
    "MAX_MARKUP_BPS",
    "MAX_QUOTE_TTL",
    "MIN_QUOTE_TTL",
    "Quote",
    "QuotePolicy",
    "QuoteRequest",
    "buy_amount_for_sell",
    "buy_per_sell",
    "check_quote_request",
    "decimal_from_minor",
    "marked_up_rate",
    "minor_from_decimal",
    "quote_from_rate",
    "sell_amount_for_buy",
]

DEFAULT_QUOTE_TTL = timedelta(seconds=30)
MIN_QUOTE_TTL = timedelta(seconds=1)
MAX_QUOTE_TTL = timedelta(minutes=5)
MAX_MARKUP_BPS = 1_000
"""10 %: a markup beyond that is a configuration mistake, not a price."""


@dataclass(frozen=True, slots=True)
class QuotePolicy:
    """How the platform quotes: how long a rate stays locked, and its markup."""

    ttl: timedelta = DEFAULT_QUOTE_TTL
    markup_bps: int = 0

    def __post_init__(self) -> None:
        if not MIN_QUOTE_TTL <= self.ttl <= MAX_QUOTE_TTL:
            raise ValueError(f"quote ttl must be {MIN_QUOTE_TTL} to {MAX_QUOTE_TTL}: {self.ttl}")
        if not 0 <= self.markup_bps <= MAX_MARKUP_BPS:
            raise ValueError(f"markup must be 0 to {MAX_MARKUP_BPS} bps: {self.markup_bps}")


@dataclass(frozen=True, slots=True)
class QuoteRequest:
    """A merchant's ``GetQuote`` (or a conversion's explicit terms): ``amount_minor`` counts
    the fixed side's currency. ``fixed_side`` is None when the caller sent an unknown value."""

    merchant_id: str
    buy_currency: str
    sell_currency: str
    fixed_side: FixedSide | None
    amount_minor: int

    def terms(self) -> ConversionTerms:
        """The request as the provider port takes it (only after ``check_quote_request``)."""
        assert self.fixed_side is not None
        return ConversionTerms(
            self.buy_currency, self.sell_currency, self.fixed_side, self.amount_minor
        )


def check_quote_request(request: QuoteRequest) -> ConversionTerms:
    """The terms of a well-formed request, or one ValidationFailed with a violation per field."""
    v: list[FieldViolation] = []
    for path, code in (
        ("buy_currency", request.buy_currency),
        ("sell_currency", request.sell_currency),
    ):
        if not is_currency(code) or code in FUND_CODES:
            v.append(FieldViolation(path, "must be an ISO 4217 currency code, not a fund code"))
    if request.buy_currency == request.sell_currency and is_currency(request.buy_currency):
        v.append(FieldViolation("sell_currency", "must differ from buy_currency"))
    if request.fixed_side is None:
        v.append(FieldViolation("fixed_side", "must be buy or sell"))
    else:
        currency = request.terms().amount_currency
        # The currency is checked above under its own name; only the amount is reported here.
        v += [
            x
            for x in amount_violations(request.amount_minor, currency, "amount")
            if x.field == "amount.minor_units"
        ]
    if v:
        raise invalid("invalid quote request", v)
    return request.terms()


@dataclass(frozen=True, slots=True)
class Quote:
    """A priced, time-limited offer to one merchant. Frozen: the rate and amounts are locked."""

    id: str
    merchant_id: str
    buy_currency: str
    sell_currency: str
    fixed_side: FixedSide
    buy_amount_minor: int
    sell_amount_minor: int
    client_rate: str
    """The rate the merchant gets (after markup), exact, in ``currency_pair``'s quoting."""
    provider_rate: str
    """The provider's client rate we priced from (before markup), as quoted."""
    mid_market_rate: str
    currency_pair: str
    markup_bps: int
    created_at: datetime
    expires_at: datetime
    used_by: str = ""
    """The conversion that redeemed it, once one did."""

    @property
    def amount_minor(self) -> int:
        """The fixed side's amount."""
        return self.buy_amount_minor if self.fixed_side is FixedSide.BUY else self.sell_amount_minor

    def terms(self) -> ConversionTerms:
        """What to ask the provider to convert: the fixed side and its amount."""
        return ConversionTerms(
            self.buy_currency, self.sell_currency, self.fixed_side, self.amount_minor
        )

    def is_expired(self, now: datetime) -> bool:
        """True from ``expires_at`` on (the instant itself is already too late)."""
        return now >= self.expires_at

    def error_metadata(self) -> dict[str, str]:
        """What an ErrorInfo about this quote carries."""
        return {
            "quote_id": self.id,
            "expire_time": self.expires_at.isoformat(),
            "buy_currency": self.buy_currency,
            "sell_currency": self.sell_currency,
        }

    def redeem(self, merchant_id: str, conversion_id: str, now: datetime) -> Quote:
        """The quote taken by ``conversion_id``; redeeming again for the same conversion (a
        resumed request) is allowed, for another one refused."""
        if merchant_id != self.merchant_id:
            raise errors.QuoteNotFound(f"quote {self.id} not found", metadata={"quote_id": self.id})
        if self.used_by == conversion_id:
            return self
        if self.used_by:
            raise errors.QuoteAlreadyUsed(
                f"quote {self.id} was used by conversion {self.used_by}",
                metadata=self.error_metadata(),
            )
        if self.is_expired(now):
            raise errors.QuoteExpired(
                f"quote {self.id} expired at {self.expires_at.isoformat()}; ask for a new quote",
                metadata=self.error_metadata(),
            )
        return replace(self, used_by=conversion_id)


def _pair(currency_pair: str, buy: str, sell: str) -> bool:
    """True when the merchant sells the pair's base currency (``GBPUSD`` selling GBP)."""
    if currency_pair == sell + buy:
        return True
    if currency_pair == buy + sell:
        return False
    raise ValueError(f"currency pair {currency_pair!r} is not {buy}/{sell}")


def _rate(text: str) -> Decimal:
    try:
        rate = Decimal(text)
    except InvalidOperation:
        raise ValueError(f"rate {text!r} is not a decimal") from None
    if not rate.is_finite() or rate <= 0:
        raise ValueError(f"rate {text!r} is not a positive decimal")
    return rate


def marked_up_rate(rate: str, currency_pair: str, buy: str, sell: str, markup_bps: int) -> str:
    """``rate`` moved ``markup_bps`` against the merchant, exactly (module docstring)."""
    value = _rate(rate)
    if markup_bps == 0:
        return rate
    sells_base = _pair(currency_pair, buy, sell)
    factor = Decimal(10_000 - markup_bps if sells_base else 10_000 + markup_bps).scaleb(-4)
    with localcontext() as ctx:
        ctx.prec = 100
        ctx.traps[Inexact] = True
        return format((value * factor).normalize(), "f")


def buy_per_sell(rate: str, currency_pair: str, buy: str, sell: str) -> Fraction:
    """Units of ``buy`` per unit of ``sell`` at ``rate`` (quoted in ``currency_pair``), exact."""
    value = Fraction(_rate(rate))
    return value if _pair(currency_pair, buy, sell) else 1 / value


def _scale(buy: str, sell: str) -> Fraction:
    return Fraction(10 ** exponent(buy), 10 ** exponent(sell))


def buy_amount_for_sell(sell_minor: int, price: Fraction, buy: str, sell: str) -> int:
    """Minor units of ``buy`` for ``sell_minor`` of ``sell`` at ``price`` (buy per sell),
    rounded DOWN: the platform never delivers a fraction it did not receive."""
    return math.floor(sell_minor * price * _scale(buy, sell))


def sell_amount_for_buy(buy_minor: int, price: Fraction, buy: str, sell: str) -> int:
    """Minor units of ``sell`` needed for ``buy_minor`` of ``buy`` at ``price``, rounded UP."""
    return math.ceil(buy_minor / (price * _scale(buy, sell)))


def quote_from_rate(
    rate: RateQuote,
    request: QuoteRequest,
    quote_id: str,
    now: datetime,
    policy: QuotePolicy | None = None,
) -> Quote:
    """The merchant's quote from the provider's priced rate (see the module docstring).

    ``rate`` must answer ``request`` (same currencies, fixed side and fixed amount); anything
    else is a broken provider contract and raises ValueError.
    """
    policy = policy or QuotePolicy()
    terms = check_quote_request(request)
    fixed = rate.buy_amount_minor if terms.fixed_side is FixedSide.BUY else rate.sell_amount_minor
    answered = (rate.buy_currency, rate.sell_currency, rate.fixed_side, fixed)
    if answered != (terms.buy_currency, terms.sell_currency, terms.fixed_side, terms.amount_minor):
        raise ValueError(f"the provider's rate does not answer {terms}")
    buy, sell = terms.buy_currency, terms.sell_currency
    client_rate = marked_up_rate(rate.client_rate, rate.currency_pair, buy, sell, policy.markup_bps)
    price = buy_per_sell(client_rate, rate.currency_pair, buy, sell)
    if terms.fixed_side is FixedSide.SELL:
        sell_minor = terms.amount_minor
        buy_minor = min(buy_amount_for_sell(sell_minor, price, buy, sell), rate.buy_amount_minor)
        if buy_minor <= 0:
            raise invalid(
                "invalid quote request",
                [FieldViolation("amount.minor_units", f"is too small: it buys no {buy}")],
            )
    else:
        buy_minor = terms.amount_minor
        sell_minor = max(sell_amount_for_buy(buy_minor, price, buy, sell), rate.sell_amount_minor)
    return Quote(
        id=quote_id,
        merchant_id=request.merchant_id,
        buy_currency=buy,
        sell_currency=sell,
        fixed_side=terms.fixed_side,
        buy_amount_minor=buy_minor,
        sell_amount_minor=sell_minor,
        client_rate=client_rate,
        provider_rate=rate.client_rate,
        mid_market_rate=rate.mid_market_rate,
        currency_pair=rate.currency_pair,
        markup_bps=policy.markup_bps,
        created_at=now,
        expires_at=now + policy.ttl,
    )


_DECIMAL = re.compile(r"^([0-9]+)(?:\.([0-9]+))?$")


def minor_from_decimal(text: str, currency: str) -> int:
    """A provider's decimal amount string as minor units of ``currency``, exactly.

    Precision follows the ISO 4217 exponent (JPY 0, USD 2, KWD 3). Trailing zeros beyond it
    are accepted (providers write ``"1000.00"`` for yen), a non-zero digit beyond it is not:
    it would be money we cannot represent. Raises ValueError, naming what is wrong.
    """
    if not is_currency(currency):
        raise ValueError(f"{currency!r} is not an ISO 4217 currency code")
    match = _DECIMAL.match(text)
    if match is None:
        raise ValueError(f"amount {text!r} is not a non-negative decimal string")
    places = exponent(currency)
    whole, fraction = match.group(1), match.group(2) or ""
    if fraction[places:].strip("0"):
        raise ValueError(f"amount {text!r} has more than {places} decimals, {currency}'s precision")
    return int(whole + fraction[:places].ljust(places, "0"))


def decimal_from_minor(amount_minor: int, currency: str) -> str:
    """Minor units as a decimal string with exactly ``currency``'s decimals (1050 USD
    ``"10.50"``, 500 JPY ``"500"``, 1234 KWD ``"1.234"``)."""
    places = exponent(currency)
    sign, digits = ("-" if amount_minor < 0 else ""), str(abs(amount_minor))
    if places == 0:
        return sign + digits
    digits = digits.rjust(places + 1, "0")
    return f"{sign}{digits[:-places]}.{digits[-places:]}"

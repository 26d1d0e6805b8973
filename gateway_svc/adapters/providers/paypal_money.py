"""PayPal's money: decimal strings in major units, with PayPal's own currency list and precision.

The one place PayPal's amounts meet paymesh's minor units. ISO 4217 exponents come from
``svc_kit.currencies``; PayPal's overrides live here only:

- PayPal's REST APIs accept a fixed list of currencies (developer.paypal.com/api/rest/
  reference/currency-codes); anything else is refused before any I/O, as INVALID with
  CURRENCY_NOT_SUPPORTED, so routing can fail over to a provider that takes it.
- HUF and TWD carry two decimals in ISO 4217 but none at PayPal ("This currency does not
  support decimals"); JPY has none in either. An amount in minor units that is not a whole
  number of PayPal's unit (1050 HUF minor units = 10.50 HUF) cannot be sent and is refused
  as INVALID with AMOUNT_INVALID, never rounded: rounding would charge another amount.

No float anywhere: values are built and parsed as digit strings.
"""

from __future__ import annotations

import re

from gateway_svc.domain.providers import DeclineCode, ErrorKind, ProviderError
from svc_kit.currencies import exponent

_TWO_DECIMALS = (
    "AUD BRL CAD CNY CZK DKK EUR HKD ILS MYR MXN NZD NOK PHP PLN GBP RUB SGD SEK CHF THB USD"
)
PAYPAL_DECIMALS: dict[str, int] = {
    **dict.fromkeys(_TWO_DECIMALS.split(" "), 2),
    **dict.fromkeys(("HUF", "JPY", "TWD"), 0),
}
"""Every currency PayPal's REST APIs accept, with the decimals its ``value`` may carry."""

_POW10 = (1, 10, 100, 1000, 10_000)
_VALUE = re.compile(r"^(-?)([0-9]+)(?:\.([0-9]+))?$")


def _shift(currency: str) -> tuple[int, int]:
    """(PayPal's decimals, ISO exponent minus PayPal's decimals) for a currency PayPal takes."""
    decimals = PAYPAL_DECIMALS.get(currency)
    if decimals is None:
        raise ProviderError(
            ErrorKind.INVALID,
            DeclineCode.CURRENCY_NOT_SUPPORTED,
            f"PayPal does not accept {currency}",
            raw_code="CURRENCY_NOT_SUPPORTED",
            sent=False,
        )
    iso = exponent(currency)  # every PayPal currency is in ISO 4217
    assert iso >= decimals, "PayPal never allows more decimals than ISO 4217"
    return decimals, iso - decimals


def to_value(amount_minor: int, currency: str) -> str:
    """Minor units as PayPal's ``value`` string (1050 USD -> ``"10.50"``, 500 JPY -> ``"500"``)."""
    decimals, shift = _shift(currency)
    units, rest = divmod(amount_minor, _POW10[shift])
    if amount_minor <= 0 or rest:
        raise ProviderError(
            ErrorKind.INVALID,
            DeclineCode.AMOUNT_INVALID,
            f"PayPal cannot take {amount_minor} minor units of {currency}"
            + (" (no decimals at PayPal)" if rest else ""),
            raw_code="AMOUNT_INVALID",
            sent=False,
        )
    if decimals == 0:
        return str(units)
    digits = str(units).rjust(decimals + 1, "0")
    return f"{digits[:-decimals]}.{digits[-decimals:]}"


def to_minor(value: object, currency: str) -> int:
    """PayPal's ``value`` string as minor units; a reply we cannot read is UNKNOWN.

    Raised as UNKNOWN because it only happens on a 2xx reply: PayPal acted, we cannot tell how.
    """
    match = _VALUE.match(value) if isinstance(value, str) else None
    if match is None or currency not in PAYPAL_DECIMALS:
        raise unreadable(f"an amount PayPal sent for {currency} is not a decimal string")
    sign, whole, frac = match.group(1), match.group(2), match.group(3) or ""
    iso = exponent(currency)
    if len(frac.rstrip("0")) > iso:
        raise unreadable(f"an amount PayPal sent has more decimals than {currency} allows")
    minor = int(whole + (frac + "0" * iso)[:iso])
    return -minor if sign else minor


def unreadable(message: str) -> ProviderError:
    """The error for a success reply we cannot parse: PayPal acted, the outcome is unknown."""
    return ProviderError(
        ErrorKind.UNKNOWN,
        DeclineCode.UNKNOWN_OUTCOME,
        f"unreadable PayPal reply: {message}",
        raw_code="UNREADABLE_REPLY",
    )

"""Currencycloud's money: decimal strings in major units, in the one place they meet minor units.

ISO 4217 exponents come from ``svc_kit.currencies``; ``CURRENCYCLOUD_DECIMALS`` is where a
currency whose precision differs at Currencycloud goes. None is known to differ: its
reference documents amounts with the currency's own precision (``split_amount_precision``:
"Amount precision is too low for currency GBP"), so the table starts empty and the code
reads it.

- Out: minor units become exactly the currency's number of decimals (1050 USD -> ``"10.50"``,
  500 JPY -> ``"500"``, 1234 KWD -> ``"1.234"``). A non-positive amount is refused before
  any I/O (INVALID, AMOUNT_INVALID): Currencycloud's own minimum is 1 unit of the fixed side.
- In: Currencycloud writes two decimals for most currencies, and its recorded replies show
  ``"0.0"`` and ``"0.00"`` alike, so trailing zeros beyond the exponent are accepted; a
  non-zero digit beyond it, or anything not a decimal string, makes the reply unreadable.
  That can only happen on a 2xx reply, so it is UNKNOWN (Currencycloud acted; we cannot tell
  how), never INVALID.

No float anywhere: values are built and parsed as digit strings.
"""

from __future__ import annotations

import re
from typing import Final

from gateway_svc.domain.providers import DeclineCode, ErrorKind, ProviderError
from svc_kit.currencies import UnknownCurrencyError, exponent

CURRENCYCLOUD_DECIMALS: Final[dict[str, int]] = {}
"""Currencies whose precision at Currencycloud differs from ISO 4217 (none known)."""

_VALUE = re.compile(r"^(-?)([0-9]+)(?:\.([0-9]+))?$")


def decimals(currency: str) -> int:
    """How many decimals Currencycloud's amounts in ``currency`` carry."""
    override = CURRENCYCLOUD_DECIMALS.get(currency)
    if override is not None:
        return override
    try:
        return exponent(currency)
    except UnknownCurrencyError:
        raise ProviderError(
            ErrorKind.INVALID,
            DeclineCode.CURRENCY_NOT_SUPPORTED,
            f"{currency!r} is not an ISO 4217 currency",
            raw_code="CURRENCY_NOT_SUPPORTED",
            sent=False,
        ) from None


def to_amount(amount_minor: int, currency: str) -> str:
    """Minor units as Currencycloud's amount string (see the module docstring)."""
    places = decimals(currency)
    if amount_minor <= 0:
        raise ProviderError(
            ErrorKind.INVALID,
            DeclineCode.AMOUNT_INVALID,
            f"an amount must be positive, got {amount_minor} minor units of {currency}",
            raw_code="AMOUNT_INVALID",
            sent=False,
        )
    if places == 0:
        return str(amount_minor)
    digits = str(amount_minor).rjust(places + 1, "0")
    return f"{digits[:-places]}.{digits[-places:]}"


def to_minor(value: object, currency: str) -> int:
    """Currencycloud's amount string as minor units; UNKNOWN when it cannot be read exactly."""
    match = _VALUE.match(value) if isinstance(value, str) else None
    if match is None:
        raise unreadable(f"an amount for {currency} is not a decimal string")
    sign, whole, fraction = match.group(1), match.group(2), match.group(3) or ""
    places = decimals(currency)
    if fraction[places:].strip("0"):
        raise unreadable(f"an amount has more decimals than {currency} allows")
    minor = int(whole + fraction[:places].ljust(places, "0"))
    return -minor if sign else minor


def unreadable(message: str) -> ProviderError:
    """The error for a success reply we cannot parse: Currencycloud acted, the outcome is
    unknown to us."""
    return ProviderError(
        ErrorKind.UNKNOWN,
        DeclineCode.UNKNOWN_OUTCOME,
        f"unreadable Currencycloud reply: {message}",
        raw_code="UNREADABLE_REPLY",
    )

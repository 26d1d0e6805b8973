"""ISO 4217 currencies and their minor-unit exponents: the one table.

Money in paymesh is a whole number of minor units plus a currency code, so
the exponent (how many decimal places a currency's minor unit stands for) is
the only thing that turns 1050 into "10.50". Every service reads it from here.

The table follows ISO 4217 (the list of current codes, amendment 179), not
babel: babel gives IQD two decimals where ISO says three. Providers that
disagree with ISO (Stripe treats some currencies as zero-decimal) keep their
own override in the gateway's provider adapters, never here.

Stdlib only: domain code imports this module.
"""

from __future__ import annotations

from typing import Final

__all__ = ["UnknownCurrencyError", "exponent", "is_currency", "known_currencies"]

# Codes whose minor unit is not a hundredth. Everything listed in _TWO has 2.


def _codes(text: str) -> frozenset[str]:
    return frozenset(text.split())


_ZERO: Final = _codes("BIF CLP DJF GNF ISK JPY KMF KRW PYG RWF UGX UYI VND VUV XAF XOF XPF")
_THREE: Final = _codes("BHD IQD JOD KWD LYD OMR TND")
_FOUR: Final = _codes("CLF UYW")
_TWO: Final = _codes(
    """
    AED AFN ALL AMD ANG AOA ARS AUD AWG AZN BAM BBD BDT BGN BMD BND BOB BOV BRL
    BSD BTN BWP BYN BZD CAD CDF CHE CHF CHW CNY COP COU CRC CUP CVE CZK DKK DOP
    DZD EGP ERN ETB EUR FJD FKP GBP GEL GHS GIP GMD GTQ GYD HKD HNL HTG HUF IDR
    ILS INR IRR JMD KES KGS KHR KPW KYD KZT LAK LBP LKR LRD LSL MAD MDL MGA MKD
    MMK MNT MOP MRU MUR MVR MWK MXN MXV MYR MZN NAD NGN NIO NOK NPR NZD PAB PEN
    PGK PHP PKR PLN QAR RON RSD RUB SAR SBD SCR SDG SEK SGD SHP SLE SOS SRD SSP
    STN SVC SYP SZL THB TJS TMT TOP TRY TTD TWD TZS UAH USD USN UYU UZS VED VES
    WST XCD XCG YER ZAR ZMW ZWG
    """
)

_EXPONENTS: Final[dict[str, int]] = {
    **dict.fromkeys(_TWO, 2),
    **dict.fromkeys(_ZERO, 0),
    **dict.fromkeys(_THREE, 3),
    **dict.fromkeys(_FOUR, 4),
}


class UnknownCurrencyError(ValueError):
    """Raised by `exponent` for a code that is not a current ISO 4217 currency."""


def is_currency(code: str) -> bool:
    """True when `code` is a current ISO 4217 alphabetic code (upper case)."""
    return code in _EXPONENTS


def exponent(code: str) -> int:
    """The number of decimal places of `code`'s minor unit (USD 2, JPY 0, KWD 3)."""
    try:
        return _EXPONENTS[code]
    except KeyError:
        raise UnknownCurrencyError(f"{code!r} is not an ISO 4217 currency code") from None


def known_currencies() -> frozenset[str]:
    """Every code in the table."""
    return frozenset(_EXPONENTS)

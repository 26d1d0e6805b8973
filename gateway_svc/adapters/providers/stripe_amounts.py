"""Minor units (ISO 4217) <-> Stripe's amount integers, in one place.

Stripe takes amounts as integers in "the currency's smallest unit", but its idea of that unit
differs from ISO 4217 for a few currencies (https://stripe.com/docs/currencies):

- MGA is two-decimal in ISO but zero-decimal at Stripe: 1 ariary is ``100`` minor units here
  and ``1`` at Stripe, and an amount with a fraction of an ariary cannot be sent.
- ISK is zero-decimal in ISO but two-decimal at Stripe "for backwards compatibility"; since
  April 2023 the Stripe amount must be a multiple of 100 (whole krónur), which it always is
  once multiplied here.
- The three-decimal currencies (BHD JOD KWD OMR TND) match ISO, but Stripe requires the last
  digit to be 0.
- HUF and TWD are zero-decimal at Stripe for payouts only; charges are two-decimal like ISO, so
  they need nothing here. UGX is zero-decimal in both (its Stripe "special case" concerns
  payouts too).

An amount that cannot be represented raises ``ProviderError(INVALID, AMOUNT_INVALID)`` with
``sent=False``: it is refused before any I/O, and another provider may take it. Fees come back
in Stripe units and are converted with rounding half up when Stripe's unit is finer.
"""

from __future__ import annotations

from gateway_svc.domain.providers import DeclineCode, ErrorKind, ProviderError
from svc_kit.currencies import UnknownCurrencyError, exponent

STRIPE_EXPONENT_OVERRIDES: dict[str, int] = {"MGA": 0, "ISK": 2}
"""Stripe's exponent where it differs from ISO 4217's."""

STRIPE_STEP: dict[str, int] = {
    "BHD": 10,
    "JOD": 10,
    "KWD": 10,
    "OMR": 10,
    "TND": 10,
    "ISK": 100,
}
"""Stripe amounts in these currencies must be multiples of the step (in Stripe units)."""

STRIPE_ZERO_DECIMAL = frozenset(
    {"BIF", "CLP", "DJF", "GNF", "JPY", "KMF", "KRW", "MGA", "PYG", "RWF", "UGX", "VND", "VUV"}
    | {"XAF", "XOF", "XPF"}
)
"""Stripe's published zero-decimal list; ``stripe_exponent`` gives 0 for exactly these among
the currencies Stripe charges in (a unit test holds the table to it)."""


def _iso_exponent(currency: str) -> int:
    try:
        return exponent(currency)
    except UnknownCurrencyError:
        raise ProviderError(
            ErrorKind.INVALID,
            DeclineCode.CURRENCY_NOT_SUPPORTED,
            f"{currency!r} is not an ISO 4217 currency",
            sent=False,
        ) from None


def stripe_exponent(currency: str) -> int:
    """How many decimals Stripe's amount integer has for ``currency`` (upper-case ISO)."""
    return STRIPE_EXPONENT_OVERRIDES.get(currency, _iso_exponent(currency))


def to_stripe(amount_minor: int, currency: str) -> int:
    """The Stripe amount for ``amount_minor`` ISO minor units; refused if not representable."""
    iso = _iso_exponent(currency)
    shift = stripe_exponent(currency) - iso
    if shift >= 0:
        value = amount_minor * _pow10(shift)
    else:
        factor = _pow10(-shift)
        if amount_minor % factor:
            raise _not_representable(amount_minor, currency, f"whole multiples of {factor}")
        value = amount_minor // factor
    step = STRIPE_STEP.get(currency, 1)
    if value % step:
        unit = step // _pow10(max(0, shift)) or 1
        raise _not_representable(amount_minor, currency, f"multiples of {unit} minor units")
    return value


def from_stripe(value: int, currency: str) -> int:
    """ISO minor units for a Stripe amount (exact for amounts; fees round half up)."""
    shift = stripe_exponent(currency) - _iso_exponent(currency)
    if shift <= 0:
        return value * _pow10(-shift)
    factor = _pow10(shift)
    return (value + factor // 2) // factor


def _pow10(n: int) -> int:
    # int ** int is typed Any (a negative power is a float); exponents here are 0..4.
    result = 1
    for _ in range(n):
        result *= 10
    return result


def _not_representable(amount_minor: int, currency: str, rule: str) -> ProviderError:
    return ProviderError(
        ErrorKind.INVALID,
        DeclineCode.AMOUNT_INVALID,
        f"Stripe cannot take {amount_minor} {currency} minor units: it takes {rule}",
        sent=False,
    )

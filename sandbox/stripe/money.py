"""Which currencies and amounts the simulated Stripe accepts, and the fee it reports.

Amounts on Stripe's wire are integers in Stripe's idea of the currency's smallest unit, which
is ISO 4217's except where Stripe says otherwise (https://stripe.com/docs/currencies):

- zero-decimal (amount is whole units): BIF CLP DJF GNF JPY KMF KRW MGA PYG RWF UGX VND VUV
  XAF XOF XPF. MGA is two-decimal in ISO but zero-decimal at Stripe.
- three-decimal: BHD JOD KWD OMR TND, and the last digit must be 0 (``invalid_charge_amount``).
- ISK is zero-decimal in ISO but two-decimal at Stripe "for backwards compatibility", and
  since April 2023 the amount must be a multiple of 100
  (``invalid_charge_amount_no_decimal_compatible``, Stripe's support article).
- HUF and TWD are zero-decimal at Stripe for payouts only; charges stay two-decimal, so no
  rule applies here.

Minimum charge amounts (``amount_too_small``) follow Stripe's published table for the major
currencies (USD/EUR 0.50, GBP 0.30 ...); other currencies only need a positive amount, a
simplification. The maximum is Stripe's eight digits (``amount_too_large``).

The fee (on ``balance_transaction.fee``) is a documented simulation, not Stripe's pricing:
2.9% of the captured amount rounded half up, plus 30 units, in the charge's currency.
"""

from __future__ import annotations

from sandbox.stripe.errors import invalid


def _codes(text: str) -> frozenset[str]:
    return frozenset(text.split())


ZERO_DECIMAL = _codes("bif clp djf gnf jpy kmf krw mga pyg rwf ugx vnd vuv xaf xof xpf")
THREE_DECIMAL = _codes("bhd jod kwd omr tnd")
SUPPORTED = (
    _codes(
        """
        usd aed afn all amd ang aoa ars aud awg azn bam bbd bdt bgn bmd bnd bob brl bsd bwp
        byn bzd cad cdf chf cny cop crc cve czk dkk dop dzd egp etb eur fjd fkp gbp gel gip
        gmd gtq gyd hkd hnl htg huf idr ils inr isk jmd kes kgs khr kyd kzt lak lbp lkr lrd
        lsl mad mdl mkd mmk mnt mop mur mvr mwk mxn myr mzn nad ngn nio nok npr nzd pab pen
        pgk php pkr pln qar ron rsd rub sar sbd scr sek sgd shp sle sos srd szl thb tjs top
        try ttd twd tzs uah uyu uzs wst xcd yer zar zmw
        """
    )
    | ZERO_DECIMAL
    | THREE_DECIMAL
)
MINIMUM = {
    "usd": 50,
    "eur": 50,
    "gbp": 30,
    "cad": 50,
    "aud": 50,
    "chf": 50,
    "nzd": 50,
    "sgd": 50,
    "jpy": 50,
    "inr": 50,
}
MAXIMUM = 99_999_999
FEE_PER_MILLE = 29
FEE_FIXED = 30


def check_currency(value: str) -> str:
    """A lower-case currency Stripe accepts, else Stripe's ``Invalid currency`` refusal."""
    if value not in SUPPORTED:
        raise invalid(
            f"Invalid currency: {value}. Stripe currently supports these currencies: "
            + ", ".join(sorted(SUPPORTED)),
            param="currency",
        )
    return value


def check_amount(amount: int, currency: str, *, param: str = "amount") -> None:
    """Refuse an amount Stripe would refuse for ``currency`` (see the module docstring)."""
    if amount < MINIMUM.get(currency, 1):
        minimum = MINIMUM.get(currency, 1)
        raise invalid(
            f"Amount must be at least {minimum} {currency}", param=param, code="amount_too_small"
        )
    if amount > MAXIMUM:
        raise invalid(
            f"Amount must be no more than {MAXIMUM} {currency}",
            param=param,
            code="amount_too_large",
        )
    check_granularity(amount, currency, param=param)


def check_granularity(amount: int, currency: str, *, param: str = "amount") -> None:
    """The last-digit rules of three-decimal currencies and ISK."""
    if currency in THREE_DECIMAL and amount % 10:
        raise invalid(
            f"Invalid amount: {currency.upper()} is a three-decimal currency and the amount's "
            "last digit must be 0.",
            param=param,
            code="invalid_charge_amount",
        )
    if currency == "isk" and amount % 100:
        raise invalid(
            "Invalid amount. Currency ISK has become effectively zero-decimal and charged "
            "amounts must be evenly divisible by 100. See "
            "https://stripe.com/docs/currencies#special-cases for more information.",
            param=param,
            code="invalid_charge_amount_no_decimal_compatible",
        )


def fee_of(amount: int) -> int:
    """The simulated processing fee for ``amount`` captured (2.9% half up, plus 30)."""
    return (amount * FEE_PER_MILLE + 500) // 1000 + FEE_FIXED

"""Card numbers without keeping them: Luhn, brand, test-card detection, the stored summary.

PCI DSS 4.0.1 lets us keep at most the brand, the last four digits and the expiry, and never a
CVC; ``summarize`` is the only way a card enters a payment. No function here puts a number or
a CVC into a message, so a ``FieldViolation`` or a log line built from one leaks nothing.

The test numbers are the providers' published ones (providers.md, Stripe's "Testing" page,
Authorize.net's "Testing Guide"). They are refused for live providers: a test number sent to a
production account is either a mistake or someone probing, and real providers decline it
anyway after charging us a fee.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from datetime import date
from enum import StrEnum

from svc_kit.faults import FieldViolation

from .errors import TestCardNotAllowed
from .providers import Card


class CardBrand(StrEnum):
    """Card networks we recognise by prefix (ISO/IEC 7812 issuer identification numbers)."""

    VISA = "visa"
    MASTERCARD = "mastercard"
    AMEX = "amex"
    DISCOVER = "discover"
    DINERS = "diners"
    JCB = "jcb"
    UNIONPAY = "unionpay"
    UNKNOWN = "unknown"


_STRIPE_TEST_CARDS = """
    4242424242424242 4000056655665556 5555555555554444 2223003122003222 5200828282828210
    5105105105105100 378282246310005 371449635398431 6011111111111117 6011000990139424
    6011981111111113 3056930009020004 36227206271667 3566002020360505 6200000000000005
    4000000000000002 4000000000009995 4000000000009987 4000000000009979 4000000000000069
    4000000000000127 4000000000000119 4000000000000101 4000000000000341 4100000000000019
    4000000000000259 4000002500003155 4000002760003184 4000000000003220 4000000000003063
    4000000000000077 4000000000000093 4000000000000010 4000000000000028 4000000000000036
"""
_AUTHORIZENET_TEST_CARDS = """
    4111111111111111 5424000000000015 370000000000002 4007000000027 4012888818888
    2223000010309703 2223000010309711 6011000000000012 3088000000000017 38000000000006
"""

TEST_CARD_NUMBERS: frozenset[str] = frozenset(
    (_STRIPE_TEST_CARDS + _AUTHORIZENET_TEST_CARDS).split()
)
"""Every published test card number of the providers we speak to."""

_DIGITS = re.compile(r"^[0-9]{12,19}$")
_CVC = re.compile(r"^[0-9]{3,4}$")
# Expiry more than 20 years ahead is not issued by any network; it is a typo or a probe.
_MAX_EXPIRY_YEARS = 20


def luhn_ok(number: str) -> bool:
    """The Luhn (mod 10) check every real card number passes; False for non-digits."""
    if not _DIGITS.match(number):
        return False
    total = 0
    for i, ch in enumerate(reversed(number)):
        digit = int(ch)
        if i % 2:
            digit = digit * 2 - 9 if digit > 4 else digit * 2
        total += digit
    return total % 10 == 0


def _in_range(prefix: str, low: int, high: int) -> bool:
    return prefix.isdigit() and low <= int(prefix) <= high


def brand_of(number: str) -> CardBrand:
    """The network from the leading digits; UNKNOWN when no range matches."""
    if number.startswith("4"):
        return CardBrand.VISA
    if _in_range(number[:2], 51, 55) or _in_range(number[:4], 2221, 2720):
        return CardBrand.MASTERCARD
    if number[:2] in {"34", "37"}:
        return CardBrand.AMEX
    if number.startswith(("6011", "65")) or _in_range(number[:3], 644, 649):
        return CardBrand.DISCOVER
    if _in_range(number[:3], 300, 305) or number[:2] in {"36", "38", "39"}:
        return CardBrand.DINERS
    if _in_range(number[:4], 3528, 3589) or number.startswith("3088"):
        return CardBrand.JCB
    if number.startswith("62"):
        return CardBrand.UNIONPAY
    return CardBrand.UNKNOWN


def is_test_card(number: str) -> bool:
    """True for a provider's published test number (spaces and dashes ignored)."""
    return normalize_number(number) in TEST_CARD_NUMBERS


def ensure_allowed(card: Card, sandbox: bool, provider: str = "") -> None:
    """Refuse a published test number for a live provider (``sandbox`` False).

    Routing uses ``is_test_card`` to skip live providers (``test_card_live_mode``); this is
    the last check before a call, and the error when no sandbox provider is left.
    """
    if sandbox or not is_test_card(card.number):
        return
    raise TestCardNotAllowed(
        "a test card number cannot be charged by a live provider",
        metadata={"provider": provider, "brand": brand_of(normalize_number(card.number))},
        violations=[
            FieldViolation("payment_method.card.number", "is a test card; use a sandbox provider")
        ],
    )


def normalize_number(number: str) -> str:
    """The number without the spaces and dashes people type between digit groups."""
    return number.replace(" ", "").replace("-", "")


@dataclass(frozen=True, slots=True)
class CardSummary:
    """All of a card a payment may keep (PCI DSS): brand, last four digits, expiry."""

    brand: CardBrand
    last4: str
    exp_month: int
    exp_year: int


def summarize(card: Card) -> CardSummary:
    """The storable summary of a card; the number and CVC stay behind."""
    number = normalize_number(card.number)
    return CardSummary(brand_of(number), number[-4:], card.exp_month, card.exp_year)


def card_violations(card: Card, today: date, path: str) -> list[FieldViolation]:
    """One violation per bad card field under ``path`` (``payment_method.card``).

    Messages describe the rule only, never the value: the value is a PAN or a CVC.
    """
    out: list[FieldViolation] = []
    number = normalize_number(card.number)
    if not _DIGITS.match(number):
        out.append(FieldViolation(f"{path}.number", "must be 12 to 19 digits"))
    elif not luhn_ok(number):
        out.append(FieldViolation(f"{path}.number", "is not a valid card number (Luhn check)"))
    if not 1 <= card.exp_month <= 12:
        out.append(FieldViolation(f"{path}.exp_month", "must be 1 to 12"))
    if not today.year <= card.exp_year <= today.year + _MAX_EXPIRY_YEARS:
        out.append(
            FieldViolation(f"{path}.exp_year", f"must be this year to {_MAX_EXPIRY_YEARS} ahead")
        )
    elif 1 <= card.exp_month <= 12 and (card.exp_year, card.exp_month) < (today.year, today.month):
        out.append(FieldViolation(f"{path}.exp_month", "the card has expired"))
    out += _cvc_violations(card.cvc, brand_of(number), path)
    return out


def _cvc_violations(cvc: str, brand: CardBrand, path: str) -> list[FieldViolation]:
    # American Express prints a four-digit CID on the front; every other network three.
    want = 4 if brand is CardBrand.AMEX else 3
    if not _CVC.match(cvc) or len(cvc) != want:
        return [FieldViolation(f"{path}.cvc", f"must be {want} digits")]
    return []

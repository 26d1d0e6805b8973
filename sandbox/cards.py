"""The test cards every simulator honours, and what each one does.

Stripe documents one card number per outcome; the other providers document fewer (Authorize.net
a handful of approving numbers plus magic ZIP codes; Razorpay and PayPal almost none), so every
simulator accepts this one table, keyed by card number, in addition to its provider's own
documented test values. A test can then ask each provider for "insufficient funds" the same way.

Numbers outside the table that pass the Luhn check succeed (the providers' sandboxes accept any
valid test number); numbers that fail Luhn are refused as an incorrect number.
"""

from __future__ import annotations

from dataclasses import dataclass
from enum import StrEnum


class Outcome(StrEnum):
    """What a simulated authorization does."""

    SUCCESS = "success"
    GENERIC_DECLINE = "generic_decline"
    INSUFFICIENT_FUNDS = "insufficient_funds"
    LOST_CARD = "lost_card"
    STOLEN_CARD = "stolen_card"
    EXPIRED_CARD = "expired_card"
    INCORRECT_CVC = "incorrect_cvc"
    PROCESSING_ERROR = "processing_error"
    REQUIRES_3DS = "requires_3ds"
    INCORRECT_NUMBER = "incorrect_number"


@dataclass(frozen=True, slots=True)
class TestCard:
    """One documented test card."""

    number: str
    brand: str
    outcome: Outcome
    stripe_token: str = ""
    """Stripe's ``pm_card_*`` test PaymentMethod for the same outcome, when it has one."""


CARDS: tuple[TestCard, ...] = (
    TestCard("4242424242424242", "visa", Outcome.SUCCESS, "pm_card_visa"),
    TestCard("5555555555554444", "mastercard", Outcome.SUCCESS, "pm_card_mastercard"),
    TestCard("4111111111111111", "visa", Outcome.SUCCESS),
    TestCard("5424000000000015", "mastercard", Outcome.SUCCESS),
    TestCard("370000000000002", "amex", Outcome.SUCCESS),
    TestCard("4000000000000002", "visa", Outcome.GENERIC_DECLINE, "pm_card_chargeDeclined"),
    TestCard(
        "4000000000009995",
        "visa",
        Outcome.INSUFFICIENT_FUNDS,
        "pm_card_chargeDeclinedInsufficientFunds",
    ),
    TestCard("4000000000009987", "visa", Outcome.LOST_CARD, "pm_card_chargeDeclinedLostCard"),
    TestCard("4000000000009979", "visa", Outcome.STOLEN_CARD, "pm_card_chargeDeclinedStolenCard"),
    TestCard("4000000000000069", "visa", Outcome.EXPIRED_CARD, "pm_card_chargeDeclinedExpiredCard"),
    TestCard(
        "4000000000000127", "visa", Outcome.INCORRECT_CVC, "pm_card_chargeDeclinedIncorrectCvc"
    ),
    TestCard(
        "4000000000000119",
        "visa",
        Outcome.PROCESSING_ERROR,
        "pm_card_chargeDeclinedProcessingError",
    ),
    TestCard("4000002500003155", "visa", Outcome.REQUIRES_3DS, "pm_card_threeDSecure2Required"),
)

BY_NUMBER: dict[str, TestCard] = {card.number: card for card in CARDS}
BY_TOKEN: dict[str, TestCard] = {card.stripe_token: card for card in CARDS if card.stripe_token}


def luhn_ok(number: str) -> bool:
    """The Luhn (mod 10) check every card number passes."""
    if not number.isdigit() or not 12 <= len(number) <= 19:
        return False
    total = 0
    for i, ch in enumerate(reversed(number)):
        digit = int(ch)
        if i % 2:
            digit = digit * 2 - 9 if digit > 4 else digit * 2
        total += digit
    return total % 10 == 0


def outcome_of(number: str) -> Outcome:
    """What authorizing this card number does in every simulator."""
    card = BY_NUMBER.get(number)
    if card is not None:
        return card.outcome
    return Outcome.SUCCESS if luhn_ok(number) else Outcome.INCORRECT_NUMBER


def brand_of(number: str) -> str:
    """A card brand from the number's leading digits (enough for test cards)."""
    if number.startswith("4"):
        return "visa"
    if number[:2] in {"51", "52", "53", "54", "55"} or number[:4] in {"2221", "2720"}:
        return "mastercard"
    if number[:2] in {"34", "37"}:
        return "amex"
    return "unknown"

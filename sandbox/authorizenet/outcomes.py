"""What the simulated processor answers for a card: the response reason code.

Sources, checked in this order (each earlier one wins):

1. the card itself: a number failing Luhn -> 6 "The credit card number is invalid."; an
   expiration date the gateway cannot parse -> 7; one in the past -> 8 "The credit card has
   expired."; a brand the sandbox merchant does not accept -> 17;
2. Authorize.net's documented sandbox triggers: card 4222222222222 answers with the reason code
   equal to the amount in dollars (27.00 -> 27, the testing guide's way to produce any decline);
   billing ZIP 46282 -> 2 (general decline); card code 901 -> cvvResultCode N, which the sandbox
   merchant's card-code filter declines with 65;
3. the shared test cards of sandbox.cards, mapped to the reason codes Authorize.net really uses.
   Authorize.net reports less than Stripe: insufficient funds is a general decline (2), and lost
   and stolen are both 4 ("pick up card"). An incorrect CVC is 44 (declined by the processor),
   a processing error 19 ("Please try again in 5 minutes"). 3DS has no card equivalent in this
   API; the 3DS card answers with response code 5 / reason 2000 "Need payer consent." and a
   ``secureAcceptance`` URL, the shape the real API uses for PayPal payer approval.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from datetime import UTC, datetime
from decimal import Decimal
from typing import Final

from sandbox.authorizenet import codes
from sandbox.cards import BY_TOKEN, Outcome, brand_of, luhn_ok, outcome_of

REASON_BY_AMOUNT_CARD: Final = "4222222222222"
DECLINING_ZIP: Final = "46282"
MISMATCHED_CARD_CODE: Final = "901"

_OUTCOME_REASONS: Final[dict[Outcome, int]] = {
    Outcome.SUCCESS: 1,
    Outcome.GENERIC_DECLINE: 2,
    Outcome.INSUFFICIENT_FUNDS: 2,
    Outcome.LOST_CARD: 4,
    Outcome.STOLEN_CARD: 4,
    Outcome.EXPIRED_CARD: 8,
    Outcome.INCORRECT_CVC: 44,
    Outcome.PROCESSING_ERROR: 19,
    Outcome.REQUIRES_3DS: 2000,
    Outcome.INCORRECT_NUMBER: 6,
}
_AMOUNT_TRIGGERED: Final = frozenset(
    reason
    for reason, (response, _) in codes.REASONS.items()
    if response in (codes.DECLINED, codes.HELD)
) | {19, 20, 21, 22, 23, 35}
_CARD_TYPES: Final = {"visa": "Visa", "mastercard": "MasterCard", "amex": "AmericanExpress"}
_EXPIRY_FORMATS: Final = (
    re.compile(r"(?P<year>\d{4})-(?P<month>\d{2})"),
    re.compile(r"(?P<month>\d{2})[/-]?(?P<year>\d{2}|\d{4})"),
)
OPAQUE_DEFAULT_CARD: Final = "4111111111111111"
"""The card an Accept.js nonce stands for when it is not one of sandbox.cards' tokens."""


@dataclass(frozen=True, slots=True)
class CardInput:
    """The card fields of a request (never logged, never stored past the request)."""

    number: str
    expiration: str
    code: str


@dataclass(frozen=True, slots=True)
class Decision:
    """The processor's answer: a reason code, and the AVS and card-code result letters."""

    reason: int
    card_type: str
    avs: str = "Y"
    cvv: str = ""


def card_type_of(number: str) -> str:
    """Authorize.net's accountType word for a number ("" when the brand is not accepted)."""
    brand = _CARD_TYPES.get(brand_of(number))
    if brand is not None:
        return brand
    if number.startswith(("6011", "65")):
        return "Discover"
    if number.startswith("35"):
        return "JCB"
    if number.startswith(("30", "36", "38")):
        return "DinersClub"
    return ""


def card_for_token(token: str) -> str:
    """The test card number an Accept.js nonce (``opaqueData.dataValue``) stands for."""
    card = BY_TOKEN.get(token)
    return card.number if card is not None else OPAQUE_DEFAULT_CARD


def expiry_is_past(expiration: str, now: datetime | None = None) -> bool | None:
    """True when the card has expired, False when not, None when the date is unreadable."""
    for pattern in _EXPIRY_FORMATS:
        match = pattern.fullmatch(expiration)
        if match is None:
            continue
        month = int(match["month"])
        year = int(match["year"])
        year += 2000 if year < 100 else 0
        if not 1 <= month <= 12:
            return None
        today = now or datetime.now(UTC)
        return (year, month) < (today.year, today.month)
    return None


def decide(card: CardInput, amount: Decimal, zip_code: str) -> Decision:
    """The reason code for authorizing ``amount`` (major units) on ``card``."""
    number = card.number
    if not luhn_ok(number):
        return Decision(6, "")
    expired = expiry_is_past(card.expiration)
    if expired is None:
        return Decision(7, "")
    if expired:
        return Decision(8, "")
    card_type = card_type_of(number)
    if not card_type:
        return Decision(17, "")
    cvv = "M" if card.code else ""
    if number == REASON_BY_AMOUNT_CARD and amount == amount.to_integral_value():
        triggered = int(amount)
        if triggered in _AMOUNT_TRIGGERED:
            return Decision(triggered, card_type, cvv=cvv)
    if zip_code == DECLINING_ZIP:
        return Decision(2, card_type, avs="N", cvv=cvv)
    if card.code == MISMATCHED_CARD_CODE:
        return Decision(65, card_type, cvv="N")
    reason = _OUTCOME_REASONS[outcome_of(number)]
    if reason == 44:
        cvv = "N"
    return Decision(reason, card_type, cvv=cvv)
